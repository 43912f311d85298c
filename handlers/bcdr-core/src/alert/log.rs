//! The sink that always runs: one structured log event per alert. The handlers print JSON lines,
//! the Functions host ships them to Application Insights, and an Azure Monitor log alert rule
//! keyed on `event == "alert"` still pages someone when every webhook is down.

use async_trait::async_trait;

use super::{Alert, AlertError, AlertSink, Severity};

/// Logs alerts at target `alert` with the fields `event="alert"`, `watch`, `severity`, `kind`,
/// `epoch`, `title`, `text` and `fields` (the alert's fields as a JSON object in a string).
/// Critical alerts log at error level, so the host records them as errors too.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogSink;

impl LogSink {
    pub fn log(alert: &Alert) {
        let fields = serde_json::to_string(&alert.fields).unwrap_or_default();
        // The level of a tracing event is fixed per call site, hence one call per severity.
        macro_rules! emit {
            ($level:ident) => {
                tracing::$level!(
                    target: "alert",
                    event = "alert",
                    watch = %alert.watch,
                    severity = alert.severity.label(),
                    kind = %alert.kind,
                    epoch = alert.epoch,
                    title = %alert.title,
                    text = %alert.text,
                    fields = %fields,
                    "{}",
                    alert.title
                )
            };
        }
        match alert.severity {
            Severity::Critical => emit!(error),
            Severity::Warning => emit!(warn),
            Severity::Info => emit!(info),
        }
    }
}

#[async_trait]
impl AlertSink for LogSink {
    fn name(&self) -> &str {
        "log"
    }

    async fn send(&self, alert: &Alert) -> Result<(), AlertError> {
        Self::log(alert);
        Ok(())
    }
}
