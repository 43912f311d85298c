//! The shared core of the failover bundle: the plan, settings, the custom-handler runtime, the
//! health evaluation and the Azure clients. The binaries in `handlers/` are thin shells over it.

pub mod activation_client;
pub mod alert;
pub mod arm;
pub mod failover;
pub mod health;
pub mod identity;
pub mod invocation;
pub mod logging;
pub mod outbound;
pub mod plan;
pub mod prober;
pub mod record;
pub mod resource_id;
pub mod runtime;
pub mod schedule;
pub mod settings;
pub mod signature;
pub mod store;
pub mod watch;
