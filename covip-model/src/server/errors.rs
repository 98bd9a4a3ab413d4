//! The OpenAI error object, `{"error": {"message", "type", "param", "code"}}`, with the HTTP
//! status that goes with it. Every failure a client can cause becomes one of these; none
//! reaches a panic.
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// One client-visible failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// The request field the error is about (`temperature`, `messages[1].content[0]`, …).
    pub param: Option<String>,
    /// Seconds a client should wait before retrying (503 only).
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// 400 about `param`.
    pub fn bad(param: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            param: Some(param.into()),
            retry_after: None,
        }
    }

    /// 400 about the request as a whole.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            param: None,
            retry_after: None,
        }
    }

    pub fn not_found(param: Option<&str>, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
            param: param.map(str::to_string),
            retry_after: None,
        }
    }

    pub fn unauthorized() -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: "invalid or missing API key: send `Authorization: Bearer <key>` with the \
                      key the server was started with (--api-key)"
                .into(),
            param: None,
            retry_after: None,
        }
    }

    pub fn too_large(limit: usize) -> Self {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!(
                "the request body is larger than the server's limit of {limit} bytes \
                 (--max-body-bytes)"
            ),
            param: None,
            retry_after: None,
        }
    }

    pub fn overloaded() -> Self {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "the server's request queue is full (--max-queue); retry shortly".into(),
            param: None,
            retry_after: Some(1),
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: message.into(),
            param: None,
            retry_after: None,
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
            param: None,
            retry_after: None,
        }
    }

    /// OpenAI's `type` for this status.
    pub fn kind(&self) -> &'static str {
        match self.status {
            StatusCode::UNAUTHORIZED => "authentication_error",
            StatusCode::NOT_FOUND => "not_found_error",
            StatusCode::SERVICE_UNAVAILABLE => "service_unavailable_error",
            s if s.is_server_error() => "server_error",
            _ => "invalid_request_error",
        }
    }

    /// The error object's JSON.
    pub fn body(&self) -> serde_json::Value {
        json!({
            "error": {
                "message": self.message,
                "type": self.kind(),
                "param": self.param,
                "code": self.status.as_u16(),
            }
        })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(self.body())).into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

/// Parses a JSON request body as `T`; a syntax error says where, a type error names the
/// field by its path (`messages[0].role`, `temperature`).
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // serde would take a struct from a JSON array too, with errors that name no field.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object ({\"messages\": …} or {\"prompt\": …})",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let value = match parsed {
        Ok(v) => v,
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(ApiError::bad_request(format!(
                    "the request body is not valid JSON: {inner}"
                )));
            }
            // A missing field is reported at its parent's path: name it from the message.
            let param = if path == "." || path.is_empty() {
                missing_field(&inner.to_string())
            } else {
                Some(path)
            };
            let message = match &param {
                Some(p) => format!("{p}: {inner}"),
                None => format!("invalid request: {inner}"),
            };
            return Err(ApiError {
                param,
                ..ApiError::bad_request(message)
            });
        }
    };
    de.end()
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))?;
    Ok(value)
}

/// The field named by serde's "missing field `x`" message.
fn missing_field(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("missing field `")?;
    Some(rest[..rest.find('`')?].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct T {
        a: Vec<Inner>,
        b: Option<f64>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        role: String,
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse_json::<T>(br#"{"a": [], "b": "x"}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("b"), "{e}");
        let e = parse_json::<T>(br#"{"a": [{"role": 1}]}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("a[0].role"), "{e}");
        let e = parse_json::<T>(br#"{"b": 1}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("a"), "{e}");
        let e = parse_json::<T>(br#"[[], 1]"#).unwrap_err();
        assert!(e.message.contains("JSON object"), "{e}");
        let e = parse_json::<T>(br#"{"a": [}"#).unwrap_err();
        assert!(e.message.contains("not valid JSON"), "{e}");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let v = e.body();
        assert_eq!(v["error"]["code"], 400);
        assert_eq!(v["error"]["type"], "invalid_request_error");
    }
}
