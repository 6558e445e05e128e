//! Conditional requests (docs/api.md, "Conditional requests"). Every single-resource
//! response, and every page of a list, carries an `ETag` computed from the exact JSON it
//! sends, so the tag changes when anything in the representation changes, and only then.
//! `If-None-Match` on a `GET` with a current tag gives `304`; `If-Match` on a write with a tag
//! that is no longer current gives `412`. Writes check `If-Match` inside their transaction,
//! against the row they have locked, so the check and the write are one atomic step.

use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};

/// The strong entity tag of a JSON representation: a quoted 128-bit prefix of its SHA-256.
pub fn etag_of(json: &[u8]) -> String {
    let digest = Sha256::digest(json);
    format!("\"{}\"", hex::encode(&digest[..16]))
}

/// The tag of `json` as a header value.
pub fn etag_header(json: &[u8]) -> ApiResult<HeaderValue> {
    HeaderValue::try_from(etag_of(json)).map_err(|e| ApiError::Internal(e.into()))
}

/// The tag of `value` as the API would send it.
pub fn etag_of_value<T: Serialize>(value: &T) -> ApiResult<String> {
    Ok(etag_of(&to_json(value)?))
}

fn to_json<T: Serialize>(value: &T) -> ApiResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| ApiError::Internal(e.into()))
}

/// The request's `If-Match` and `If-None-Match` headers (every line of each, joined).
#[derive(Debug, Default, Clone)]
pub struct Preconditions {
    if_match: Option<String>,
    if_none_match: Option<String>,
}

impl Preconditions {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let joined = |name| {
            let values: Vec<&str> = headers
                .get_all(name)
                .iter()
                // A value that is not visible ASCII cannot name our tags: it matches nothing.
                .map(|value| value.to_str().unwrap_or("\"\u{0}\""))
                .collect();
            (!values.is_empty()).then(|| values.join(","))
        };
        Preconditions {
            if_match: joined(header::IF_MATCH),
            if_none_match: joined(header::IF_NONE_MATCH),
        }
    }

    pub fn has_if_match(&self) -> bool {
        self.if_match.is_some()
    }

    /// `412` unless `If-Match` is absent, `*`, or lists `current` (strong comparison: a weak
    /// tag never matches).
    pub fn check_if_match(&self, current: &str) -> ApiResult<()> {
        let Some(list) = &self.if_match else {
            return Ok(());
        };
        let matches = list
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag == current);
        if matches {
            Ok(())
        } else {
            Err(ApiError::PreconditionFailed(
                "The resource has changed since the version named in If-Match".into(),
            ))
        }
    }

    /// Whether `If-None-Match` lists `current` or is `*` (weak comparison, as for a `GET`).
    pub fn client_has_current(&self, current: &str) -> bool {
        let Some(list) = &self.if_none_match else {
            return false;
        };
        list.split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == current)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Preconditions {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Preconditions::from_headers(&parts.headers))
    }
}

/// One resource as JSON with its `ETag`; `304 Not Modified`, without a body, when the
/// client's `If-None-Match` already names it.
#[derive(Debug)]
pub struct JsonWithEtag {
    status: StatusCode,
    body: Bytes,
    etag: HeaderValue,
    not_modified: bool,
}

impl JsonWithEtag {
    pub fn new<T: Serialize>(status: StatusCode, value: &T) -> ApiResult<Self> {
        let body = to_json(value)?;
        let etag = etag_header(&body)?;
        Ok(JsonWithEtag {
            status,
            etag,
            body: body.into(),
            not_modified: false,
        })
    }

    pub fn ok<T: Serialize>(value: &T) -> ApiResult<Self> {
        Self::new(StatusCode::OK, value)
    }

    /// A `200` with JSON already serialised, and its tag (`etag_header`), as a list keeps its
    /// pages.
    pub fn kept(body: Bytes, etag: HeaderValue) -> Self {
        JsonWithEtag {
            status: StatusCode::OK,
            body,
            etag,
            not_modified: false,
        }
    }

    /// For a `GET`: answers `304` if the client has this version already.
    pub fn or_not_modified(mut self, preconditions: &Preconditions) -> Self {
        self.not_modified = self
            .etag
            .to_str()
            .is_ok_and(|etag| preconditions.client_has_current(etag));
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

impl IntoResponse for JsonWithEtag {
    fn into_response(self) -> Response {
        let etag = self.etag;
        if self.not_modified {
            return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
        }
        (
            self.status,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (header::ETAG, etag),
            ],
            self.body,
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(name: header::HeaderName, value: &str) -> Preconditions {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_str(value).unwrap());
        Preconditions::from_headers(&headers)
    }

    #[test]
    fn tags_follow_the_bytes() {
        assert_eq!(etag_of(b"{\"a\":1}"), etag_of(b"{\"a\":1}"));
        assert_ne!(etag_of(b"{\"a\":1}"), etag_of(b"{\"a\":2}"));
        assert_eq!(etag_of(b"x").len(), 34);
    }

    #[test]
    fn if_match_is_there_only_when_sent() {
        // A delete looks up what it needs for the tag only when there is one to check.
        assert!(!Preconditions::default().has_if_match());
        assert!(!with(header::IF_NONE_MATCH, "*").has_if_match());
        assert!(with(header::IF_MATCH, "*").has_if_match());
        assert!(with(header::IF_MATCH, "\"old\"").has_if_match());
    }

    #[test]
    fn if_match_is_strong_and_takes_lists_and_star() {
        let tag = etag_of(b"x");
        assert!(Preconditions::default().check_if_match(&tag).is_ok());
        assert!(with(header::IF_MATCH, "*").check_if_match(&tag).is_ok());
        assert!(
            with(header::IF_MATCH, &format!("\"old\", {tag}"))
                .check_if_match(&tag)
                .is_ok()
        );
        assert!(
            with(header::IF_MATCH, "\"old\"")
                .check_if_match(&tag)
                .is_err()
        );
        assert!(
            with(header::IF_MATCH, &format!("W/{tag}"))
                .check_if_match(&tag)
                .is_err()
        );
        assert!(
            with(header::IF_MATCH, "garbage")
                .check_if_match(&tag)
                .is_err()
        );
        assert!(with(header::IF_MATCH, "").check_if_match(&tag).is_err());
    }

    #[test]
    fn if_none_match_is_weak() {
        let tag = etag_of(b"x");
        assert!(!Preconditions::default().client_has_current(&tag));
        assert!(with(header::IF_NONE_MATCH, &tag).client_has_current(&tag));
        assert!(with(header::IF_NONE_MATCH, &format!("W/{tag}")).client_has_current(&tag));
        assert!(with(header::IF_NONE_MATCH, "*").client_has_current(&tag));
        assert!(!with(header::IF_NONE_MATCH, "\"other\"").client_has_current(&tag));
    }
    #[tokio::test]
    async fn the_extractor_reads_both_headers() {
        let (mut parts, ()) = axum::http::Request::builder()
            .header(header::IF_MATCH, "\"a\"")
            .header(header::IF_NONE_MATCH, "\"b\"")
            .body(())
            .unwrap()
            .into_parts();
        let Ok(preconditions) = Preconditions::from_request_parts(&mut parts, &()).await;
        assert!(preconditions.has_if_match());
        assert!(preconditions.check_if_match("\"a\"").is_ok());
        assert!(preconditions.check_if_match("\"b\"").is_err());
        assert!(preconditions.client_has_current("\"b\""));
    }

    async fn parts_of(response: Response) -> (StatusCode, HeaderMap, Bytes) {
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (parts.status, parts.headers, body)
    }

    #[tokio::test]
    async fn a_response_carries_its_status_body_and_tag() {
        let value = serde_json::json!({"id": 1, "name": "x"});
        let response = JsonWithEtag::new(StatusCode::CREATED, &value).unwrap();
        let json = serde_json::to_vec(&value).unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.body(), &Bytes::from(json.clone()));
        let (status, headers, body) = parts_of(response.into_response()).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(headers[header::ETAG], etag_of(&json).as_str());
        assert_eq!(body, json);
    }

    #[tokio::test]
    async fn a_current_tag_gives_304_without_a_body() {
        let value = serde_json::json!({"id": 1});
        let tag = etag_of(&serde_json::to_vec(&value).unwrap());
        let response = JsonWithEtag::ok(&value)
            .unwrap()
            .or_not_modified(&with(header::IF_NONE_MATCH, &tag));
        let (status, headers, body) = parts_of(response.into_response()).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert_eq!(headers[header::ETAG], tag.as_str());
        assert!(body.is_empty());
        let stale = JsonWithEtag::ok(&value)
            .unwrap()
            .or_not_modified(&with(header::IF_NONE_MATCH, "\"old\""));
        assert_eq!(stale.into_response().status(), StatusCode::OK);
    }
}
