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
}

impl Answer {
    pub fn json(status: u16, body: Value) -> Self {
        Self { status, headers: Vec::new(), body: Some(body) }
    }

    pub fn empty(status: u16) -> Self {
        Self { status, headers: Vec::new(), body: None }
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
        let mut response = match &self.body {
            Some(body) => {
                let mut response = body.to_string().into_response();
                response
                    .headers_mut()
                    .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
                response
            }
            None => warp::reply().into_response(),
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
