//! A certificate authority for the simulation, made fresh for each run: the doubles that must
//! be reached over HTTPS (the Entra token endpoint: `azure_identity` refuses any other scheme)
//! serve a certificate for `127.0.0.1` and `localhost` it signs, and tests trust only it.

use std::convert::Infallible;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::server::stopped;

/// The simulation's CA and the server certificate it issued.
pub struct TestAuthority {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for TestAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestAuthority").finish_non_exhaustive()
    }
}

impl TestAuthority {
    pub fn new() -> Result<Self, String> {
        let fail = |e: rcgen::Error| format!("cannot make the simulation's certificates: {e}");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "bcdr simulation CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(fail)?).map_err(fail)?;
        let key = KeyPair::generate().map_err(fail)?;
        let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).map_err(fail)?;
        params.distinguished_name.push(DnType::CommonName, "127.0.0.1");
        let cert = params.signed_by(&key, &ca).map_err(fail)?;
        let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .map_err(|e| format!("the simulation's server certificate: {e}"))?;
        Ok(TestAuthority {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// The CA certificate (PEM) that clients must trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The server certificate and its key (PEM), for servers started outside this crate.
    pub fn server_pem(&self) -> (&str, &str) {
        (&self.cert_pem, &self.key_pem)
    }

    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.clone()
    }
}

/// What an HTTPS double answers a request with.
pub(crate) type Handler = Arc<dyn Fn(http::Request<Bytes>) -> http::Response<Full<Bytes>> + Send + Sync>;

/// Serves `handler` over TLS on `listener` until `stop` turns true.
pub(crate) fn serve(listener: TcpListener, acceptor: TlsAcceptor, handler: Handler, stop: watch::Receiver<bool>) {
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = stopped(stop.clone()) => return,
            };
            let Ok((stream, _)) = accepted else { continue };
            let (acceptor, handler) = (acceptor.clone(), handler.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else { return };
                let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let handler = handler.clone();
                    async move {
                        let (parts, body) = request.into_parts();
                        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        Ok::<_, Infallible>(handler(http::Request::from_parts(parts, body)))
                    }
                });
                let _ = http1::Builder::new().serve_connection(TokioIo::new(tls), service).await;
            });
        }
    });
}

/// Binds a free loopback port.
pub(crate) async fn bind() -> io::Result<(TcpListener, std::net::SocketAddr)> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}
