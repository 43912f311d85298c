//! The watchdog's tick over real sockets and a real file store: a stopped primary is activated
//! exactly once after N ticks, a healthy or flapping one never; a failed activation call is
//! retried with the same epoch; a store that cannot be reached fails the tick and counts nothing;
//! a first down is confirmed within the same tick when the confirmations fit in the interval.

mod support;

use std::sync::Arc;

use bcdr_core::record::state_key;
use bcdr_core::store::{BlobAuth, BlobStore, FileStore, StateStore};
use bcdr_core::watch::{Command, WatchState};
use support::{Activation, Primary, HEALTHY, UNHEALTHY};
use watchdog::Watchdog;

/// Runs `n` ticks and prints `observation->phase` per tick, `!` where activation was requested.
async fn ticks(w: &Watchdog, n: usize) -> String {
    let mut out = Vec::new();
    for _ in 0..n {
        let o = w.tick().await.remove(0);
        assert!(o.error.is_none(), "{}", o.summary());
        out.push(format!(
            "{}->{}{}",
            o.observation.unwrap(),
            o.phase.unwrap(),
            if o.activation_requested.is_some() { "!" } else { "" }
        ));
    }
    out.join(" ")
}

async fn state(store: &dyn StateStore, watch: &str) -> WatchState {
    serde_json::from_slice(&store.load(&state_key(watch)).await.unwrap().unwrap().bytes).unwrap()
}

#[tokio::test]
async fn a_stopped_primary_is_activated_exactly_once_after_n_ticks() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(FileStore::new(dir.path().to_path_buf()));
    let activation = Activation::start().await;
    let w = support::watchdog(support::watch("orders", &support::stopped_url()), store.clone(), &activation, "w1");
    assert_eq!(
        ticks(&w, 6).await,
        "down->suspect down->suspect down->activating! down->failedOver down->failedOver down->failedOver"
    );
    assert_eq!(activation.epochs(), [1]);
    let request = activation.requests.lock().unwrap()[0].clone();
    assert_eq!((request.watch.as_str(), request.requester.as_str(), request.practice), ("orders", "w1", false));
    let s = state(store.as_ref(), "orders").await;
    assert_eq!((s.epoch, s.phase.label()), (1, "failedOver"));
    // Every step left one line in the decision log: six ticks, one activation result.
    let log = store.read_log(&bcdr_core::record::log_key("orders"), None).await.unwrap();
    assert_eq!(log.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count(), 7);
}

#[tokio::test]
async fn a_healthy_or_flapping_primary_is_never_activated() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(FileStore::new(dir.path().to_path_buf()));
    let activation = Activation::start().await;
    let primary = Primary::start().await;
    let w = support::watchdog(support::watch("steady", &primary.url), store.clone(), &activation, "w1");
    assert_eq!(ticks(&w, 4).await, "up->watching up->watching up->watching up->watching");
    let w = support::watchdog(support::watch("flapping", &primary.url), store.clone(), &activation, "w1");
    let mut seen = Vec::new();
    for i in 0..12 {
        primary.set(if i % 3 == 2 { HEALTHY } else { UNHEALTHY });
        seen.push(ticks(&w, 1).await);
    }
    assert!(seen.iter().all(|t| !t.ends_with('!')), "{seen:?}");
    assert!(activation.epochs().is_empty());
}

/// One tick, printed as `observation->phase`, `!` where activation was requested, and `+n` for
/// the confirmation probes it made.
async fn tick(w: &Watchdog) -> String {
    let o = w.tick().await.remove(0);
    assert!(o.error.is_none(), "{}", o.summary());
    let bang = if o.activation_requested.is_some() { "!" } else { "" };
    format!("{}->{}{bang} +{}", o.observation.unwrap(), o.phase.unwrap(), o.confirmations)
}

#[tokio::test]
async fn a_first_down_is_confirmed_within_the_tick() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(FileStore::new(dir.path().to_path_buf()));
    let activation = Activation::start().await;
    let watch = support::confirming(support::watch("orders", &support::stopped_url()), 200);
    let w = support::watchdog(watch, store.clone(), &activation, "w1");
    // One tick: the first down and two confirmations make N = 3, and the claim.
    assert_eq!(tick(&w).await, "down->activating! +2");
    assert_eq!(tick(&w).await, "down->failedOver +0");
    assert_eq!(activation.epochs(), [1]);
    // Each probe is its own step: three observations, the activation result, one more tick.
    let log = store.read_log(&bcdr_core::record::log_key("orders"), None).await.unwrap();
    assert_eq!(log.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count(), 5);
    let s = state(store.as_ref(), "orders").await;
    let seen: Vec<&str> = s.history.iter().map(|p| p.observation.label()).collect();
    assert_eq!(seen, ["down", "down", "down", "down"]);
}

#[tokio::test]
async fn a_confirmation_that_sees_the_primary_up_ends_the_tick() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(FileStore::new(dir.path().to_path_buf()));
    let activation = Activation::start().await;
    let primary = Primary::start().await;
    let w = support::watchdog(support::confirming(support::watch("blip", &primary.url), 200), store, &activation, "w1");
    primary.answer(&[UNHEALTHY, HEALTHY]);
    assert_eq!(tick(&w).await, "up->suspect +1");
    primary.answer(&[UNHEALTHY, UNHEALTHY, HEALTHY]);
    assert_eq!(tick(&w).await, "up->suspect +2");
    assert_eq!(tick(&w).await, "up->watching +0");
    assert!(activation.epochs().is_empty());
}

#[tokio::test]
async fn confirmations_that_do_not_fit_in_the_interval_wait_for_the_ticks() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(FileStore::new(dir.path().to_path_buf()));
    let activation = Activation::start().await;
    let watch = support::confirming(support::watch("orders", &support::stopped_url()), 200);
    let mut w = support::watchdog(watch, store, &activation, "w1");
    // Two confirmations, each waiting for the 1 s probe timeout, and the last probe: 3 s, more
    // than a 2 s schedule leaves.
    w.interval = std::time::Duration::from_secs(2);
    assert_eq!(tick(&w).await, "down->suspect +0");
    assert_eq!(tick(&w).await, "down->suspect +0");
    assert_eq!(tick(&w).await, "down->activating! +0");
}

#[tokio::test]
async fn a_failed_activation_call_is_retried_with_the_same_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(FileStore::new(dir.path().to_path_buf()));
    let activation = Activation::start().await;
    activation.answer.store(500, std::sync::atomic::Ordering::SeqCst);
    let w = support::watchdog(support::watch("orders", &support::stopped_url()), store.clone(), &activation, "w1");
    ticks(&w, 3).await;
    assert_eq!(activation.epochs(), [1]);
    activation.answer.store(200, std::sync::atomic::Ordering::SeqCst);
    ticks(&w, 3).await;
    assert_eq!(activation.epochs(), [1, 1], "retried once, same epoch, then done");
    assert_eq!(state(store.as_ref(), "orders").await.phase.label(), "failedOver");
}

#[tokio::test]
async fn an_unreachable_store_fails_the_tick_and_counts_nothing() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let store = BlobStore::new(
        &format!("http://127.0.0.1:{closed}/devstoreaccount1/state"),
        BlobAuth::SharedKey { account: "devstoreaccount1".into(), key_base64: "a2V5".into() },
    )
    .unwrap();
    let activation = Activation::start().await;
    let w = support::watchdog(support::watch("orders", &support::stopped_url()), Arc::new(store), &activation, "w1");
    for _ in 0..4 {
        let o = w.tick().await.remove(0);
        let e = o.error.expect("the tick must fail");
        assert!(e.starts_with("state store: "), "{e}");
        assert!(o.observation.is_none(), "nothing was probed or counted");
    }
    assert!(activation.epochs().is_empty());
}

#[tokio::test]
async fn failback_opens_a_new_epoch_for_the_next_outage() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(FileStore::new(dir.path().to_path_buf()));
    let activation = Activation::start().await;
    let primary = Primary::start().await;
    primary.set(UNHEALTHY);
    let w = support::watchdog(support::watch("orders", &primary.url), store.clone(), &activation, "w1");
    ticks(&w, 3).await;
    primary.set(HEALTHY);
    assert_eq!(ticks(&w, 3).await, "up->failedOver up->failedOver up->failedOver", "failback is never automatic");
    w.apply(&w.watches[0].clone(), Command::Failback { by: "ana".into() }).await.unwrap();
    assert_eq!(state(store.as_ref(), "orders").await.epoch, 2);
    primary.set(UNHEALTHY);
    let _ = ticks(&w, 3).await;
    // Within the default hold-down of an hour, the second outage is alerted but not activated.
    assert_eq!(activation.epochs(), [1]);
}
