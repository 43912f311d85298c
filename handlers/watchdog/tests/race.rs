//! Of several watchers racing on one watch's state in Azure Blob Storage (Azurite), exactly one
//! asks for activation: the claim (epoch + 1) is a conditional write, so only one watcher's
//! claim lands and only that watcher calls. Run over 200 seeded interleavings, made different
//! by random delays around every store operation and between ticks.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use azure_sim::azurite;
use bcdr_core::alert::Alerter;
use bcdr_core::record::state_key;
use bcdr_core::store::{BlobAuth, BlobStore, ETag, Expect, StateStore, StoreError, Versioned};
use bcdr_core::watch::WatchState;
use support::{Activation, Primary, SECRET, UNHEALTHY};
use watchdog::{HttpProber, SignedActivation, Watchdog};

const INTERLEAVINGS: u64 = 200;
const WATCHERS: usize = 3;
const TICKS: usize = 6;
/// Interleavings run this many at a time.
const BATCH: u64 = 10;

/// A seeded source of small delays (splitmix64), so a failing interleaving can be replayed.
struct Jitter(Mutex<u64>);

impl Jitter {
    fn new(seed: u64) -> Self {
        Jitter(Mutex::new(seed))
    }

    fn next(&self) -> u64 {
        let mut s = self.0.lock().unwrap();
        *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    async fn pause(&self) {
        let us = self.next() % 3_000;
        tokio::time::sleep(Duration::from_micros(us)).await;
    }
}

/// The real blob store with random pauses before and after each call.
struct Jittered {
    inner: BlobStore,
    jitter: Jitter,
}

#[async_trait]
impl StateStore for Jittered {
    async fn load(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        self.jitter.pause().await;
        let r = self.inner.load(key).await;
        self.jitter.pause().await;
        r
    }
    async fn save(&self, key: &str, bytes: &[u8], expect: &Expect) -> Result<ETag, StoreError> {
        self.jitter.pause().await;
        let r = self.inner.save(key, bytes, expect).await;
        self.jitter.pause().await;
        r
    }
    async fn append(&self, key: &str, record: &[u8]) -> Result<(), StoreError> {
        self.jitter.pause().await;
        self.inner.append(key, record).await
    }
    async fn read_log(&self, key: &str, max_bytes: Option<u64>) -> Result<Vec<u8>, StoreError> {
        self.inner.read_log(key, max_bytes).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_activation_per_epoch_across_racing_watchers() {
    let azurite = azurite::Azurite::start();
    let container = azurite.container_url("race");
    let primary = Primary::start().await;
    primary.set(UNHEALTHY);
    let activation = Activation::start().await;
    let auth = || BlobAuth::SharedKey { account: azurite::ACCOUNT.into(), key_base64: azurite::KEY.into() };
    BlobStore::new(&container, auth()).unwrap().ensure_container().await.unwrap();

    let mut failed_ticks = 0;
    for batch in 0..INTERLEAVINGS / BATCH {
        let mut runs = Vec::new();
        for i in batch * BATCH..(batch + 1) * BATCH {
            // Half the watches need one vote, half a quorum of two out of three.
            let required = if i % 2 == 0 { 1 } else { 2 };
            let watch: bcdr_core::plan::Watch = serde_json::from_value(serde_json::json!({
                "name": format!("race-{i}"),
                "target": primary.url,
                "policy": {"failureThreshold": 3, "probeTimeoutMs": 1000, "probeAttempts": 1, "confirmEveryMs": 0,
                           "quorum": {"required": required, "watchers": WATCHERS}}
            }))
            .unwrap();
            for k in 0..WATCHERS {
                let seed = i * 1_000 + k as u64;
                let w = Watchdog {
                    watches: vec![watch.clone()],
                    store: Arc::new(Jittered {
                        inner: BlobStore::new(&container, auth()).unwrap(),
                        jitter: Jitter::new(seed),
                    }),
                    prober: Arc::new(HttpProber::new(None)),
                    activation: Arc::new(SignedActivation::new(
                        activation.url.parse().unwrap(),
                        None,
                        SECRET.as_bytes().to_vec(),
                        Duration::from_secs(5),
                    )),
                    alerter: Alerter::new(Vec::new(), Duration::from_secs(1)),
                    watcher: format!("w{k}"),
                    interval: Duration::from_secs(60),
                };
                let pacing = Jitter::new(seed ^ 0xABCD);
                runs.push(tokio::spawn(async move {
                    let mut unavailable = 0;
                    for _ in 0..TICKS {
                        pacing.pause().await;
                        for o in w.tick().await {
                            // A store that drops a connection fails that tick, loudly and without
                            // counting; the design's answer is the next tick. Anything else is a bug.
                            match &o.error {
                                None => {}
                                Some(e) if e.contains("unavailable") => unavailable += 1,
                                Some(_) => panic!("seed {seed}: {}", o.summary()),
                            }
                        }
                    }
                    unavailable
                }));
            }
        }
        for r in runs {
            failed_ticks += r.await.unwrap();
        }
    }
    println!("{failed_ticks} ticks of {} met an unavailable store", INTERLEAVINGS as usize * WATCHERS * TICKS);

    let requests = activation.requests.lock().unwrap().clone();
    let reader = BlobStore::new(&container, auth()).unwrap();
    for i in 0..INTERLEAVINGS {
        let name = format!("race-{i}");
        let epochs: Vec<u64> = requests.iter().filter(|r| r.watch == name).map(|r| r.epoch).collect();
        assert_eq!(epochs, [1], "watch {name}: activation requests by epoch");
        let state: WatchState =
            serde_json::from_slice(&reader.load(&state_key(&name)).await.unwrap().unwrap().bytes).unwrap();
        assert_eq!((state.epoch, state.phase.label()), (1, "failedOver"), "watch {name}");
    }
    assert_eq!(requests.len() as u64, INTERLEAVINGS);
}
