//! Alert channels from the plan: the section's shape and rules, and the webhook URLs read from
//! the settings it names, every problem at its JSON path and no URL ever in a message.

use bcdr_core::alert::{AlertChannels, AlertPlan, ChannelKind};
use bcdr_core::settings::{Problems, SettingsMap};

fn plan(json: &str) -> AlertPlan {
    serde_json::from_str(json).unwrap()
}

/// The problems `validate` finds, one per line.
fn check_plan(json: &str, expect: &[&str]) {
    let mut p = Problems::new();
    plan(json).validate("$.alerts", &mut p);
    let got = match p.finish(()) {
        Ok(()) => Vec::new(),
        Err(e) => e.problems.iter().map(ToString::to_string).collect(),
    };
    assert_eq!(got, expect);
}

/// The problems `resolve` finds with these settings, and the channels it keeps.
fn check_resolve(json: &str, settings: &[(&str, &str)], expect: &[&str]) -> AlertChannels {
    let mut p = Problems::new();
    let channels = AlertChannels::resolve(&plan(json), "$.alerts", &SettingsMap::new(settings.iter().copied()), &mut p);
    let got: Vec<String> = match p.finish(()) {
        Ok(()) => Vec::new(),
        Err(e) => e.problems.iter().map(ToString::to_string).collect(),
    };
    assert_eq!(got, expect);
    for line in &got {
        assert!(!line.contains("SECRET"), "a URL leaked into a problem: {line}");
    }
    channels
}

const THREE: &str = r#"{
  "timeoutMs": 4000,
  "channels": [
    { "name": "ops-teams", "kind": "teams", "urlSetting": "BCDR_TEAMS_WEBHOOK_URL" },
    { "name": "ops-slack", "kind": "slack", "urlSetting": "BCDR_SLACK_WEBHOOK_URL" },
    { "name": "incidents", "kind": "webhook", "urlSetting": "BCDR_INCIDENT_WEBHOOK_URL" }
  ]
}"#;

#[test]
fn a_good_section_parses_and_validates() {
    let p = plan(THREE);
    assert_eq!(p.timeout_ms, 4000);
    assert_eq!(
        p.channels.iter().map(|c| c.kind).collect::<Vec<_>>(),
        [ChannelKind::Teams, ChannelKind::Slack, ChannelKind::Webhook]
    );
    check_plan(THREE, &[]);
    // Everything is optional: no channels means the log alone.
    assert_eq!(plan("{}"), AlertPlan::default());
    assert_eq!(AlertPlan::default().timeout_ms, 5000);
}

#[test]
fn shape_errors_are_refused() {
    let err = |json: &str| serde_json::from_str::<AlertPlan>(json).unwrap_err().to_string();
    assert!(err(r#"{"channels":[{"name":"a","kind":"pagerduty","urlSetting":"X"}]}"#)
        .contains("unknown variant `pagerduty`"));
    assert!(err(r#"{"channels":[{"name":"a","kind":"teams","url":"https://x"}]}"#).contains("unknown field `url`"));
    assert!(err(r#"{"channels":[{"name":"a","kind":"teams"}]}"#).contains("missing field `urlSetting`"));
}

#[test]
fn plan_rules_are_reported_together() {
    check_plan(
        r#"{
          "timeoutMs": 50,
          "channels": [
            { "name": "", "kind": "teams", "urlSetting": "BCDR_A" },
            { "name": "ops", "kind": "teams", "urlSetting": "BCDR_B" },
            { "name": "OPS", "kind": "slack", "urlSetting": "BCDR_C" },
            { "name": "log", "kind": "webhook", "urlSetting": "BCDR_D" },
            { "name": "pasted", "kind": "teams", "urlSetting": "https://prod-00.westeurope.logic.azure.com/workflows/SECRET?sig=SECRET" },
            { "name": "typo", "kind": "slack", "urlSetting": "BCDR SLACK URL" }
          ]
        }"#,
        &[
            "$.alerts.timeoutMs = \"50\": must be between 100 and 60000 milliseconds",
            "$.alerts.channels[0].name = \"\": must not be empty",
            "$.alerts.channels[2].name = \"OPS\": is used by another channel",
            "$.alerts.channels[3].name = \"log\": is reserved for the log, which always gets alerts",
            "$.alerts.channels[4].urlSetting: must name the app setting that holds the URL, not the URL itself (the URL is a secret)",
            "$.alerts.channels[5].urlSetting = \"BCDR SLACK URL\": must be an app setting name (letters, digits and underscores)",
        ],
    );
}

#[test]
fn urls_come_from_the_settings_the_plan_names() {
    let channels = check_resolve(
        THREE,
        &[
            ("BCDR_TEAMS_WEBHOOK_URL", "https://prod-00.westeurope.logic.azure.com:443/workflows/SECRET/triggers/manual/paths/invoke?sig=SECRET"),
            ("BCDR_SLACK_WEBHOOK_URL", " https://hooks.example.com/services/T0/B0/SECRET "),
            ("BCDR_INCIDENT_WEBHOOK_URL", "http://127.0.0.1:7071/api/incident?code=SECRET"),
        ],
        &[],
    );
    let names: Vec<(&str, ChannelKind)> = channels.channels().iter().map(|c| (c.name(), c.kind())).collect();
    assert_eq!(
        names,
        [("ops-teams", ChannelKind::Teams), ("ops-slack", ChannelKind::Slack), ("incidents", ChannelKind::Webhook)]
    );
    assert_eq!(channels.timeout().as_millis(), 4000);
    let client = reqwest::Client::new();
    let sinks: Vec<String> = channels.sinks(&client).iter().map(|s| s.name().to_owned()).collect();
    assert_eq!(sinks, ["ops-teams", "ops-slack", "incidents"]);
    assert_eq!(channels.alerter(&client).sink_names(), ["ops-teams", "ops-slack", "incidents"]);
    let debug = format!("{channels:?} {:?}", channels.alerter(&client));
    assert!(!debug.contains("SECRET"), "{debug}");
}

#[test]
fn missing_and_unsafe_urls_are_problems_that_name_the_setting() {
    check_resolve(
        THREE,
        &[
            ("BCDR_SLACK_WEBHOOK_URL", "http://hooks.example.com/services/T0/B0/SECRET"),
            ("BCDR_INCIDENT_WEBHOOK_URL", "SECRET-not-a-url"),
        ],
        &[
            "$.alerts.channels[0].urlSetting = \"BCDR_TEAMS_WEBHOOK_URL\": the app setting is not set",
            "$.alerts.channels[1].urlSetting = \"BCDR_SLACK_WEBHOOK_URL\": the app setting must hold an https URL (http is allowed only for localhost)",
            "$.alerts.channels[2].urlSetting = \"BCDR_INCIDENT_WEBHOOK_URL\": the app setting does not hold a URL",
        ],
    );
    let one = r#"{"channels":[{"name":"x","kind":"webhook","urlSetting":"BCDR_X"}]}"#;
    check_resolve(
        one,
        &[("BCDR_X", "ftp://files.example.com/SECRET")],
        &["$.alerts.channels[0].urlSetting = \"BCDR_X\": the app setting must hold an https URL"],
    );
    check_resolve(
        one,
        &[("BCDR_X", "  ")],
        &["$.alerts.channels[0].urlSetting = \"BCDR_X\": the app setting is not set"],
    );
    check_resolve(one, &[("BCDR_X", "http://localhost:8080/hook")], &[]);
    check_resolve(one, &[("BCDR_X", "http://[::1]:8080/hook")], &[]);

    let err = AlertChannels::from_plan(&plan(one), "$.alerts", &SettingsMap::default()).unwrap_err();
    assert_eq!(err.to_string(), "invalid configuration (1 problem)\n  - $.alerts.channels[0].urlSetting = \"BCDR_X\": the app setting is not set");
}
