//! The ARM double, driven over HTTP with tokens from the identity double.

mod support;

use std::time::Duration;

use azure_sim::{ArmDouble, ArmOptions, Fault, Matcher};
use serde_json::json;
use support::{
    client, endpoint, origin, send, site, workflow, Sim, CDN, CLIENT_ID, LOGIC, RG, SUB, TRAFFIC_MANAGER, WEB,
};

fn with_version(id: &str, version: &str) -> String {
    format!("{id}?api-version={version}")
}

#[tokio::test]
async fn unknown_paths_answer_arm_shaped_404s() {
    let sim = Sim::start().await;
    sim.arm.add_logic_app(&workflow("orders"), "Enabled", "westeurope");
    for (method, path) in [
        ("GET", "/".to_owned()),
        ("PUT", "/nothing/here".to_owned()),
        ("POST", format!("{SUB}/resourceGroups")),
        ("GET", format!("{RG}/providers/Microsoft.Logic")),
        ("POST", with_version(&format!("{}/explode", workflow("orders")), LOGIC)),
    ] {
        let reply = sim.call(method, &path, None).await;
        assert_eq!(reply.status, 404, "{method} {path}: {:?}", reply.body);
        assert_eq!(reply.code(), "NotFound", "{method} {path}");
    }
}

#[tokio::test]
async fn requests_need_a_valid_arm_token() {
    let sim = Sim::start().await;
    let id = workflow("orders");
    sim.arm.add_logic_app(&id, "Enabled", "westeurope");
    let path = with_version(&id, LOGIC);
    let storage_token = support::fetch_token(&sim.http, &sim.identity, "https%3A%2F%2Fstorage.azure.com").await;

    let cases = [
        (None, "AuthenticationFailed"),
        (Some("Basic dXNlcjpwYXNz".to_owned()), "AuthenticationFailed"),
        (Some("Bearer".to_owned()), "AuthenticationFailed"),
        (Some("Bearer made-up".to_owned()), "InvalidAuthenticationToken"),
        (Some(format!("Bearer {storage_token}")), "InvalidAuthenticationTokenAudience"),
    ];
    for (authorization, code) in cases {
        let reply = sim.call_as(authorization.as_deref(), "GET", &path, None).await;
        assert_eq!(reply.status, 401, "{authorization:?}");
        assert_eq!(reply.code(), code, "{authorization:?}: {}", reply.message());
        assert!(reply.header("www-authenticate").is_some_and(|h| h.starts_with("Bearer ")), "{authorization:?}");
    }

    assert_eq!(sim.call("GET", &path, None).await.status, 200);
    sim.identity.tokens().expire_all();
    let expired = sim.call("GET", &path, None).await;
    assert_eq!(expired.status, 401);
    assert_eq!(expired.code(), "ExpiredAuthenticationToken");
}

#[tokio::test]
async fn any_bearer_token_is_accepted_without_a_registry() {
    let arm = ArmDouble::start(ArmOptions::default()).await.unwrap();
    let id = workflow("orders");
    arm.add_logic_app(&id, "Enabled", "westeurope");
    let url = format!("{}{}", arm.base_url(), with_version(&id, LOGIC));
    let reply = send(&client(None), Some("Bearer anything"), "GET", &url, None).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(arm.calls()[0].client_id, None);
    let anonymous = send(&client(None), None, "GET", &url, None).await.unwrap();
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn api_versions_are_checked_per_resource_type() {
    let sim = Sim::start().await;
    sim.arm.add_logic_app(&workflow("orders"), "Enabled", "westeurope");
    sim.arm.add_site(&site("orders-std"), "Running");
    sim.arm.add_traffic_manager_endpoint(&endpoint("primary"), "Enabled");
    sim.arm.add_front_door_origin(&origin("primary"), true);
    let storage = format!("{RG}/providers/Microsoft.Storage/storageAccounts/state");
    sim.arm.put_resource(&storage, json!({"location": "westeurope", "properties": {}}));

    let cases: &[(String, Option<&str>, u16, &str)] = &[
        (workflow("orders"), Some(LOGIC), 200, ""),
        (workflow("orders"), Some("2016-06-01"), 200, ""),
        (workflow("orders"), None, 400, "MissingApiVersionParameter"),
        (workflow("orders"), Some(""), 400, "MissingApiVersionParameter"),
        (workflow("orders"), Some("2019"), 400, "InvalidApiVersionParameter"),
        (workflow("orders"), Some(WEB), 400, "NoRegisteredProviderFound"),
        (site("orders-std"), Some(WEB), 200, ""),
        (site("orders-std"), Some("2022-03-01"), 200, ""),
        (site("orders-std"), Some(LOGIC), 400, "NoRegisteredProviderFound"),
        (endpoint("primary"), Some(TRAFFIC_MANAGER), 200, ""),
        (endpoint("primary"), Some("2018-08-01"), 200, ""),
        (endpoint("primary"), Some("2024-04-01-preview"), 400, "NoRegisteredProviderFound"),
        (origin("primary"), Some(CDN), 200, ""),
        (origin("primary"), Some("2024-02-01"), 200, ""),
        (origin("primary"), Some("2021-06-01"), 400, "NoRegisteredProviderFound"),
        // Types the double only reads accept any well-formed version.
        (storage.clone(), Some("2023-05-01"), 200, ""),
        (storage.clone(), Some("yesterday"), 400, "InvalidApiVersionParameter"),
        (storage.clone(), None, 400, "MissingApiVersionParameter"),
    ];
    for (id, version, status, code) in cases {
        let path = match version {
            Some(version) => with_version(id, version),
            None => id.clone(),
        };
        let reply = sim.call("GET", &path, None).await;
        assert_eq!(reply.status, *status, "{path}: {:?}", reply.body);
        assert_eq!(reply.code(), *code, "{path}");
    }

    // The refusal names what would have worked.
    let reply = sim.call("GET", &with_version(&workflow("orders"), "2015-02-01"), None).await;
    assert!(reply.message().contains("2016-06-01, 2019-05-01"), "{}", reply.message());
    let reply = sim.call("GET", &workflow("orders"), None).await;
    assert!(reply.message().contains("2019-05-01"), "{}", reply.message());
    assert_eq!(ArmDouble::supported_api_versions("Microsoft.Logic/workflows"), Some(&["2016-06-01", "2019-05-01"][..]));
}

#[tokio::test]
async fn logic_app_disable_and_enable_change_its_state() {
    let sim = Sim::start().await;
    let id = workflow("orders");
    sim.arm.add_logic_app(&id, "Enabled", "westeurope");

    let got = sim.call("GET", &with_version(&id, LOGIC), None).await;
    assert_eq!(got.body["type"], "Microsoft.Logic/workflows");
    assert_eq!(got.body["location"], "westeurope");
    assert_eq!(got.body["properties"]["state"], "Enabled");

    for (action, state) in [("disable", "Disabled"), ("disable", "Disabled"), ("enable", "Enabled")] {
        let reply = sim.call("POST", &with_version(&format!("{id}/{action}"), LOGIC), None).await;
        assert_eq!(reply.status, 200, "{action}: {:?}", reply.body);
        assert!(reply.body.is_null(), "{action} answers no body");
        assert_eq!(sim.arm.resource(&id).unwrap()["properties"]["state"], state);
        let got = sim.call("GET", &with_version(&id, LOGIC), None).await;
        assert_eq!(got.body["properties"]["state"], state);
    }

    let missing = sim.call("POST", &with_version(&format!("{}/disable", workflow("gone")), LOGIC), None).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.code(), "ResourceNotFound");
}

#[tokio::test]
async fn workflow_runs_are_listed_newest_first_honouring_top() {
    let sim = Sim::start().await;
    let id = workflow("orders");
    sim.arm.add_logic_app(&id, "Enabled", "westeurope");
    sim.arm.add_workflow_runs(&id, &["Failed", "Succeeded", "Succeeded"]);
    sim.arm.add_workflow_runs(&id, &["Running"]);

    let statuses = |reply: &support::Reply| -> Vec<String> {
        reply.body["value"]
            .as_array()
            .expect("value is a list")
            .iter()
            .map(|run| run["properties"]["status"].as_str().unwrap().to_owned())
            .collect()
    };
    let runs = format!("{id}/runs?api-version={LOGIC}");
    let cases = [
        ("", vec!["Running", "Failed", "Succeeded", "Succeeded"]),
        ("&$top=2", vec!["Running", "Failed"]),
        ("&$top=10", vec!["Running", "Failed", "Succeeded", "Succeeded"]),
        ("&$filter=status%20eq%20'Succeeded'", vec!["Succeeded", "Succeeded"]),
    ];
    for (extra, expected) in cases {
        let reply = sim.call("GET", &format!("{runs}{extra}"), None).await;
        assert_eq!(reply.status, 200, "{extra}: {:?}", reply.body);
        assert_eq!(statuses(&reply), expected, "{extra}");
    }

    let all = sim.call("GET", &runs, None).await.body["value"].clone();
    let runs_list = all.as_array().unwrap();
    assert_eq!(runs_list[0]["type"], "Microsoft.Logic/workflows/runs");
    assert!(runs_list[0]["id"].as_str().unwrap().starts_with(&format!("{id}/runs/")));
    assert!(runs_list[0]["properties"].get("endTime").is_none(), "a running run has not ended");
    assert!(runs_list[1]["properties"]["endTime"].is_string());
    let starts: Vec<&str> = runs_list.iter().map(|run| run["properties"]["startTime"].as_str().unwrap()).collect();
    assert!(starts.windows(2).all(|w| w[0] > w[1]), "newest first: {starts:?}");

    for bad in ["&$top=0", "&$top=many", "&$filter=startTime%20gt%202020-01-01"] {
        let reply = sim.call("GET", &format!("{runs}{bad}"), None).await;
        assert_eq!(reply.status, 400, "{bad}");
    }
}

#[tokio::test]
async fn sites_start_stop_and_replace_app_settings() {
    let sim = Sim::start().await;
    let id = site("orders-std");
    sim.arm.add_site(&id, "Running");
    sim.arm.add_site_workflow(&id, "orders");
    sim.arm.set_app_settings(&id, [("Workflows.orders.FlowState", "Enabled"), ("Other", "1")]);
    // Only the site's own workflows exist.
    let unknown = sim.call("GET", &with_version(&format!("{id}/workflows/ordres"), WEB), None).await;
    assert_eq!((unknown.status, unknown.code()), (404, "WorkflowNotFound"));
    let listed = sim.call("GET", &with_version(&format!("{id}/workflows"), WEB), None).await;
    assert_eq!(listed.body["value"][0]["name"], "orders-std/orders", "{:?}", listed.body);

    for (action, state) in [("stop", "Stopped"), ("start", "Running")] {
        let reply = sim.call("POST", &with_version(&format!("{id}/{action}"), WEB), None).await;
        assert_eq!(reply.status, 200, "{action}");
        let got = sim.call("GET", &with_version(&id, WEB), None).await;
        assert_eq!(got.body["properties"]["state"], state, "{action}");
    }

    let list = format!("{id}/config/appsettings/list?api-version={WEB}");
    let listed = sim.call("POST", &list, None).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["id"], format!("{id}/config/appsettings"));
    assert_eq!(listed.body["name"], "appsettings");
    assert_eq!(listed.body["type"], "Microsoft.Web/sites/config");
    assert_eq!(listed.body["properties"]["Workflows.orders.FlowState"], "Enabled");

    // Turning a Logic Apps Standard workflow off: read, change one setting, write the whole set.
    // From 2023-12-01 the write is long-running and restarts the site: 202, then the site takes
    // no other write until it is over, and the workflow runs on until then.
    let mut settings = listed.body["properties"].clone();
    settings["Workflows.orders.FlowState"] = json!("Disabled");
    let put = json!({ "properties": settings }).to_string();
    let settings_url = format!("{id}/config/appsettings?api-version={WEB}");
    let workflow = format!("{id}/workflows/orders?api-version={WEB}");
    let accepted = sim.call("PUT", &settings_url, Some(&put)).await;
    assert_eq!(accepted.status, 202, "{:?}", accepted.body);
    assert!(accepted.header("azure-asyncoperation").is_none(), "the first form: Location alone");
    let location = accepted.header("location").expect("a Location to poll").to_owned();
    let busy = sim.call("PUT", &settings_url, Some(&put)).await;
    assert_eq!(busy.status, 409);
    assert_eq!(busy.body["Code"], "Conflict", "Microsoft.Web's own error shape: {:?}", busy.body);
    assert!(busy.body["Message"].as_str().unwrap().contains("another operation is in progress"));
    assert_eq!(busy.body["Details"][2]["ErrorEntity"]["ExtendedCode"], "59203");
    assert_eq!(sim.call("POST", &with_version(&format!("{id}/stop"), WEB), None).await.status, 409);
    let running = sim.call("GET", &workflow, None).await;
    assert_eq!(running.body["properties"]["flowState"], "Enabled", "not until the restart is over");
    assert_eq!(running.body["type"], "Microsoft.Web/sites/workflows");
    // The operation ends on its own clock, polled or not.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(sim.arm.app_settings(&id).unwrap()["Workflows.orders.FlowState"], "Disabled");
    assert_eq!(sim.call("GET", &workflow, None).await.body["properties"]["flowState"], "Disabled");
    let done = sim.poll(&location).await;
    assert_eq!(done.status, 200);
    assert_eq!(done.body["properties"], settings);
    // The second write comes in the other form: Azure-AsyncOperation and Location.
    let second = sim.call("PUT", &settings_url, Some(&put)).await;
    assert_eq!(second.status, 202);
    assert!(second.header("azure-asyncoperation").is_some());
    tokio::time::sleep(Duration::from_millis(600)).await;

    // There is no read of the settings but the list: a GET is 405, in XML.
    let get = sim.call("GET", &settings_url, None).await;
    assert_eq!(get.status, 405);
    assert!(get.header("content-type").is_some_and(|t| t.starts_with("application/xml")));
    assert!(get.body.as_str().is_some_and(|xml| xml.starts_with("<Error><Message>")), "{:?}", get.body);

    // The set is replaced, not merged. Before 2023-12-01 the write answers 200 and the site
    // restarts after it.
    let older = format!("{id}/config/appsettings?api-version=2022-03-01");
    let only = json!({"properties": {"Only": "this"}}).to_string();
    assert_eq!(sim.call("PUT", &older, Some(&only)).await.status, 200);
    assert_eq!(sim.call("POST", &list, None).await.body["properties"], json!({"Only": "this"}));
    assert_eq!(sim.call("PUT", &older, Some(&only)).await.status, 409, "restarting");
    tokio::time::sleep(Duration::from_millis(600)).await;

    let not_strings = json!({"properties": {"Count": 3}}).to_string();
    let refused = sim.call("PUT", &older, Some(&not_strings)).await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.code(), "InvalidRequestContent");
}

#[tokio::test]
async fn traffic_manager_endpoints_are_patched_and_put() {
    let sim = Sim::start().await;
    let id = endpoint("primary");
    sim.arm.add_traffic_manager_endpoint(&id, "Enabled");
    let path = with_version(&id, TRAFFIC_MANAGER);

    let patch = json!({"properties": {"endpointStatus": "Disabled"}}).to_string();
    let patched = sim.call("PATCH", &path, Some(&patch)).await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(patched.body["type"], "Microsoft.Network/trafficManagerProfiles/azureEndpoints");
    assert_eq!(patched.body["properties"]["endpointStatus"], "Disabled");
    assert_eq!(patched.body["properties"]["target"], "primary.example.net", "merge keeps the rest");
    assert_eq!(sim.arm.resource(&id).unwrap()["properties"]["endpointStatus"], "Disabled");

    let put = json!({"properties": {"endpointStatus": "Enabled", "target": "new.example.net"}}).to_string();
    let replaced = sim.call("PUT", &path, Some(&put)).await;
    assert_eq!(replaced.status, 200);
    assert_eq!(replaced.body["properties"], json!({"endpointStatus": "Enabled", "target": "new.example.net"}));

    let created = sim.call("PUT", &with_version(&endpoint("secondary"), TRAFFIC_MANAGER), Some(&put)).await;
    assert_eq!(created.status, 201);
    assert_eq!(created.body["id"], endpoint("secondary"));
    assert_eq!(created.body["name"], "secondary");

    let invalid = json!({"properties": {"endpointStatus": "Off"}}).to_string();
    let refused = sim.call("PATCH", &path, Some(&invalid)).await;
    assert_eq!(refused.status, 400);
    assert!(refused.message().contains("endpointStatus"), "{}", refused.message());
}

#[tokio::test]
async fn front_door_origin_patch_is_a_long_running_operation() {
    let sim = Sim::start().await;
    let id = origin("primary");
    sim.arm.add_front_door_origin(&id, true);
    let patch = json!({"properties": {"enabledState": "Disabled"}}).to_string();

    let accepted = sim.call("PATCH", &with_version(&id, CDN), Some(&patch)).await;
    assert_eq!(accepted.status, 202, "{:?}", accepted.body);
    assert_eq!(accepted.body["properties"]["enabledState"], "Disabled");
    assert_eq!(accepted.body["properties"]["provisioningState"], "Updating");
    let status_url = accepted.header("azure-asyncoperation").expect("Azure-AsyncOperation").to_owned();
    let location_url = accepted.header("location").expect("Location").to_owned();
    assert!(status_url.starts_with(sim.arm.base_url()));
    assert!(status_url.contains(&format!("api-version={CDN}")));
    assert!(accepted.header("retry-after").is_none());

    // Until the operation is seen to finish, the origin is still serving.
    let during = sim.arm.resource(&id).unwrap();
    assert_eq!(during["properties"]["enabledState"], "Enabled");
    assert_eq!(during["properties"]["provisioningState"], "Updating");

    let first = sim.poll(&status_url).await;
    assert_eq!((first.status, first.body["status"].as_str()), (200, Some("InProgress")));
    // It completes on the service's clock (300 ms here), however often it is polled.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let during_nothing = sim.arm.resource(&id).unwrap();
    assert_eq!(during_nothing["properties"]["enabledState"], "Disabled", "done without a poll");
    let second = sim.poll(&status_url).await;
    assert_eq!((second.status, second.body["status"].as_str()), (200, Some("Succeeded")));
    assert!(second.body["endTime"].is_string());

    let after = sim.arm.resource(&id).unwrap();
    assert_eq!(after["properties"]["enabledState"], "Disabled");
    assert_eq!(after["properties"]["provisioningState"], "Succeeded");

    let result = sim.poll(&location_url).await;
    assert_eq!(result.status, 200);
    assert_eq!(result.body["properties"]["enabledState"], "Disabled");

    let unauthenticated = send(&sim.http, None, "GET", &status_url, None).await.unwrap();
    assert_eq!(unauthenticated.status, 401);
}

#[tokio::test]
async fn accepted_fault_defers_a_change_until_polled_to_completion() {
    let sim = Sim::start_with(ArmOptions { poll_retry_after_secs: Some(1), ..ArmOptions::default() }).await;
    let id = workflow("orders");
    sim.arm.add_logic_app(&id, "Enabled", "westeurope");
    sim.arm.inject(Matcher::new("POST", "/disable"), Fault::Accepted { polls: 2 }, 1);

    // A read does not use the injection up.
    assert_eq!(sim.call("GET", &with_version(&id, LOGIC), None).await.status, 200);
    let accepted = sim.call("POST", &with_version(&format!("{id}/disable"), LOGIC), None).await;
    assert_eq!(accepted.status, 202);
    assert!(accepted.body.is_null());
    assert_eq!(accepted.header("retry-after"), Some("1"));
    let status_url = accepted.header("azure-asyncoperation").unwrap().to_owned();
    let location_url = accepted.header("location").unwrap().to_owned();

    let in_progress = sim.poll(&location_url).await;
    assert_eq!(in_progress.status, 202);
    assert_eq!(in_progress.header("location"), Some(location_url.as_str()));
    assert_eq!(sim.poll(&status_url).await.body["status"], "InProgress");
    assert_eq!(sim.arm.resource(&id).unwrap()["properties"]["state"], "Enabled");

    assert_eq!(sim.poll(&status_url).await.body["status"], "Succeeded");
    assert_eq!(sim.arm.resource(&id).unwrap()["properties"]["state"], "Disabled");
    // An action has no result body.
    assert_eq!(sim.poll(&location_url).await.status, 204);
}

#[tokio::test]
async fn malformed_bodies_are_refused_and_change_nothing() {
    let sim = Sim::start().await;
    sim.arm.add_traffic_manager_endpoint(&endpoint("primary"), "Enabled");
    sim.arm.add_front_door_origin(&origin("primary"), true);
    sim.arm.add_site(&site("orders-std"), "Running");
    let targets = [
        ("PATCH", with_version(&endpoint("primary"), TRAFFIC_MANAGER)),
        ("PUT", with_version(&endpoint("primary"), TRAFFIC_MANAGER)),
        ("PATCH", with_version(&origin("primary"), CDN)),
        ("PUT", format!("{}/config/appsettings?api-version={WEB}", site("orders-std"))),
    ];
    for (method, path) in &targets {
        for body in ["{\"properties\": {", "", "[1, 2]", "not json"] {
            let reply = sim.call(method, path, Some(body)).await;
            assert_eq!(reply.status, 400, "{method} {path} with {body:?}");
            assert_eq!(reply.code(), "InvalidRequestContent", "{method} {path} with {body:?}");
        }
    }
    assert_eq!(sim.arm.resource(&endpoint("primary")).unwrap()["properties"]["endpointStatus"], "Enabled");
    assert_eq!(sim.arm.resource(&origin("primary")).unwrap()["properties"]["provisioningState"], "Succeeded");
}

#[tokio::test]
async fn faults_answer_like_arm_and_change_nothing() {
    let sim = Sim::start().await;
    let id = workflow("orders");
    let disable = with_version(&format!("{id}/disable"), LOGIC);
    let cases = [
        (Fault::Throttle { retry_after_secs: 7 }, 429, "TooManyRequests"),
        (Fault::ServerError, 500, "InternalServerError"),
        (Fault::Conflict, 409, "AnotherOperationInProgress"),
        (Fault::Forbidden, 403, "AuthorizationFailed"),
    ];
    for (fault, status, code) in cases {
        sim.arm.add_logic_app(&id, "Enabled", "westeurope");
        sim.arm.inject(Matcher::new("POST", "/disable"), fault.clone(), 1);

        let reply = sim.call("POST", &disable, None).await;
        assert_eq!(reply.status, status, "{fault:?}");
        assert_eq!(reply.code(), code, "{fault:?}");
        assert!(!reply.message().is_empty(), "{fault:?}");
        assert_eq!(sim.arm.resource(&id).unwrap()["properties"]["state"], "Enabled", "{fault:?}");

        let retried = sim.call("POST", &disable, None).await;
        assert_eq!(retried.status, 200, "{fault:?} lasts one call");
        assert_eq!(sim.arm.resource(&id).unwrap()["properties"]["state"], "Disabled");
    }

    sim.arm.inject(Matcher::any_method("/workflows/"), Fault::Throttle { retry_after_secs: 7 }, 1);
    let throttled = sim.call("GET", &with_version(&id, LOGIC), None).await;
    assert_eq!(throttled.header("retry-after"), Some("7"));

    sim.arm.inject(Matcher::any_method("/workflows/"), Fault::Forbidden, 1);
    let forbidden = sim.call("POST", &disable, None).await;
    assert!(forbidden.message().contains("Microsoft.Logic/workflows/disable/action"), "{}", forbidden.message());
}

#[tokio::test]
async fn faults_last_for_their_count_and_only_match_their_method() {
    let sim = Sim::start().await;
    let id = workflow("orders");
    sim.arm.add_logic_app(&id, "Enabled", "westeurope");
    sim.arm.inject(Matcher::new("POST", "/DISABLE"), Fault::Throttle { retry_after_secs: 1 }, 2);
    sim.arm.inject(Matcher::new("PATCH", "/workflows/"), Fault::ServerError, 1);

    let disable = with_version(&format!("{id}/disable"), LOGIC);
    let mut statuses = vec![sim.call("GET", &with_version(&id, LOGIC), None).await.status];
    for _ in 0..3 {
        statuses.push(sim.call("POST", &disable, None).await.status);
    }
    assert_eq!(statuses, [200, 429, 429, 200]);

    sim.arm.inject(Matcher::any_method("/disable"), Fault::ServerError, 5);
    sim.arm.clear_faults();
    assert_eq!(sim.call("POST", &disable, None).await.status, 200);
}

#[tokio::test]
async fn slow_answers_arrive_late_and_hung_ones_never() {
    let sim = Sim::start().await;
    let id = workflow("orders");
    sim.arm.add_logic_app(&id, "Enabled", "westeurope");
    let url = format!("{}{}", sim.arm.base_url(), with_version(&id, LOGIC));
    let authorization = format!("Bearer {}", sim.token);
    let impatient = client(Some(Duration::from_millis(300)));

    sim.arm.inject(Matcher::new("GET", "/workflows/"), Fault::Slow(Duration::from_secs(3)), 1);
    let late = send(&impatient, Some(&authorization), "GET", &url, None).await;
    assert!(late.is_err_and(|e| e.is_timeout()));
    let patient = send(&client(None), Some(&authorization), "GET", &url, None).await.unwrap();
    assert_eq!(patient.status, 200, "the slow fault was used up by the first call");

    sim.arm.inject(Matcher::new("GET", "/workflows/"), Fault::Hang, 1);
    let hung = send(&impatient, Some(&authorization), "GET", &url, None).await;
    assert!(hung.is_err_and(|e| e.is_timeout()));
    let calls = sim.arm.calls();
    assert_eq!(calls.last().unwrap().status, None, "a hung call has no status");

    // A hung request does not keep the double from shutting down.
    let Sim { arm, .. } = sim;
    tokio::time::timeout(Duration::from_secs(10), arm.shutdown())
        .await
        .expect("shutdown completes with a request hanging");
}

#[tokio::test]
async fn resource_ids_are_case_insensitive_and_keep_their_casing() {
    let sim = Sim::start().await;
    let id = workflow("Orders-EU");
    sim.arm.add_logic_app(&id, "Enabled", "westeurope");

    for path in [id.to_lowercase(), id.to_uppercase()] {
        let reply = sim.call("GET", &with_version(&path, LOGIC), None).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.body["id"], id.as_str(), "{path}");
        assert_eq!(reply.body["name"], "Orders-EU");
    }
    let upper = format!("{}/DISABLE", id.to_uppercase());
    assert_eq!(sim.call("POST", &with_version(&upper, LOGIC), None).await.status, 200);
    assert_eq!(sim.arm.resource(&id.to_lowercase()).unwrap()["properties"]["state"], "Disabled");
}

#[tokio::test]
async fn missing_resources_and_groups_are_told_apart() {
    let sim = Sim::start().await;
    sim.arm.add_logic_app(&workflow("orders"), "Enabled", "westeurope");

    let missing = sim.call("GET", &with_version(&workflow("other"), LOGIC), None).await;
    assert_eq!((missing.status, missing.code()), (404, "ResourceNotFound"));
    assert!(missing.message().contains("Microsoft.Logic/workflows/other"), "{}", missing.message());

    let other_group = format!("{SUB}/resourceGroups/rg-nowhere/providers/Microsoft.Logic/workflows/orders");
    let no_group = sim.call("GET", &with_version(&other_group, LOGIC), None).await;
    assert_eq!((no_group.status, no_group.code()), (404, "ResourceGroupNotFound"));

    let delete = sim.call("DELETE", &with_version(&workflow("orders"), LOGIC), None).await;
    assert_eq!((delete.status, delete.code()), (405, "MethodNotAllowed"));

    assert!(sim.arm.remove_resource(&workflow("orders")).is_some());
    let removed = sim.call("GET", &with_version(&workflow("orders"), LOGIC), None).await;
    assert_eq!(removed.status, 404);
}

#[tokio::test]
async fn seeded_resources_of_any_type_can_be_read() {
    let sim = Sim::start().await;
    let id = format!("{RG}/providers/Microsoft.Storage/storageAccounts/bcdrstate");
    sim.arm.put_resource(&id, json!({"location": "westeurope", "properties": {"accessTier": "Hot"}}));

    let reply = sim.call("GET", &with_version(&id, "2023-05-01"), None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["type"], "Microsoft.Storage/storageAccounts");
    assert_eq!(reply.body["name"], "bcdrstate");
    assert_eq!(reply.body["properties"]["accessTier"], "Hot");
    assert_eq!(reply.header("content-type"), Some("application/json; charset=utf-8"));
    assert!(reply.header("x-ms-request-id").is_some());
}

#[tokio::test]
async fn the_call_log_records_every_request() {
    let sim = Sim::start().await;
    let id = endpoint("primary");
    sim.arm.add_traffic_manager_endpoint(&id, "Enabled");
    let patch = json!({"properties": {"endpointStatus": "Disabled"}}).to_string();

    sim.call("GET", &with_version(&id, TRAFFIC_MANAGER), None).await;
    sim.call("PATCH", &with_version(&id, TRAFFIC_MANAGER), Some(&patch)).await;
    sim.call_as(None, "GET", &id, None).await;

    let calls = sim.arm.calls();
    // One line per call: method, api-version, status, identity.
    let summary: Vec<String> = calls
        .iter()
        .map(|c| {
            format!(
                "{} {} {} {}",
                c.method,
                c.api_version().unwrap_or("-"),
                c.status.map_or("-".into(), |s| s.to_string()),
                c.client_id.as_deref().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            format!("GET {TRAFFIC_MANAGER} 200 {CLIENT_ID}"),
            format!("PATCH {TRAFFIC_MANAGER} 200 {CLIENT_ID}"),
            "GET - 401 -".to_owned(),
        ]
    );
    assert!(calls.iter().all(|c| c.path == id));
    assert_eq!(calls[1].body.as_deref(), Some(patch.as_str()));
    assert!(calls[0].at <= calls[1].at && calls[1].at <= calls[2].at);

    sim.arm.clear_calls();
    assert!(sim.arm.calls().is_empty());
    sim.call("GET", &with_version(&id, TRAFFIC_MANAGER), None).await;
    assert_eq!(sim.arm.calls().len(), 1);
    assert_eq!(sim.arm.calls()[0].status, Some(200));
}

/// Waits up to five seconds for `done`.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting until {what}");
}

fn mailbox_trigger(run_ms: u64) -> azure_sim::PollingTrigger {
    azure_sim::PollingTrigger {
        name: "When_a_new_email_arrives".into(),
        source: "mailbox".into(),
        interval: Duration::from_millis(50),
        run_duration: Duration::from_millis(run_ms),
        concurrency: None,
    }
}

#[tokio::test]
async fn a_disabled_workflow_drains_its_runs_and_lists_them_page_by_page() {
    let sim = Sim::start_with(ArmOptions { runs_page_size: 2, ..ArmOptions::default() }).await;
    let id = workflow("mailbox");
    sim.arm.add_logic_app(&id, "Enabled", "westeurope");
    sim.arm.add_polling_trigger(&id, mailbox_trigger(600));
    sim.arm.push_items("mailbox", 5);
    let running = format!("{id}/runs?api-version={LOGIC}&$filter=status%20eq%20'Running'");
    let first = loop {
        let reply = sim.call("GET", &running, None).await;
        if reply.body["nextLink"].is_string() {
            break reply;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(first.body["value"].as_array().unwrap().len(), 2);

    // Disabled at once (200, no body, as Workflows_Disable answers), yet the runs go on.
    let disable = sim.call("POST", &format!("{id}/disable?api-version={LOGIC}"), None).await;
    assert_eq!(disable.status, 200);
    let mut names = Vec::new();
    let mut next = Some(first);
    while let Some(page) = next.take() {
        names.extend(page.body["value"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_owned()));
        if let Some(link) = page.body["nextLink"].as_str() {
            next = Some(sim.poll(link).await);
        }
    }
    assert_eq!(names.len(), 5, "every page followed: {names:?}");

    // Cancel one: it ends Cancelled and its item is never processed; the rest drain.
    let cancel = format!("{id}/runs/{}/cancel?api-version={LOGIC}", names[0]);
    assert_eq!(sim.call("POST", &cancel, None).await.status, 200);
    let again = sim.call("POST", &cancel, None).await;
    assert_eq!((again.status, again.code()), (409, "WorkflowRunNotInProgress"));
    let run = sim.call("GET", &format!("{id}/runs/{}?api-version={LOGIC}", names[0]), None).await;
    assert_eq!(run.body["properties"]["status"], "Cancelled");
    until("the other four runs drained", || {
        sim.arm.source("mailbox").is_some_and(|s| s.processed_per_workflow().values().sum::<usize>() == 4)
    })
    .await;
    let report = sim.arm.source("mailbox").unwrap();
    assert_eq!(report.unprocessed().len(), 1);
    assert!(report.duplicated().is_empty());
    let left = sim.call("GET", &running, None).await;
    assert_eq!(left.body["value"].as_array().unwrap().len(), 0, "{:?}", left.body);
}

#[tokio::test]
async fn trigger_state_is_copied_or_reset_only_on_a_disabled_copy() {
    let sim = Sim::start().await;
    let (a, b) = (workflow("mailbox-a"), workflow("mailbox-b"));
    sim.arm.add_logic_app(&a, "Enabled", "westeurope");
    sim.arm.add_logic_app(&b, "Enabled", "northeurope");
    sim.arm.add_polling_trigger(&a, mailbox_trigger(10));
    sim.arm.add_polling_trigger(&b, mailbox_trigger(10));
    let triggers = sim.call("GET", &format!("{b}/triggers?api-version={LOGIC}"), None).await;
    let trigger = &triggers.body["value"][0];
    assert_eq!(trigger["name"], "When_a_new_email_arrives");
    assert_eq!(trigger["type"], "Microsoft.Logic/workflows/triggers");
    let source_id = format!("{a}/triggers/When_a_new_email_arrives");
    let set_state = format!("{b}/triggers/When_a_new_email_arrives/setState?api-version={LOGIC}");
    let body = json!({"source": {"id": source_id}}).to_string();
    let refused = sim.call("POST", &set_state, Some(&body)).await;
    assert_eq!((refused.status, refused.code()), (409, "WorkflowTriggerStateChangeNotAllowed"));

    assert_eq!(sim.call("POST", &format!("{b}/disable?api-version={LOGIC}"), None).await.status, 200);
    sim.arm.push_items("mailbox", 3);
    until("a processed three", || sim.arm.source("mailbox").is_some_and(|s| s.unprocessed().is_empty())).await;
    assert_eq!(sim.call("POST", &set_state, Some(&body)).await.status, 200);
    let missing = sim.call("POST", &set_state, Some(&json!({"source": {}}).to_string())).await;
    assert_eq!(missing.status, 400);
    let other = json!({"source": {"id": format!("{a}/triggers/nope")}}).to_string();
    assert_eq!(sim.call("POST", &set_state, Some(&other)).await.code(), "WorkflowTriggerNotFound");

    // b takes over from a's position: nothing is processed twice.
    assert_eq!(sim.call("POST", &format!("{a}/disable?api-version={LOGIC}"), None).await.status, 200);
    assert_eq!(sim.call("POST", &format!("{b}/enable?api-version={LOGIC}"), None).await.status, 200);
    sim.arm.push_items("mailbox", 2);
    until("b processed the two new items", || {
        sim.arm.source("mailbox").is_some_and(|s| s.unprocessed().is_empty() && s.items.len() == 5)
    })
    .await;
    let report = sim.arm.source("mailbox").unwrap();
    assert!(report.duplicated().is_empty(), "{:?}", report.duplicated());
    assert_eq!(report.processed_per_workflow().get(&b.to_ascii_lowercase()), Some(&2));

    // a's region loses its control plane: a setState naming a's trigger cannot read it.
    assert_eq!(sim.call("POST", &format!("{b}/disable?api-version={LOGIC}"), None).await.status, 200);
    sim.arm.set_control_plane("West Europe", false);
    let cut = sim.call("POST", &set_state, Some(&body)).await;
    assert_eq!((cut.status, cut.code()), (504, "GatewayTimeout"));
    assert_eq!(sim.call("GET", &format!("{a}?api-version={LOGIC}"), None).await.status, 504);
    let reset = format!("{b}/triggers/When_a_new_email_arrives/reset?api-version={LOGIC}");
    assert_eq!(sim.call("POST", &reset, None).await.status, 200);
}

#[tokio::test]
async fn a_standard_workflow_runs_on_through_its_disable_and_its_runs_are_read_through_the_host_runtime() {
    let sim = Sim::start_with(ArmOptions { site_restart: Duration::from_millis(200), ..ArmOptions::default() }).await;
    let id = site("flows");
    sim.arm.add_site(&id, "Running");
    sim.arm.add_site_workflow(&id, "mail");
    sim.arm.set_app_settings(&id, [("Workflows.mail.FlowState", "Enabled")]);
    sim.arm.add_polling_trigger(&format!("{id}/workflows/mail"), mailbox_trigger(600));
    sim.arm.push_items("mailbox", 3);
    let runs = format!(
        "{id}/hostruntime/runtime/webhooks/workflow/api/management/workflows/mail/runs?api-version={WEB}&$filter=status%20eq%20'Running'"
    );
    until_runs(&sim, &runs, 3).await;

    // The workflow off through its setting: the site restarts, the runs in flight go on (they
    // are stateful) and no new item is taken.
    let put = json!({"properties": {"Workflows.mail.FlowState": "Disabled"}}).to_string();
    let write = sim.call("PUT", &format!("{id}/config/appsettings?api-version={WEB}"), Some(&put)).await;
    assert_eq!(write.status, 202);
    let listed = sim.call("GET", &runs, None).await;
    let names: Vec<String> =
        listed.body["value"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_owned()).collect();
    assert!(!names.is_empty(), "still running after the disable: {:?}", listed.body);
    let run_id = listed.body["value"][0]["id"].as_str().unwrap();
    assert!(run_id.contains("/hostruntime/runtime/webhooks/workflow/api/management/workflows/mail/runs/"), "{run_id}");
    let cancel = format!(
        "{id}/hostruntime/runtime/webhooks/workflow/api/management/workflows/mail/runs/{}/cancel?api-version={WEB}",
        names[0]
    );
    assert_eq!(sim.call("POST", &cancel, None).await.status, 200);
    // Once the site runs the new setting, new mail waits.
    let workflow = format!("{id}/workflows/mail?api-version={WEB}");
    for _ in 0..200 {
        if sim.call("GET", &workflow, None).await.body["properties"]["flowState"] == "Disabled" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    sim.arm.push_items("mailbox", 2);
    until("the runs drained", || {
        sim.arm.source("mailbox").is_some_and(|s| s.processed_per_workflow().values().sum::<usize>() == 2)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let report = sim.arm.source("mailbox").unwrap();
    assert_eq!(report.unprocessed().len(), 3, "the cancelled run's item and the two that came after the disable");
    let unknown =
        format!("{id}/hostruntime/runtime/webhooks/workflow/api/management/workflows/other/runs?api-version={WEB}");
    assert_eq!(sim.call("GET", &unknown, None).await.status, 404);
}

/// Waits until the runs list at `url` holds `count` runs.
async fn until_runs(sim: &Sim, url: &str, count: usize) {
    for _ in 0..200 {
        let reply = sim.call("GET", url, None).await;
        if reply.body["value"].as_array().is_some_and(|v| v.len() == count) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("never {count} runs at {url}");
}

#[tokio::test]
async fn api_management_backends_need_their_etag_to_change() {
    let sim = Sim::start().await;
    let service = format!("{RG}/providers/Microsoft.ApiManagement/service/apim-orders");
    let backend = |name: &str| format!("{service}/backends/{name}");
    sim.arm.add_api_management(&service, "West Europe", &["North Europe"]);
    sim.arm.add_api_management_backend(&backend("weu"), "https://weu.example.net/api");
    sim.arm.add_api_management_backend(&backend("neu"), "https://neu.example.net/api");
    sim.arm.add_api_management_pool(&backend("pool"), &[(&backend("weu"), 1), (&backend("neu"), 2)]);
    let path = with_version(&backend("pool"), "2024-05-01");
    let authorization = format!("Bearer {}", sim.token);
    let url = format!("{}{path}", sim.arm.base_url());
    let patch_with = |if_match: Option<String>, body: serde_json::Value| {
        let mut request = sim.http.patch(&url).header("authorization", &authorization).json(&body);
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        request.send()
    };

    let read = sim.call("GET", &path, None).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["type"], "Microsoft.ApiManagement/service/backends");
    let etag = read.header("etag").expect("a backend's GET carries its ETag").to_owned();
    let instance = sim.call("GET", &with_version(&service, "2024-05-01"), None).await;
    assert_eq!(instance.body["properties"]["additionalLocations"][0]["location"], "North Europe");

    let swapped = json!({"properties": {"pool": {"services": [
        {"id": backend("weu"), "priority": 2, "weight": 1}, {"id": backend("neu"), "priority": 1, "weight": 1}]}}});
    // Backend_Update requires If-Match.
    let missing = patch_with(None, swapped.clone()).await.unwrap();
    assert_eq!(missing.status(), 400);
    // The right ETag writes, and the answer carries the next one.
    let written = patch_with(Some(etag.clone()), swapped.clone()).await.unwrap();
    assert_eq!(written.status(), 200);
    let next = written.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(next, etag);
    assert_eq!(sim.arm.resource(&backend("pool")).unwrap()["properties"]["pool"]["services"][1]["priority"], 1);
    // The old one is stale now: 412, nothing changes.
    let stale = patch_with(Some(etag), json!({"properties": {"description": "late"}})).await.unwrap();
    assert_eq!(stale.status(), 412);
    let body: serde_json::Value = stale.json().await.unwrap();
    assert_eq!(body["error"]["code"], "PreconditionFailed");
    assert!(sim.arm.resource(&backend("pool")).unwrap()["properties"].get("description").is_none());
    // `*` is an unconditional update.
    assert_eq!(
        patch_with(Some("*".into()), json!({"properties": {"description": "any"}})).await.unwrap().status(),
        200
    );

    // A pool's members must be existing backends of the same service, priorities 0 to 100.
    for services in [
        json!([{"id": backend("dr"), "priority": 1}]),
        json!([{"id": "/backends/weu", "priority": 1}]),
        json!([{"id": backend("weu"), "priority": 101}]),
        json!([]),
    ] {
        let refused =
            patch_with(Some("*".into()), json!({"properties": {"pool": {"services": services}}})).await.unwrap();
        assert_eq!(refused.status(), 400, "{services}");
    }
    // Neither is long-running: no 202, no operation URL.
    assert!(sim.arm.calls().iter().all(|c| c.status != Some(202)));
}
