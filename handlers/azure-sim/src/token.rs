//! The registry of access tokens the identity double issued, shared with the ARM double.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::lock;

/// One access token handed out by the identity double.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The opaque bearer token.
    pub token: String,
    /// The resource (audience) it was issued for, as requested, e.g. `https://management.azure.com`.
    pub resource: String,
    /// The client id of the identity it was issued to.
    pub client_id: String,
    /// When it stops being accepted.
    pub expires_on: DateTime<Utc>,
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRejection {
    /// The token was never issued by the identity double.
    Unknown,
    /// The token was issued but its lifetime is over.
    Expired {
        /// When it expired.
        expires_on: DateTime<Utc>,
    },
    /// The token was issued for another resource (for example storage instead of ARM).
    WrongAudience {
        /// The resource it was issued for.
        resource: String,
    },
}

/// Tokens issued so far, shared (cheaply cloned) between the identity double and the ARM double.
#[derive(Debug, Clone, Default)]
pub struct TokenRegistry {
    tokens: Arc<Mutex<HashMap<String, IssuedToken>>>,
}

impl TokenRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Issues a new token for `resource` to the identity `client_id`, valid for `lifetime`.
    ///
    /// The identity double calls this; tests may call it too, to get a valid token without HTTP.
    pub fn issue(&self, resource: &str, client_id: &str, lifetime: Duration) -> IssuedToken {
        let lifetime = TimeDelta::from_std(lifetime).unwrap_or(TimeDelta::MAX);
        // Real tokens carry whole seconds (`expires_on` is Unix seconds), so drop the fraction
        // here too: what the registry holds is exactly what the client was told.
        let expires_on = Utc::now().checked_add_signed(lifetime).unwrap_or(DateTime::<Utc>::MAX_UTC);
        let expires_on = DateTime::from_timestamp(expires_on.timestamp(), 0).unwrap_or(DateTime::<Utc>::MAX_UTC);
        let issued = IssuedToken {
            token: format!("sim-{}", uuid::Uuid::new_v4().simple()),
            resource: resource.to_owned(),
            client_id: client_id.to_owned(),
            expires_on,
        };
        lock(&self.tokens).insert(issued.token.clone(), issued.clone());
        issued
    }

    /// Issues a token whose text `make` writes from its expiry (for example a JWT carrying it),
    /// for `resource` to `client_id`, valid for `lifetime`.
    pub fn issue_with(
        &self,
        resource: &str,
        client_id: &str,
        lifetime: Duration,
        make: impl FnOnce(DateTime<Utc>) -> String,
    ) -> IssuedToken {
        let mut issued = self.issue(resource, client_id, lifetime);
        let mut tokens = lock(&self.tokens);
        tokens.remove(&issued.token);
        issued.token = make(issued.expires_on);
        tokens.insert(issued.token.clone(), issued.clone());
        issued
    }

    /// Checks `token` against the accepted `audiences` (compared ignoring case and a trailing
    /// slash, as Entra ID does) at time `now`.
    pub fn check(&self, token: &str, audiences: &[&str], now: DateTime<Utc>) -> Result<IssuedToken, TokenRejection> {
        let issued = lock(&self.tokens).get(token).cloned().ok_or(TokenRejection::Unknown)?;
        if !audiences.iter().any(|audience| same_audience(audience, &issued.resource)) {
            return Err(TokenRejection::WrongAudience { resource: issued.resource });
        }
        if issued.expires_on <= now {
            return Err(TokenRejection::Expired { expires_on: issued.expires_on });
        }
        Ok(issued)
    }

    /// Every token issued so far, in no particular order.
    pub fn issued(&self) -> Vec<IssuedToken> {
        lock(&self.tokens).values().cloned().collect()
    }

    /// Makes every token issued so far expired, as if their lifetime had passed.
    ///
    /// Lets tests exercise expiry without waiting or reading a clock.
    pub fn expire_all(&self) {
        let past = Utc::now() - TimeDelta::seconds(1);
        for issued in lock(&self.tokens).values_mut() {
            issued.expires_on = past;
        }
    }
}

fn same_audience(a: &str, b: &str) -> bool {
    a.trim_end_matches('/').eq_ignore_ascii_case(b.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARM: &[&str] = &["https://management.azure.com"];

    #[test]
    fn issued_tokens_are_accepted_until_they_expire() {
        let registry = TokenRegistry::new();
        let issued = registry.issue("https://management.azure.com/", "c1", Duration::from_secs(60));
        assert_eq!(registry.check(&issued.token, ARM, Utc::now()), Ok(issued.clone()));
        let later = issued.expires_on + TimeDelta::seconds(1);
        assert_eq!(
            registry.check(&issued.token, ARM, later),
            Err(TokenRejection::Expired { expires_on: issued.expires_on })
        );
    }

    #[test]
    fn unknown_and_wrong_audience_tokens_are_refused() {
        let registry = TokenRegistry::new();
        let storage = registry.issue("https://storage.azure.com", "c1", Duration::from_secs(60));
        assert_eq!(registry.check("made-up", ARM, Utc::now()), Err(TokenRejection::Unknown));
        assert_eq!(
            registry.check(&storage.token, ARM, Utc::now()),
            Err(TokenRejection::WrongAudience { resource: "https://storage.azure.com".into() })
        );
    }

    #[test]
    fn expire_all_ends_every_token() {
        let registry = TokenRegistry::new();
        let issued = registry.issue("https://management.azure.com", "c1", Duration::from_secs(3600));
        registry.expire_all();
        assert!(matches!(registry.check(&issued.token, ARM, Utc::now()), Err(TokenRejection::Expired { .. })));
    }
}
