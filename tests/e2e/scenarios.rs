//! Failover scenarios end to end: the primary's health-check, the secondary's watchdog(s) and the
//! activation app, each the real binary under `bcdr host`, state in Azurite, ARM and the managed
//! identity simulated. Each scenario breaks something, waits for the bundle to act (or not), and
//! after every step checks that no client-state resource has been enabled in both regions.

use std::collections::BTreeMap;
use std::time::Duration;

use azure_sim::{Fault, Matcher};
use serde_json::Value;

use crate::world::{eventually, Ids, LinkMode, Options, World, LAMBDA_WATCHER, WATCH};

/// Where every copy stands once failed over: `primary/secondary`.
fn failed_over() -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("api", "Stopped/Running".to_owned()),
        ("mailbox", "Disabled/Enabled".to_owned()),
        ("nightly", "Disabled/Enabled".to_owned()),
        ("router", "Disabled/Enabled".to_owned()),
    ])
}

/// Where every copy stands on the primary, as the world starts.
fn on_primary() -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("api", "Running/Stopped".to_owned()),
        ("mailbox", "Enabled/Disabled".to_owned()),
        ("nightly", "Enabled/Disabled".to_owned()),
        ("router", "Enabled/Disabled".to_owned()),
    ])
}

/// The observations watcher `watcher` recorded, as kinds (`up`, `down`, `inconclusive`), oldest
/// first.
fn observations(state: &Value, watcher: &str) -> Vec<String> {
    state["history"]
        .as_array()
        .map(|h| {
            h.iter()
                .filter(|p| p["watcher"] == watcher)
                .map(|p| p["observation"]["kind"].as_str().unwrap_or("?").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until `watcher` has recorded `n` more observations of `kind` than it had at `before`.
async fn wait_for_observations(world: &World, watcher: &str, kind: &str, n: usize, before: &Value, within: Duration) {
    let had = observations(before, watcher).iter().filter(|k| *k == kind).count();
    eventually(within, &format!("{watcher}: {n} more `{kind}` observations"), || async {
        let state = world.watch_state().await;
        let seen = observations(&state, watcher);
        let now = seen.iter().filter(|k| *k == kind).count();
        if now >= had + n {
            Ok(())
        } else {
            Err(format!("{} of {n} so far; history {seen:?}", now - had.min(now)))
        }
    })
    .await;
}

/// Waits until the activation app has recorded at least `n` runs; returns them all.
async fn wait_for_reports(world: &World, n: usize, within: Duration) -> Vec<Value> {
    eventually(within, &format!("{n} activation report(s)"), || async {
        let reports = world.reports().await;
        if reports.len() >= n {
            Ok(reports)
        } else {
            let state = world.watch_state().await;
            Err(format!("{} so far; watch phase {} epoch {}", reports.len(), state["phase"], state["epoch"]))
        }
    })
    .await
}

/// Waits until watcher `i`'s status endpoint shows the watch in `phase`; returns the watch.
async fn wait_for_phase(world: &World, i: usize, phase: &str, within: Duration) -> Value {
    eventually(within, &format!("status says {phase}"), || async {
        let watch = world.status(i).await?;
        if watch["state"]["phase"] == phase {
            Ok(watch)
        } else {
            Err(format!("phase {} epoch {}", watch["state"]["phase"], watch["state"]["epoch"]))
        }
    })
    .await
}

/// The outage the scenarios start from: the primary's dependency fails, its health-check says
/// unhealthy, and after three ticks the watchdog claims epoch 1 and the activation app switches.
async fn fail_over(world: &World) -> Value {
    let before = world.watch_state().await;
    wait_for_observations(world, "watcher-1", "up", 1, &before, Duration::from_secs(15)).await;
    world.assert_never_both_enabled("healthy ticks");

    world.dependency.down();
    let reports = wait_for_reports(world, 1, Duration::from_secs(30)).await;
    world.assert_never_both_enabled("the activation");
    let run = reports[0].clone();
    assert_eq!(run["report"]["outcome"], "succeeded", "{run:#}");
    assert_eq!((run["watch"].as_str(), run["epoch"].as_u64()), (Some(WATCH), Some(1)), "{run:#}");
    assert_eq!(world.copies(), failed_over());
    let watch = wait_for_phase(world, 0, "failedOver", Duration::from_secs(10)).await;
    assert_eq!(watch["state"]["epoch"], 1);
    run
}

/// Lets `ticks` more ticks pass, then checks that no further activation was asked for.
async fn still_one_activation(world: &World, ticks: u32) {
    tokio::time::sleep(Duration::from_secs(2 * u64::from(ticks))).await;
    let reports = world.reports().await;
    assert_eq!(reports.len(), 1, "exactly one activation run: {reports:#?}");
    let record = world.epoch_record().await.expect("the activation app keeps an epoch record");
    assert_eq!((record["epoch"].as_u64(), record["runs"].as_u64()), (Some(1), Some(1)), "{record}");
    world.assert_never_both_enabled("the ticks after the activation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_failover() {
    let world = World::start("clean-failover", Options::default()).await;
    assert_eq!(world.copies(), on_primary());
    // An uptime monitor on the watchdog sees the primary serving; without the key it sees nothing.
    let (code, kind, body) = world.monitor(0, "monitor", true).await;
    assert_eq!((code, kind.as_str()), (200, "text/plain; charset=utf-8"), "{body}");
    assert!(body.starts_with(&format!("{WATCH}: watching (epoch 0")), "{body}");
    assert_eq!(world.monitor(0, "monitor", false).await.0, 401);

    let run = fail_over(&world).await;
    assert_eq!(run["requester"], "watcher-1");
    let actions: Vec<String> = run["report"]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{} {} {} {}",
                a["phase"].as_str().unwrap(),
                a["resource"].as_str().unwrap(),
                a["copy"].as_str().unwrap(),
                a["status"].as_str().unwrap()
            )
        })
        .collect();
    // The client-state copy is fenced (disabled and confirmed) before its secondary is enabled.
    let fence =
        actions.iter().position(|a| a == "fence mailbox primary done").unwrap_or_else(|| panic!("{actions:#?}"));
    let enable =
        actions.iter().position(|a| a == "enable mailbox secondary done").unwrap_or_else(|| panic!("{actions:#?}"));
    assert!(fence < enable, "{actions:#?}");
    assert!(actions.contains(&"route router secondary done".to_owned()), "{actions:#?}");
    // Runs were in flight at the fence: the drain waited for them, and the secondary's trigger
    // took over the primary's position before it was enabled.
    let drained =
        actions.iter().position(|a| a == "drain mailbox primary done").unwrap_or_else(|| panic!("{actions:#?}"));
    let settled = actions
        .iter()
        .position(|a| a == "triggerState mailbox secondary done")
        .unwrap_or_else(|| panic!("{actions:#?}"));
    assert!(fence < drained && drained < settled && settled < enable, "{actions:#?}");

    still_one_activation(&world, 3).await;
    let state = world.watch_state().await;
    assert_eq!((state["phase"].as_str(), state["epoch"].as_u64()), (Some("failedOver"), Some(1)));
    // Failed over: the monitor answers 503, and the badge says so.
    let (code, _, body) = world.monitor(0, "monitor", true).await;
    assert_eq!(code, 503, "{body}");
    assert!(
        body.starts_with(&format!("{WATCH}: failedOver (epoch 1, since ")) && body.contains("last failover"),
        "{body}"
    );
    let (code, kind, svg) = world.monitor(0, &format!("badge?watch={WATCH}"), true).await;
    assert_eq!((code, kind.as_str()), (200, "image/svg+xml"), "{svg}");
    assert!(svg.contains(&format!("<title>{WATCH}: failedOver · failover ")), "{svg}");
    eprintln!("clean failover: done at {:.1} s", world.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flapping_primary_is_never_activated() {
    let world = World::start("flapping-primary", Options::default()).await;
    world.dependency.flap();
    let before = world.watch_state().await;
    // About seven ticks: down, down, up, down, down, up, ...
    for _ in 0..14 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        world.assert_never_both_enabled("a flap");
        assert!(world.reports().await.is_empty(), "a flapping primary was activated");
    }
    let state = world.watch_state().await;
    let seen = observations(&state, "watcher-1");
    let new = &seen[observations(&before, "watcher-1").len().min(seen.len())..];
    assert!(new.iter().filter(|k| *k == "down").count() >= 3, "the flapping was not seen: {new:?}");
    assert!(new.iter().any(|k| k == "up"), "the flapping was not seen: {new:?}");
    assert_eq!(state["epoch"], 0, "{state:#}");
    assert!(matches!(state["phase"].as_str(), Some("watching" | "suspect")), "{state:#}");
    assert_eq!(world.copies(), on_primary());
    eprintln!("flapping primary: {} observations, done at {:.1} s", new.len(), world.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_whose_own_network_fails_never_activates() {
    let world = World::start("watcher-network", Options::default()).await;
    let before = world.watch_state().await;
    wait_for_observations(&world, "watcher-1", "up", 1, &before, Duration::from_secs(15)).await;

    // The watcher's network goes dark: neither the primary nor the control answers it.
    let w = &world.watchers[0];
    w.target.set(LinkMode::Blackhole);
    w.control.set(LinkMode::Blackhole);
    let before = world.watch_state().await;
    wait_for_observations(&world, "watcher-1", "inconclusive", 4, &before, Duration::from_secs(20)).await;
    world.assert_never_both_enabled("the watcher's network failed");
    assert!(world.reports().await.is_empty(), "a blind watcher activated");
    let state = world.watch_state().await;
    assert_eq!((state["phase"].as_str(), state["epoch"].as_u64()), (Some("watching"), Some(0)), "{state:#}");
    assert_eq!(state["watchers"]["watcher-1"]["failures"], 0, "inconclusive observations must not count: {state:#}");
    let alerts: Vec<&str> = state["openAlerts"].as_array().unwrap().iter().filter_map(|a| a["kind"].as_str()).collect();
    assert!(alerts.contains(&"watcherNetworkSuspect"), "{alerts:?}");

    // The network comes back; the primary was healthy all along.
    w.control.set(LinkMode::Open);
    w.target.set(LinkMode::Open);
    let before = world.watch_state().await;
    wait_for_observations(&world, "watcher-1", "up", 2, &before, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    world.assert_never_both_enabled("the watcher's network came back");
    assert!(world.reports().await.is_empty(), "activated after the watcher's network came back");
    let state = world.watch_state().await;
    assert_eq!((state["phase"].as_str(), state["epoch"].as_u64()), (Some("watching"), Some(0)), "{state:#}");
    assert!(state["openAlerts"].as_array().unwrap().is_empty(), "{state:#}");
    assert_eq!(world.copies(), on_primary());
    eprintln!("watcher network: done at {:.1} s", world.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_watchers_with_quorum_two() {
    let world = World::start("quorum-two", Options { watchers: 2, quorum: (2, 2), ..Options::default() }).await;
    let before = world.watch_state().await;
    for w in ["watcher-1", "watcher-2"] {
        wait_for_observations(&world, w, "up", 1, &before, Duration::from_secs(15)).await;
    }

    // Only watcher-2 loses its way to the primary (its control still answers): it sees the
    // primary down and votes, but one vote of two activates nothing.
    world.watchers[1].target.set(LinkMode::Refuse);
    let before = world.watch_state().await;
    wait_for_observations(&world, "watcher-2", "down", 4, &before, Duration::from_secs(20)).await;
    world.assert_never_both_enabled("one watcher saw the primary down");
    let state = world.watch_state().await;
    assert!(state["votes"].get("watcher-2").is_some(), "watcher-2 should have voted: {state:#}");
    assert!(state["votes"].get("watcher-1").is_none(), "{state:#}");
    assert_eq!((state["phase"].as_str(), state["epoch"].as_u64()), (Some("suspect"), Some(0)), "{state:#}");
    assert!(world.reports().await.is_empty(), "one watcher of a quorum of two activated");

    // Now the primary really fails, for both.
    world.watchers[1].target.set(LinkMode::Open);
    world.dependency.down();
    let reports = wait_for_reports(&world, 1, Duration::from_secs(30)).await;
    world.assert_never_both_enabled("both watchers saw the primary down");
    assert_eq!(reports[0]["report"]["outcome"], "succeeded", "{:#}", reports[0]);
    assert_eq!(reports[0]["epoch"], 1);
    assert_eq!(world.copies(), failed_over());
    for i in 0..2 {
        wait_for_phase(&world, i, "failedOver", Duration::from_secs(10)).await;
    }
    still_one_activation(&world, 3).await;
    eprintln!("quorum of two: claimed by {}, done at {:.1} s", reports[0]["requester"], world.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activation_down_then_back_runs_the_same_epoch_once() {
    let options = Options { activation_running: false, max_activation_attempts: 10, ..Options::default() };
    let mut world = World::start("activation-down", options).await;
    let before = world.watch_state().await;
    wait_for_observations(&world, "watcher-1", "up", 1, &before, Duration::from_secs(15)).await;

    // The primary fails while the activation app is not running: the claim is written, the call
    // fails, and the watch stays activating with epoch 1.
    world.dependency.down();
    let state = eventually(Duration::from_secs(30), "a failed activation call", || async {
        let state = world.watch_state().await;
        if state["activation"]["lastError"].is_string() {
            Ok(state)
        } else {
            Err(format!("phase {} activation {}", state["phase"], state["activation"]))
        }
    })
    .await;
    assert_eq!((state["phase"].as_str(), state["epoch"].as_u64()), (Some("activating"), Some(1)), "{state:#}");
    assert_eq!(state["activation"]["gaveUp"], false, "a refused connection is worth retrying: {state:#}");
    world.assert_never_both_enabled("the failed call");
    assert_eq!(world.copies(), on_primary());

    world.start_activation().await;
    let reports = wait_for_reports(&world, 1, Duration::from_secs(30)).await;
    world.assert_never_both_enabled("the retried activation");
    assert_eq!(reports[0]["report"]["outcome"], "succeeded", "{:#}", reports[0]);
    assert_eq!(reports[0]["epoch"], 1, "the retry asks for the same epoch");
    assert_eq!(world.copies(), failed_over());
    wait_for_phase(&world, 0, "failedOver", Duration::from_secs(10)).await;
    still_one_activation(&world, 2).await;
    let state = world.watch_state().await;
    assert_eq!(state["epoch"], 1, "{state:#}");
    assert!(state["activation"]["attempts"].as_u64().unwrap() >= 2, "{state:#}");
    eprintln!(
        "activation down then back: {} attempts, done at {:.1} s",
        state["activation"]["attempts"],
        world.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arm_throttling_storm_still_completes_within_the_deadline() {
    let world = World::start("throttling-storm", Options::default()).await;
    let before = world.watch_state().await;
    wait_for_observations(&world, "watcher-1", "up", 1, &before, Duration::from_secs(15)).await;

    // The first calls of the run, whatever they are, and then the first two on every copy and
    // endpoint, answer 429 with Retry-After: 1.
    world.arm.clear_calls();
    let throttle = Fault::Throttle { retry_after_secs: 1 };
    world.arm.inject(Matcher::any_method("/subscriptions/"), throttle.clone(), 5);
    for primary in [true, false] {
        for id in [Ids::mailbox(primary), Ids::nightly(primary), Ids::api(primary), Ids::endpoint(primary)] {
            world.arm.inject(Matcher::any_method(&id), throttle.clone(), 2);
        }
    }
    world.dependency.down();
    let reports = wait_for_reports(&world, 1, Duration::from_secs(40)).await;
    world.assert_never_both_enabled("the throttled activation");
    let report = &reports[0]["report"];
    assert_eq!(report["outcome"], "succeeded", "{report:#}");
    let deadline = world.options.activation_deadline_ms;
    assert!(report["durationMs"].as_u64().unwrap() < deadline, "{report:#}");
    assert_eq!(world.copies(), failed_over());

    let calls = world.arm.calls();
    let throttled = calls.iter().filter(|c| c.status == Some(429)).count();
    // Every copy's and endpoint's first two calls and the run's first five: over a third.
    assert!(
        throttled >= 16 && throttled * 3 >= calls.len(),
        "no storm: {throttled} of {} calls throttled",
        calls.len()
    );
    assert!(
        report["actions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["attempts"].as_u64().unwrap() > 1 || a["status"] == "skipped"),
        "{report:#}"
    );
    wait_for_phase(&world, 0, "failedOver", Duration::from_secs(10)).await;
    still_one_activation(&world, 2).await;
    eprintln!(
        "throttling storm: {throttled} of {} ARM calls throttled, run took {} ms, done at {:.1} s",
        calls.len(),
        report["durationMs"],
        world.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfenceable_primary_waits_for_the_operator_to_force() {
    // A short activation deadline (the fence gets half of it) and two attempts, so the watchdog
    // gives up on its own within a few ticks and leaves the decision to the operator.
    let options = Options { activation_deadline_ms: 10_000, max_activation_attempts: 2, ..Options::default() };
    let world = World::start("unfenceable-primary", options).await;
    let before = world.watch_state().await;
    wait_for_observations(&world, "watcher-1", "up", 1, &before, Duration::from_secs(15)).await;

    // The primary's region takes the mailbox's disable and then stops answering: the first read
    // answers, every later one hangs, so the fence is never confirmed.
    let mailbox = Ids::mailbox(true);
    world.arm.inject(Matcher::new("GET", &mailbox), Fault::Slow(Duration::ZERO), 1);
    world.arm.inject(Matcher::new("GET", &mailbox), Fault::Hang, 1_000);
    world.dependency.down();

    let reports = wait_for_reports(&world, 1, Duration::from_secs(30)).await;
    world.assert_never_both_enabled("the unconfirmed fence");
    let report = &reports[0]["report"];
    assert_eq!(report["outcome"], "waitingForFence", "{report:#}");
    let mailbox_enable = report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["resource"] == "mailbox" && a["phase"] == "enable")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(mailbox_enable["status"], "waitingForFence", "{report:#}");
    let mut expected = failed_over();
    expected.insert("mailbox", "Disabled/Disabled".to_owned());
    assert_eq!(world.copies(), expected, "everything else moved; the mailbox's secondary stays off");

    // The watchdog asks again for the same epoch, then stops and leaves it to an operator.
    let state = eventually(Duration::from_secs(30), "the watchdog gives up", || async {
        let state = world.watch_state().await;
        if state["activation"]["gaveUp"] == true {
            Ok(state)
        } else {
            Err(format!("phase {} activation {}", state["phase"], state["activation"]))
        }
    })
    .await;
    assert_eq!((state["phase"].as_str(), state["epoch"].as_u64()), (Some("activating"), Some(1)), "{state:#}");
    let reports = world.reports().await;
    assert!(reports.iter().all(|r| r["epoch"] == 1 && r["report"]["outcome"] == "waitingForFence"), "{reports:#?}");
    world.assert_never_both_enabled("the watchdog's retries");
    assert_eq!(world.copies(), expected);

    // The operator knows the primary region is gone and forces it.
    let (ok, out) = world.bcdr(&["activate", "--force", "--yes", "--json", "--watch", WATCH]).await;
    assert!(ok, "bcdr activate --force failed:\n{out}");
    world.assert_never_both_enabled("the forced activation");
    assert_eq!(world.copies(), failed_over());
    let reports = world.reports().await;
    let last = reports.last().unwrap();
    assert_eq!((last["epoch"].as_u64(), last["report"]["force"].as_bool()), (Some(1), Some(true)), "{last:#}");
    assert_eq!(last["report"]["outcome"], "succeeded", "{last:#}");
    let forced = last["report"]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["resource"] == "mailbox" && a["phase"] == "enable")
        .unwrap_or_else(|| panic!("{last:#}"));
    assert_eq!(
        (forced["status"].as_str(), forced["fenceOverridden"].as_str()),
        (Some("done"), Some("forced")),
        "{last:#}"
    );
    let watch = wait_for_phase(&world, 0, "failedOver", Duration::from_secs(10)).await;
    assert_eq!(watch["state"]["epoch"], 1, "forcing a claimed epoch never claims another");
    tokio::time::sleep(Duration::from_secs(4)).await;
    world.assert_never_both_enabled("the ticks after forcing");
    assert_eq!(world.reports().await.len(), reports.len(), "nothing ran after the forced activation");
    eprintln!("unfenceable primary: {} runs, done at {:.1} s", reports.len(), world.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failback_moves_the_work_back_under_a_new_epoch() {
    let world = World::start("failback", Options::default()).await;
    fail_over(&world).await;

    // The primary heals; the watchdog notices (failback is never automatic).
    world.dependency.up();
    eventually(Duration::from_secs(20), "the watchdog sees the primary healthy again", || async {
        let state = world.watch_state().await;
        if state["primaryBackSince"].is_string() {
            Ok(())
        } else {
            Err(format!("phase {} history {:?}", state["phase"], observations(&state, "watcher-1")))
        }
    })
    .await;
    world.assert_never_both_enabled("the primary healed");
    assert_eq!(world.copies(), failed_over(), "failback is manual");

    let (ok, out) = world.bcdr(&["failback", "--healthy-for", "0s", "--yes", "--json", "--watch", WATCH]).await;
    assert!(ok, "bcdr failback failed:\n{out}");
    world.assert_never_both_enabled("the failback");
    assert_eq!(world.copies(), on_primary());
    let watch = wait_for_phase(&world, 0, "watching", Duration::from_secs(10)).await;
    assert_eq!(watch["state"]["epoch"], 2, "{watch:#}");
    let runs: Vec<(String, bool, String)> = world
        .reports()
        .await
        .iter()
        .map(|r| {
            let report = &r["report"];
            let direction = report["direction"].as_str().unwrap_or("?").to_owned();
            (
                direction,
                report["practice"].as_bool().unwrap_or(false),
                report["outcome"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        runs,
        [
            ("failover".to_owned(), false, "succeeded".to_owned()),
            ("failback".to_owned(), true, "practiced".to_owned()),
            ("failback".to_owned(), false, "succeeded".to_owned()),
        ]
    );

    // The healthy primary is watched again, under the new epoch, and nothing activates.
    tokio::time::sleep(Duration::from_secs(4)).await;
    world.assert_never_both_enabled("the ticks after the failback");
    let state = world.watch_state().await;
    assert_eq!((state["phase"].as_str(), state["epoch"].as_u64()), (Some("watching"), Some(2)), "{state:#}");
    assert_eq!(world.reports().await.len(), 3);
    assert_eq!(world.copies(), on_primary());

    // The promise counted in work: mail arrived all through the outage, the failover and the
    // failback, and each item was processed exactly once, by one region or the other.
    let mailbox = world.mailbox_settled().await;
    let twice: Vec<u64> = mailbox.duplicated().iter().map(|i| i.id).collect();
    let never: Vec<u64> = mailbox.unprocessed().iter().map(|i| i.id).collect();
    assert_eq!((twice, never), (vec![], vec![]), "items processed twice, and never");
    let per_copy = mailbox.processed_per_workflow();
    assert_eq!(per_copy.len(), 2, "both regions processed mail: {per_copy:?}");
    eprintln!("failback: {} items, processed once each: {per_copy:?}", mailbox.items.len());

    // A failover call for the old epoch that arrives only now (a watchdog's call that was slow
    // to get through) must not move the work out again.
    let (status, body) = world.signed_activation(1, "a late retry of epoch 1").await;
    world.assert_never_both_enabled("a late call for the old epoch");
    let outcome = serde_json::from_str::<Value>(&body).map(|b| b["report"]["outcome"].clone()).unwrap_or_default();
    assert_eq!(
        status, 409,
        "a late failover call for the failed-back epoch was not refused (outcome {outcome}): {body}"
    );
    assert_eq!(world.copies(), on_primary());
    eprintln!("failback: done at {:.1} s", world.elapsed());
}

/// Two Azure watchers and one on AWS Lambda (the real `watchdog-lambda` under a Runtime API
/// double), quorum 2 of 3, each in its own failure domain as the plan declares.
fn mixed_cloud() -> Options {
    Options { watchers: 2, quorum: (2, 3), lambda_watcher: true, ..Options::default() }
}

/// The secondary region's own network fails: its two watchers see neither the primary nor
/// their control (inconclusive, no vote) and the Lambda sees the primary up, so nothing
/// activates. Then the primary really dies while one Azure watcher is still blind: the Lambda's
/// vote makes the quorum, and the activation happens exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_cloud_quorum_holds_through_the_secondary_network_and_acts_once_on_the_primary() {
    let world = World::start("mixed-cloud", mixed_cloud()).await;
    let before = world.watch_state().await;
    for w in ["watcher-1", "watcher-2", LAMBDA_WATCHER] {
        wait_for_observations(&world, w, "up", 1, &before, Duration::from_secs(20)).await;
    }

    for w in &world.watchers {
        w.target.set(LinkMode::Blackhole);
        w.control.set(LinkMode::Blackhole);
    }
    let before = world.watch_state().await;
    for w in ["watcher-1", "watcher-2"] {
        wait_for_observations(&world, w, "inconclusive", 3, &before, Duration::from_secs(25)).await;
    }
    wait_for_observations(&world, LAMBDA_WATCHER, "up", 3, &before, Duration::from_secs(25)).await;
    world.assert_never_both_enabled("the secondary region's network failed");
    assert!(world.reports().await.is_empty(), "the secondary's blind watchers activated");
    let state = world.watch_state().await;
    assert_eq!((state["phase"].as_str(), state["epoch"].as_u64()), (Some("watching"), Some(0)), "{state:#}");
    assert!(state["votes"].as_object().is_none_or(|v| v.is_empty()), "nobody saw the primary down: {state:#}");

    // Only watcher-1's network comes back; watcher-2 stays blind. Now the primary dies: the
    // quorum is watcher-1 and the Lambda, so the outside vote is the one that counts.
    let first = &world.watchers[0];
    first.control.set(LinkMode::Open);
    first.target.set(LinkMode::Open);
    world.dependency.down();
    let reports = wait_for_reports(&world, 1, Duration::from_secs(40)).await;
    world.assert_never_both_enabled("the primary died");
    // Nobody saw the primary down before it died, so every `down` in the history is since.
    let state = world.watch_state().await;
    let downs = |w: &str| observations(&state, w).iter().filter(|k| *k == "down").count();
    assert!(downs(LAMBDA_WATCHER) >= 1 && downs("watcher-1") >= 1, "{state:#}");
    assert_eq!(downs("watcher-2"), 0, "the blind watcher saw the primary: {state:#}");
    assert_eq!(reports[0]["report"]["outcome"], "succeeded", "{:#}", reports[0]);
    assert_eq!(reports[0]["epoch"], 1);
    assert_eq!(world.copies(), failed_over());
    still_one_activation(&world, 3).await;

    // The operator sees every watcher with where it runs.
    let (ok, out) = world.bcdr(&["status"]).await;
    assert!(ok, "{out}");
    for line in ["watcher-1 (azure northeurope)", "watcher-2 (azure francecentral)", "watcher-aws (aws eu-central-1)"] {
        assert!(out.contains(line), "bcdr status does not show {line:?}:\n{out}");
    }
    eprintln!("mixed cloud: claimed by {}, done at {:.1} s", reports[0]["requester"], world.elapsed());
}

/// The Lambda watcher's cloud is cut off (no invocation reaches it, and nothing it sends
/// arrives): the Azure pair is still a quorum of two and decides alone, exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_cloud_quorum_decides_without_the_cut_off_cloud() {
    let world = World::start("mixed-cloud-cut", mixed_cloud()).await;
    let before = world.watch_state().await;
    for w in ["watcher-1", "watcher-2", LAMBDA_WATCHER] {
        wait_for_observations(&world, w, "up", 1, &before, Duration::from_secs(20)).await;
    }
    let lambda = world.lambda.as_ref().unwrap();
    lambda.schedule(false);
    lambda.target.set(LinkMode::Refuse);
    lambda.control.set(LinkMode::Refuse);
    let invoked = lambda.api.calls().len();

    world.dependency.down();
    let reports = wait_for_reports(&world, 1, Duration::from_secs(40)).await;
    world.assert_never_both_enabled("the primary died while AWS was cut off");
    assert_eq!(reports[0]["report"]["outcome"], "succeeded", "{:#}", reports[0]);
    let requester = reports[0]["requester"].as_str().unwrap_or_default();
    assert!(requester == "watcher-1" || requester == "watcher-2", "claimed by {requester}");
    assert_eq!(world.copies(), failed_over());
    still_one_activation(&world, 3).await;
    let state = world.watch_state().await;
    assert!(state["votes"].get(LAMBDA_WATCHER).is_none(), "the cut-off watcher voted: {state:#}");
    // At most the invocation in flight when the cut came finished afterwards.
    assert!(lambda.api.calls().len() <= invoked + 2, "the Lambda was still invoked: {:?}", lambda.api.calls());
}
