//! The managed identity the bundle acts as. On Azure Functions the platform sets
//! `IDENTITY_ENDPOINT` and `IDENTITY_HEADER`; `azure_identity` reads them and fetches tokens
//! from that endpoint (tests point it at a local double of the same protocol).

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientOptions, RetryOptions};
use azure_identity::{ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId};

use crate::settings::Settings;

/// A credential, or why there is none (a call that needs a token then fails with that reason).
pub type Identity = Result<Arc<dyn TokenCredential>, String>;

/// Scope of tokens for the Azure Resource Manager.
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";

/// The credential to use, or why there is none.
///
/// Without `IDENTITY_ENDPOINT` this is not running under App Service, and the only other source
/// of a managed identity would be the VM metadata endpoint, which a Functions app never uses:
/// rather than probe it, report that no identity is available, so checks fail with a clear reason.
pub fn managed_identity(settings: &dyn Settings) -> Identity {
    if settings.get("IDENTITY_ENDPOINT").is_none() || settings.get("IDENTITY_HEADER").is_none() {
        return Err("no managed identity: IDENTITY_ENDPOINT and IDENTITY_HEADER are not set".to_owned());
    }
    let client_id = settings.get("AZURE_CLIENT_ID").filter(|v| !v.is_empty());
    let options = ManagedIdentityCredentialOptions {
        user_assigned_id: client_id.map(UserAssignedId::ClientId),
        client_options: ClientOptions {
            // Callers run under their own deadlines and retry on their own terms; the SDK's
            // default of nine retries over about 80 s would outlive any of them.
            retry: RetryOptions::none(),
            ..Default::default()
        },
    };
    let credential = ManagedIdentityCredential::new(Some(options)).map_err(|e| format!("managed identity: {e}"))?;
    Ok(credential)
}

/// The operator's own identity, for the CLI on a workstation: the Azure CLI's or the Azure
/// Developer CLI's signed-in account (`az login`), as `azure_identity` finds it.
pub fn operator() -> Result<Arc<dyn TokenCredential>, String> {
    let credential =
        azure_identity::DeveloperToolsCredential::new(None).map_err(|e| format!("developer credential: {e}"))?;
    Ok(credential)
}
