//! No secret reaches an error text from the watchdog's own client, the prober: it sends a secret
//! in its query string and in its function key against a closed port, a server that hangs, and
//! servers that answer 4xx and 5xx quoting the request line back. The core's clients (the signed
//! activation request among them) are checked the same way in `bcdr-core/tests/outbound.rs`.

mod support;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use watchdog::{HttpProber, Prober};

const SECRET: &str = "S3CRET";

/// A server on `127.0.0.1:0` that hangs (`None`) or answers `status` quoting the request line,
/// or (`Some(0)`) a port nothing listens on.
async fn far_side(status: Option<u16>) -> String {
    if status == Some(0) {
        return support::stopped_url().trim_end_matches('/').to_owned();
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            let Some(status) = status else {
                held.push(stream);
                continue;
            };
            tokio::spawn(async move {
                // Read the head and any body, so closing does not reset the connection.
                let mut bytes = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = stream.read(&mut buf).await {
                    bytes.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&bytes);
                    let Some(end) = text.find("\r\n\r\n") else { continue };
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if bytes.len() >= end + 4 + length {
                        break;
                    }
                }
                let head = String::from_utf8_lossy(&bytes).into_owned();
                let body = format!("no route for {}", head.lines().next().unwrap_or_default());
                let answer = format!(
                    "HTTP/1.1 {status} Nope\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    base
}

#[tokio::test]
async fn secrets_never_reach_probe_errors() {
    let mut seen = Vec::new();
    for fault in [Some(0), None, Some(401), Some(502)] {
        let base = far_side(fault).await;
        let mut watch = support::watch("orders", &format!("{base}/api/health?code={SECRET}"));
        watch.policy.probe_timeout_ms = 300;
        let probed = HttpProber::new(Some(SECRET.to_owned())).observe(&watch).await;
        let text = format!("{probed:?}");
        assert!(!text.contains(SECRET) && !text.contains(&base), "probe against {fault:?}: {text}");
        seen.push(format!("{fault:?} probe: {text}"));
    }
    let shown = seen.join("\n");
    for expect in [
        r#"Some(0) probe: Down { reason: "no answer in 1 attempt (last: cannot connect: Connection refused)" }"#,
        r#"None probe: Down { reason: "no answer in 1 attempt (last: timed out)" }"#,
        r#"Some(502) probe: Down { reason: "no answer in 1 attempt (last: status 502 without a health report)" }"#,
    ] {
        assert!(seen.iter().any(|s| s == expect), "missing {expect:?} in\n{shown}");
    }
}
