//! The shared core of the failover bundle: the plan, settings, the custom-handler runtime, the
//! health evaluation and the Azure clients. The binaries in `handlers/` are thin shells over it.

pub mod arm;
pub mod health;
pub mod identity;
pub mod invocation;
pub mod logging;
pub mod plan;
pub mod resource_id;
pub mod runtime;
pub mod settings;
