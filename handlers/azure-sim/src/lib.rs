//! Simulated Azure: local doubles of ARM and the App Service managed-identity endpoint.
//!
//! Nothing here talks to Azure. Each double is a small HTTP server on `127.0.0.1:<random port>`
//! that answers the way the real service does on the wire (paths, api-versions, headers, error
//! bodies, long-running operations), so the production clients can be pointed at it unchanged:
//!
//! - [`IdentityDouble`] is the App Service / Azure Functions managed-identity endpoint
//!   (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`), as `azure_identity::ManagedIdentityCredential`
//!   calls it.
//! - [`ArmDouble`] is Azure Resource Manager for the resource types the failover bundle touches:
//!   Logic Apps (Consumption) workflows and their runs, App Service sites and their app settings,
//!   Traffic Manager endpoints, Front Door (Standard/Premium) origins and API Management backends
//!   (with ETags and `If-Match`), plus a generic read of any resource seeded with
//!   [`ArmDouble::put_resource`].
//!
//! The two share a [`TokenRegistry`]: the ARM double can be told to accept only bearer tokens
//! that the identity double issued for ARM and that have not expired, and it records which
//! identity (client id) made each call.
//!
//! Both doubles record what they receive and take fault injections (throttling, errors, slow
//! and hung answers, accepted-then-polled operations), so tests can check what a client sent and
//! how it copes. Each double stops serving when it is dropped.
//!
//! Two doubles stand for AWS, for the watcher that runs on Lambda: [`RuntimeApiDouble`] is the
//! Lambda Runtime API the `bootstrap` polls, and [`StsDouble`] is STS `GetWebIdentityToken`,
//! whose JWT [`EntraDouble`] (the Entra ID token endpoint) exchanges for a storage token.
//!
//! [`azurite`] is the exception: it launches the real Azure Storage emulator (Azurite, on Node.js)
//! for the state store's tests, not a double.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use azure_sim::{ArmDouble, ArmOptions, IdentityDouble, IdentityOptions};
//!
//! let identity = IdentityDouble::start(IdentityOptions::default()).await?;
//! let arm = ArmDouble::start(ArmOptions {
//!     tokens: Some(identity.tokens()),
//!     ..ArmOptions::default()
//! })
//! .await?;
//! arm.add_logic_app(
//!     "/subscriptions/s1/resourceGroups/rg-west/providers/Microsoft.Logic/workflows/orders",
//!     "Enabled",
//!     "westeurope",
//! );
//! // Point the code under test at identity.endpoint(), identity.header_secret() and
//! // arm.base_url(), run it, then look at arm.calls() and arm.resource(..).
//! # Ok(())
//! # }
//! ```

mod answer;
pub mod arm;
pub mod azurite;
mod credential;
pub mod entra;
pub mod identity;
pub mod lambda_runtime_api;
mod server;
pub mod sts;
pub mod tls;
mod token;

pub use arm::{
    ArmDouble, ArmOptions, Call, Fault, Feed, Grant, Matcher, NativeAsync, PollingTrigger, SourceItem, SourceReport,
};
pub use credential::RegistryCredential;
pub use entra::{EntraDouble, EntraOptions, EntraRequest, FederatedCredential};
pub use identity::{IdentityDouble, IdentityOptions, IdentityRequest};
pub use lambda_runtime_api::{InvocationOutcome, RuntimeApiDouble, RuntimeCall};
pub use sts::{JwtIssuer, StsDouble, StsKey, StsOptions};
pub use tls::TestAuthority;
pub use token::{IssuedToken, TokenRegistry, TokenRejection};

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks a double's state, ignoring poisoning: a test that panics while holding the lock must
/// not turn every later request into a second, misleading panic.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
