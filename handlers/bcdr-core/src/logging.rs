//! Logging for the handlers: JSON lines when the Functions host reads the output, plain text on
//! a terminal. The host logs stdout lines as Information and stderr lines as Error, so errors go
//! to stderr and everything else to stdout.

use std::io::IsTerminal;

use tracing::Level;
use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; `RUST_LOG` narrows or widens it (default `info`).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let writer = std::io::stderr.with_max_level(Level::ERROR).or_else(std::io::stdout);
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    if std::io::stdout().is_terminal() {
        builder.with_target(false).init();
    } else {
        builder.json().flatten_event(true).with_current_span(false).init();
    }
}
