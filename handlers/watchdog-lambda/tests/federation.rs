//! No secret crosses clouds: the real `aws-sdk-sts` and `azure_identity` code paths exchange an
//! STS web identity token for a storage token, against local doubles of STS (SigV4 checked,
//! the Query API's XML) and of the Entra token endpoint (HTTPS, federated credentials checked).
//! Each refusal either side documents comes back to the operator by its code, and no secret
//! or token is in any error.

use std::time::Duration;

use azure_sim::{
    EntraDouble, EntraOptions, FederatedCredential, StsDouble, StsKey, StsOptions, TestAuthority, TokenRegistry,
};
use watchdog_lambda::federation::{AwsKeys, Federation, ENTRA_AUDIENCE};

const REGION: &str = "eu-central-1";
const TENANT: &str = "6f1c2b9e-3d4a-4e8b-9a7c-1b2c3d4e5f60";
const CLIENT: &str = "0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e";
const ROLE: &str = "arn:aws:iam::210987654321:role/bcdr-watchdog-lambda";
const STORAGE: &str = "https://storage.azure.com/.default";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSIMULATEDKEY";
const SESSION: &str = "IQoJb3JpZ2luX2VjEsimulated-session-token";

struct World {
    sts: StsDouble,
    entra: EntraDouble,
    tokens: TokenRegistry,
    ca: String,
}

fn key() -> StsKey {
    StsKey {
        access_key_id: "ASIASIMULATEDKEY0001".into(),
        secret_access_key: SECRET.into(),
        session_token: Some(SESSION.into()),
        role_arn: ROLE.into(),
    }
}

/// STS in `REGION` for the Lambda's role; Entra trusting that issuer and role for `CLIENT`
/// (`change` adjusts the federated credential).
async fn world(change: impl FnOnce(&mut FederatedCredential)) -> World {
    let sts = StsDouble::start(StsOptions::new(REGION, key())).await.unwrap();
    let authority = TestAuthority::new().unwrap();
    let tokens = TokenRegistry::new();
    let mut credential = FederatedCredential {
        client_id: CLIENT.into(),
        issuer: sts.issuer().issuer,
        subject: ROLE.into(),
        audience: ENTRA_AUDIENCE.into(),
    };
    change(&mut credential);
    let entra = EntraDouble::start(
        EntraOptions {
            tenant_id: TENANT.into(),
            credentials: vec![credential],
            issuers: vec![sts.issuer()],
            tokens: tokens.clone(),
            token_lifetime: Duration::from_secs(3600),
        },
        &authority,
    )
    .await
    .unwrap();
    World { sts, entra, tokens, ca: authority.ca_pem().to_owned() }
}

impl World {
    fn federation(&self) -> Federation {
        Federation {
            region: REGION.into(),
            sts_endpoint: Some(self.sts.endpoint().to_owned()),
            audience: ENTRA_AUDIENCE.into(),
            tenant_id: TENANT.into(),
            client_id: CLIENT.into(),
            authority_host: self.entra.authority_host().to_owned(),
            aws: AwsKeys {
                access_key_id: key().access_key_id,
                secret_access_key: SECRET.into(),
                session_token: Some(SESSION.into()),
            },
        }
    }

    /// A storage token through the exchange, or the error's text.
    async fn token(&self, federation: &Federation) -> Result<String, String> {
        let http = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(self.ca.as_bytes()).unwrap()])
            .build()
            .unwrap();
        let credential = federation.credential(Some(http))?;
        match credential.get_token(&[STORAGE], None).await {
            Ok(token) => Ok(token.token.secret().to_owned()),
            Err(e) => {
                let text = format!("{e:?} {e}");
                for secret in [SECRET, SESSION] {
                    assert!(!text.contains(secret), "an error carries a secret: {text}");
                }
                assert!(!text.contains("eyJ"), "an error carries the web identity token: {text}");
                Err(e.to_string())
            }
        }
    }
}

#[tokio::test]
async fn an_sts_token_becomes_a_storage_token_of_the_trusting_identity() {
    let w = world(|_| {}).await;
    let federation = w.federation();
    let credential = {
        let http = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(w.ca.as_bytes()).unwrap()])
            .build()
            .unwrap();
        federation.credential(Some(http)).unwrap()
    };
    let token = credential.get_token(&[STORAGE], None).await.unwrap();
    let issued = w.tokens.check(token.token.secret(), &["https://storage.azure.com"], chrono::Utc::now()).unwrap();
    assert_eq!(issued.client_id, CLIENT);
    // STS was asked once, for the Entra audience, as the Lambda's role, for a short-lived token.
    let asked: Vec<String> =
        w.sts.issued().iter().map(|i| format!("{:?} {} {}s", i.audience, i.subject, i.lifetime_s)).collect();
    assert_eq!(asked, [format!("[\"{ENTRA_AUDIENCE}\"] {ROLE} 300s")]);
    // The storage token is cached: a second tick asks neither side again.
    let again = credential.get_token(&[STORAGE], None).await.unwrap();
    assert_eq!(again.token.secret(), token.token.secret());
    assert_eq!((w.sts.calls().len(), w.entra.requests().len()), (1, 1));
}

/// The exchange with `change` applied to one side; the error text, or "ok".
async fn refusal(
    credential: impl FnOnce(&mut FederatedCredential),
    sts: impl FnOnce(&mut StsOptions),
    federation: impl FnOnce(&mut Federation),
) -> String {
    let w = world(credential).await;
    w.sts.configure(sts);
    let mut f = w.federation();
    federation(&mut f);
    match w.token(&f).await {
        Ok(_) => "ok".to_owned(),
        Err(e) => e,
    }
}

fn check(got: String, expect: &str) {
    assert!(got.contains(expect), "expected {expect:?} in: {got}");
}

#[tokio::test]
async fn refusals_name_their_cause() {
    // STS: the account has not enabled outbound identity federation.
    check(
        refusal(|_| {}, |s| s.federation_enabled = false, |_| {}).await,
        "OutboundWebIdentityFederationDisabledException",
    );
    // STS: the role's policy does not allow this audience (sts:IdentityTokenAudience).
    check(
        refusal(|_| {}, |s| s.allowed_audiences = Some(vec!["api://other".into()]), |_| {}).await,
        "AccessDenied: User: arn:aws:sts::210987654321:assumed-role/bcdr-watchdog-lambda/session is not authorized",
    );
    // STS: a wrong secret, or a request signed for another region, does not verify.
    check(refusal(|_| {}, |_| {}, |f| f.aws.secret_access_key = "wrong".into()).await, "SignatureDoesNotMatch");
    check(refusal(|_| {}, |_| {}, |f| f.region = "eu-west-1".into()).await, "SignatureDoesNotMatch");
    // STS: temporary credentials without their session token are not valid.
    check(refusal(|_| {}, |_| {}, |f| f.aws.session_token = None).await, "InvalidClientTokenId");
    // Entra: the identity trusts another role, another issuer, another audience.
    check(refusal(|c| c.subject = "arn:aws:iam::210987654321:role/other".into(), |_| {}, |_| {}).await, "AADSTS700213");
    check(refusal(|c| c.issuer = "https://elsewhere.example".into(), |_| {}, |_| {}).await, "AADSTS700211");
    check(refusal(|_| {}, |_| {}, |f| f.audience = "api://other".into()).await, "AADSTS700212");
    // Entra: no such identity in the tenant; no such tenant.
    check(
        refusal(|_| {}, |_| {}, |f| f.client_id = "11111111-2222-3333-4444-555555555555".into()).await,
        "AADSTS700016",
    );
    check(
        refusal(|_| {}, |_| {}, |f| f.tenant_id = "00000000-0000-0000-0000-000000000000".into()).await,
        "AADSTS90002",
    );
    // Entra: an assertion from an issuer it trusts but signed by another key.
    let w = world(|_| {}).await;
    let forger = w.sts.issuer().forger();
    w.sts.configure(|s| s.issuer = forger);
    check(w.token(&w.federation()).await.unwrap_err(), "AADSTS700027");
}

#[test]
fn the_settings_are_checked_before_anything_starts() {
    use bcdr_core::settings::{Reader, SettingsMap};
    let read = |pairs: &[(&str, &str)]| {
        let settings = SettingsMap::new(pairs.iter().copied());
        let mut r = Reader::new(&settings);
        let f = Federation::from_settings(&mut r);
        match r.finish(f) {
            Ok(Some(f)) => format!("{f:?}"),
            Ok(None) => unreachable!("a missing value is a problem"),
            Err(e) => e.to_string(),
        }
    };
    let good = [
        ("AWS_REGION", REGION),
        ("AWS_ACCESS_KEY_ID", "ASIASIMULATEDKEY0001"),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_SESSION_TOKEN", SESSION),
        ("BCDR_AZURE_TENANT_ID", TENANT),
        ("AZURE_CLIENT_ID", CLIENT),
    ];
    let shown = read(&good);
    assert_eq!(
        shown,
        format!("Federation {{ region: \"{REGION}\", sts_endpoint: None, audience: \"{ENTRA_AUDIENCE}\", tenant_id: \"{TENANT}\", client_id: \"{CLIENT}\", authority_host: \"https://login.microsoftonline.com\", access_key_id: \"ASIASIMULATEDKEY0001\", .. }}")
    );
    let mut bad = good.to_vec();
    bad.retain(|(k, _)| *k != "AZURE_CLIENT_ID");
    bad.push(("BCDR_STS_ENDPOINT", "https://sts.amazonaws.com"));
    bad.push(("BCDR_AUTHORITY_HOST", "http://login.example"));
    assert_eq!(
        read(&bad),
        "invalid configuration (3 problems)\n  \
         - BCDR_STS_ENDPOINT = \"https://sts.amazonaws.com\": the global STS endpoint does not offer GetWebIdentityToken: use the regional one (or leave it unset)\n  \
         - AZURE_CLIENT_ID: required: the client id of the Azure identity whose federated credential trusts this Lambda's role\n  \
         - BCDR_AUTHORITY_HOST = \"http://login.example\": expected an https URL"
    );
}
