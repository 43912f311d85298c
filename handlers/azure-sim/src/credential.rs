//! A credential for in-process use of the doubles: it hands out tokens that the identity
//! double's registry issued, so the ARM double accepts them, without going through the
//! managed-identity endpoint (whose real client is configured by environment variables).

use std::time::Duration;

use async_trait::async_trait;
use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::time::OffsetDateTime;

use crate::token::TokenRegistry;

/// Tokens from `registry` for the ARM resource, as `client_id`.
#[derive(Debug, Clone)]
pub struct RegistryCredential {
    registry: TokenRegistry,
    client_id: String,
}

impl RegistryCredential {
    pub fn new(registry: TokenRegistry, client_id: impl Into<String>) -> Self {
        Self { registry, client_id: client_id.into() }
    }
}

#[async_trait]
impl TokenCredential for RegistryCredential {
    async fn get_token(&self, _scopes: &[&str], _: Option<TokenRequestOptions<'_>>) -> azure_core::Result<AccessToken> {
        let issued = self.registry.issue("https://management.azure.com", &self.client_id, Duration::from_secs(3600));
        let expires = OffsetDateTime::from_unix_timestamp(issued.expires_on.timestamp()).expect("a valid time");
        Ok(AccessToken::new(issued.token, expires))
    }
}
