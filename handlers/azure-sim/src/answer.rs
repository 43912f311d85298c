//! What a double answers: status, headers and an optional JSON body, and ARM's error shape.
//!
//! The doubles decide on an `Answer` without touching warp, so the decisions stay plain data;
//! it becomes an HTTP response only at the edge.

use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::{json, Value};
use warp::Reply;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Value>,
    /// A body that is not JSON, with its content type.
    pub raw: Option<(&'static str, String)>,
}

impl Answer {
    pub fn json(status: u16, body: Value) -> Self {
        Self { status, headers: Vec::new(), body: Some(body), raw: None }
    }

    pub fn empty(status: u16) -> Self {
        Self { status, headers: Vec::new(), body: None, raw: None }
    }

    pub fn raw(status: u16, content_type: &'static str, body: impl Into<String>) -> Self {
        Self { status, headers: Vec::new(), body: None, raw: Some((content_type, body.into())) }
    }

    /// Microsoft.Web's own error shape: PascalCase at the top level, the message again in
    /// `Details`, with an `ErrorEntity` carrying an extended code.
    pub fn web_error(status: u16, code: &str, message: &str, extended_code: &str) -> Self {
        Self::json(
            status,
            json!({
                "Code": code,
                "Message": message,
                "Target": null,
                "Details": [
                    {"Message": message},
                    {"Code": code},
                    {"ErrorEntity": {"ExtendedCode": extended_code, "MessageTemplate": message, "Parameters": [],
                                     "Code": code, "Message": message}}
                ],
                "Innererror": null
            }),
        )
    }

    /// ARM's error envelope, the same for every resource provider and for ARM itself.
    pub fn arm_error(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self::json(status, json!({ "error": { "code": code, "message": message.into() } }))
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn into_response(self) -> warp::reply::Response {
        let mut response = match (&self.body, &self.raw) {
            (_, Some((content_type, text))) => {
                let mut response = text.clone().into_response();
                if let Ok(value) = HeaderValue::from_str(content_type) {
                    response.headers_mut().insert(http::header::CONTENT_TYPE, value);
                }
                response
            }
            (Some(body), None) => {
                let mut response = body.to_string().into_response();
                response
                    .headers_mut()
                    .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
                response
            }
            (None, None) => warp::reply().into_response(),
        };
        *response.status_mut() = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        for (name, value) in self.headers {
            // Header values come from the double itself (URLs, numbers, ids), so a value that
            // does not fit in a header is a bug here, not something a caller could cause.
            if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value)) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}
