//! The table of what the ARM double simulates: resource types, their api-versions, operations.
//!
//! Adding a resource type is adding rows here (and, if it needs new behaviour, an [`OpKind`]).
//! Paths and api-versions follow the REST specifications in `Azure/azure-rest-api-specs`
//! (`specification/<service>/resource-manager/<namespace>/stable/<version>/`).

/// The stable api-versions each resource provider type accepts. Child types share their
/// top-level type's versions, as they do in the specifications. Types not listed here (seeded
/// with `put_resource` and only read) accept any well-formed api-version.
pub(crate) const API_VERSIONS: &[(&str, &[&str])] = &[
    // logic/resource-manager/Microsoft.Logic/stable/{2016-06-01,2019-05-01}/logic.json
    ("Microsoft.Logic/workflows", &["2016-06-01", "2019-05-01"]),
    // web/resource-manager/Microsoft.Web/stable/<version>/WebApps.json
    ("Microsoft.Web/sites", &["2022-03-01", "2023-01-01", "2023-12-01", "2024-04-01", "2024-11-01"]),
    // trafficmanager/resource-manager/Microsoft.Network/stable/{2018-08-01,2022-04-01}/trafficmanager.json
    ("Microsoft.Network/trafficManagerProfiles", &["2018-08-01", "2022-04-01"]),
    // cdn/resource-manager/Microsoft.Cdn/stable/<version>/afdx.json (AFDOrigins_*)
    ("Microsoft.Cdn/profiles", &["2023-05-01", "2024-02-01", "2024-09-01", "2025-04-15", "2025-06-01"]),
    // apimanagement/resource-manager/Microsoft.ApiManagement/stable/<version>/apimbackends.json
    // (Pool backends from 2024-05-01 on)
    (
        "Microsoft.ApiManagement/service",
        &[
            "2016-07-07",
            "2016-10-10",
            "2017-03-01",
            "2018-01-01",
            "2019-01-01",
            "2019-12-01",
            "2021-08-01",
            "2022-08-01",
            "2024-05-01",
        ],
    ),
];

/// A resource type the double has operations for.
#[derive(Debug)]
pub(crate) struct ResourceKind {
    /// The type as ARM writes it in `type`, e.g. `Microsoft.Logic/workflows`.
    pub type_name: &'static str,
    pub operations: &'static [Operation],
    /// Answers to a read or write of the resource carry its `ETag`; a PATCH must send it back
    /// as `If-Match` (or `*`), a PUT may; one that no longer matches is refused with 412.
    pub entity_tags: bool,
}

/// One operation on a resource: a method and the path segments after the resource id (`{}`
/// stands for any one segment, such as a run's name).
#[derive(Debug)]
pub(crate) struct Operation {
    pub method: &'static str,
    pub suffix: &'static [&'static str],
    pub kind: OpKind,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum OpKind {
    /// Read the resource.
    Get,
    /// A POST action that sets `properties.<property>` and answers 200 with no body.
    SetProperty { property: &'static str, value: &'static str },
    /// `GET .../workflows/{name}/runs`: newest first, `$filter`, `$top`, `nextLink`.
    ListRuns,
    /// `GET .../workflows/{name}/runs/{run}`.
    GetRun,
    /// `POST .../workflows/{name}/runs/{run}/cancel`.
    CancelRun,
    /// `GET .../workflows/{name}/triggers`.
    ListTriggers,
    /// `GET .../workflows/{name}/triggers/{trigger}`.
    GetTrigger,
    /// `POST .../workflows/{name}/triggers/{trigger}/reset`.
    ResetTrigger,
    /// `POST .../workflows/{name}/triggers/{trigger}/setState`.
    SetTriggerState,
    /// `POST .../sites/{name}/config/appsettings/list`.
    ListAppSettings,
    /// `GET .../sites/{name}/config/appsettings`: there is no such read (405, in XML).
    NoGet,
    /// `GET .../sites/{name}/workflows/{workflow}`: a Logic Apps Standard workflow.
    GetSiteWorkflow,
    /// `GET .../sites/{name}/workflows`: the site's workflows.
    ListSiteWorkflows,
    /// `GET .../sites/{name}/hostruntime/.../workflows/{workflow}/runs`: a Standard workflow's
    /// runs, through the site's host runtime, as `ListRuns`.
    ListSiteRuns,
    /// `GET .../hostruntime/.../workflows/{workflow}/runs/{run}`.
    GetSiteRun,
    /// `POST .../hostruntime/.../workflows/{workflow}/runs/{run}/cancel`.
    CancelSiteRun,
    /// `PUT .../sites/{name}/config/appsettings`: replaces the whole set.
    ReplaceAppSettings,
    /// PATCH: a JSON merge patch. Asynchronous operations answer 202 and change the resource
    /// only once polled to completion, as the real provider does.
    Patch { checks: &'static [EnumCheck], asynchronous: bool },
    /// PUT: replaces (or creates) the resource.
    Put { checks: &'static [EnumCheck] },
}

impl OpKind {
    /// Whether the operation changes the resource itself (and so waits for any operation on it).
    pub fn writes(self) -> bool {
        matches!(
            self,
            OpKind::SetProperty { .. } | OpKind::ReplaceAppSettings | OpKind::Patch { .. } | OpKind::Put { .. }
        )
    }
}

/// A property under `properties` that only takes some values.
#[derive(Debug)]
pub(crate) struct EnumCheck {
    pub property: &'static str,
    pub allowed: &'static [&'static str],
}

const ENABLED_OR_DISABLED: &[&str] = &["Enabled", "Disabled"];

const ENDPOINT_STATUS: &[EnumCheck] = &[EnumCheck { property: "endpointStatus", allowed: ENABLED_OR_DISABLED }];

const ORIGIN_STATE: &[EnumCheck] = &[EnumCheck { property: "enabledState", allowed: ENABLED_OR_DISABLED }];

/// The first segment of a Logic Apps Standard site's host runtime API under the site.
const HR: &str = "hostruntime";
const BACKEND_TYPE: &[EnumCheck] = &[EnumCheck { property: "type", allowed: &["Single", "Pool"] }];

const fn op(method: &'static str, suffix: &'static [&'static str], kind: OpKind) -> Operation {
    Operation { method, suffix, kind }
}

const TRAFFIC_MANAGER_ENDPOINT: &[Operation] = &[
    op("GET", &[], OpKind::Get),
    op("PATCH", &[], OpKind::Patch { checks: ENDPOINT_STATUS, asynchronous: false }),
    op("PUT", &[], OpKind::Put { checks: ENDPOINT_STATUS }),
];

/// The API Management backend type, which has its own body rules (`pool.services`).
pub(crate) const API_MANAGEMENT_BACKENDS: &str = "Microsoft.ApiManagement/service/backends";

pub(crate) const KINDS: &[ResourceKind] = &[
    // Logic Apps (Consumption): Workflows_Get, Workflows_Disable, Workflows_Enable (both 200
    // only), WorkflowRuns_List, WorkflowRuns_Get, WorkflowRuns_Cancel, WorkflowTriggers_List,
    // WorkflowTriggers_Get, WorkflowTriggers_Reset, WorkflowTriggers_SetState.
    ResourceKind {
        type_name: "Microsoft.Logic/workflows",
        operations: &[
            op("GET", &[], OpKind::Get),
            op("POST", &["disable"], OpKind::SetProperty { property: "state", value: "Disabled" }),
            op("POST", &["enable"], OpKind::SetProperty { property: "state", value: "Enabled" }),
            op("GET", &["runs"], OpKind::ListRuns),
            op("GET", &["runs", "{}"], OpKind::GetRun),
            op("POST", &["runs", "{}", "cancel"], OpKind::CancelRun),
            op("GET", &["triggers"], OpKind::ListTriggers),
            op("GET", &["triggers", "{}"], OpKind::GetTrigger),
            op("POST", &["triggers", "{}", "reset"], OpKind::ResetTrigger),
            op("POST", &["triggers", "{}", "setState"], OpKind::SetTriggerState),
        ],
        entity_tags: false,
    },
    // App Service / Functions / Logic Apps Standard: WebApps_Get, WebApps_Start, WebApps_Stop,
    // WebApps_ListApplicationSettings, WebApps_UpdateApplicationSettings (long-running from
    // 2023-12-01), a site's workflows (WebApps_GetWorkflow, WebApps_ListWorkflows:
    // `flowState`), and a Standard workflow's runs through the host runtime
    // (WorkflowRuns_List, WorkflowRuns_Get, WorkflowRuns_Cancel of Microsoft.Web).
    ResourceKind {
        type_name: "Microsoft.Web/sites",
        operations: &[
            op("GET", &[], OpKind::Get),
            op("POST", &["start"], OpKind::SetProperty { property: "state", value: "Running" }),
            op("POST", &["stop"], OpKind::SetProperty { property: "state", value: "Stopped" }),
            op("POST", &["config", "appsettings", "list"], OpKind::ListAppSettings),
            op("PUT", &["config", "appsettings"], OpKind::ReplaceAppSettings),
            op("GET", &["config", "appsettings"], OpKind::NoGet),
            op("GET", &["workflows", "{}"], OpKind::GetSiteWorkflow),
            op("GET", &["workflows"], OpKind::ListSiteWorkflows),
            op(
                "GET",
                &[HR, "runtime", "webhooks", "workflow", "api", "management", "workflows", "{}", "runs"],
                OpKind::ListSiteRuns,
            ),
            op(
                "GET",
                &[HR, "runtime", "webhooks", "workflow", "api", "management", "workflows", "{}", "runs", "{}"],
                OpKind::GetSiteRun,
            ),
            op(
                "POST",
                &[
                    HR,
                    "runtime",
                    "webhooks",
                    "workflow",
                    "api",
                    "management",
                    "workflows",
                    "{}",
                    "runs",
                    "{}",
                    "cancel",
                ],
                OpKind::CancelSiteRun,
            ),
        ],
        entity_tags: false,
    },
    // Traffic Manager: Endpoints_Get, Endpoints_Update, Endpoints_CreateOrUpdate; the
    // `{endpointType}` path segment is one of these three.
    ResourceKind {
        type_name: "Microsoft.Network/trafficManagerProfiles/azureEndpoints",
        operations: TRAFFIC_MANAGER_ENDPOINT,
        entity_tags: false,
    },
    ResourceKind {
        type_name: "Microsoft.Network/trafficManagerProfiles/externalEndpoints",
        operations: TRAFFIC_MANAGER_ENDPOINT,
        entity_tags: false,
    },
    ResourceKind {
        type_name: "Microsoft.Network/trafficManagerProfiles/nestedEndpoints",
        operations: TRAFFIC_MANAGER_ENDPOINT,
        entity_tags: false,
    },
    // Front Door Standard/Premium: AFDOrigins_Get, AFDOrigins_Update (long-running,
    // `x-ms-long-running-operation-options: azure-async-operation`).
    ResourceKind {
        type_name: "Microsoft.Cdn/profiles/origingroups/origins",
        operations: &[
            op("GET", &[], OpKind::Get),
            op("PATCH", &[], OpKind::Patch { checks: ORIGIN_STATE, asynchronous: true }),
        ],
        entity_tags: false,
    },
    // API Management (stable 2024-05-01, apimbackends.json): Backend_Get (200 with ETag),
    // Backend_CreateOrUpdate (PUT, 200/201, If-Match optional), Backend_Update (PATCH, 200,
    // If-Match required). None of them is long-running (no x-ms-long-running-operation).
    ResourceKind {
        type_name: API_MANAGEMENT_BACKENDS,
        operations: &[
            op("GET", &[], OpKind::Get),
            op("PATCH", &[], OpKind::Patch { checks: BACKEND_TYPE, asynchronous: false }),
            op("PUT", &[], OpKind::Put { checks: BACKEND_TYPE }),
        ],
        entity_tags: true,
    },
];

/// The api-versions accepted for a resource type (any depth, e.g.
/// `Microsoft.Cdn/profiles/origingroups/origins`), if the double knows the type.
pub fn api_versions(resource_type: &str) -> Option<&'static [&'static str]> {
    let mut parts = resource_type.split('/');
    let (namespace, top) = (parts.next()?, parts.next()?);
    API_VERSIONS.iter().find_map(|(known, versions)| {
        let (known_namespace, known_top) = known.split_once('/')?;
        (known_namespace.eq_ignore_ascii_case(namespace) && known_top.eq_ignore_ascii_case(top)).then_some(*versions)
    })
}

/// Whether `version` looks like an ARM api-version: `YYYY-MM-DD` with an optional
/// `-preview`-style suffix.
pub fn well_formed_api_version(version: &str) -> bool {
    let (date, suffix) = match version.split_at_checked(10) {
        Some(parts) => parts,
        None => return false,
    };
    let bytes = date.as_bytes();
    let date_ok = bytes.iter().enumerate().all(|(i, b)| match i {
        4 | 7 => *b == b'-',
        _ => b.is_ascii_digit(),
    });
    let suffix_ok = suffix.is_empty()
        || (suffix.len() > 1 && suffix.starts_with('-') && suffix[1..].chars().all(|c| c.is_ascii_alphanumeric()));
    date_ok && suffix_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_types_share_their_top_level_versions() {
        assert_eq!(api_versions("microsoft.cdn/profiles/origingroups/origins"), api_versions("Microsoft.Cdn/profiles"));
        assert!(api_versions("Microsoft.Storage/storageAccounts").is_none());
    }

    #[test]
    fn api_version_shapes() {
        for (version, ok) in [
            ("2019-05-01", true),
            ("2024-04-01-preview", true),
            ("2019-5-1", false),
            ("2019", false),
            ("latest", false),
            ("2019-05-01-", false),
            ("2019-05-01-pre view", false),
        ] {
            assert_eq!(well_formed_api_version(version), ok, "{version}");
        }
    }

    #[test]
    fn every_kind_has_versions_and_a_read() {
        for kind in KINDS {
            assert!(api_versions(kind.type_name).is_some(), "{}", kind.type_name);
            assert!(kind.operations.iter().any(|op| op.method == "GET" && op.suffix.is_empty()), "{}", kind.type_name);
        }
    }
}
