//! Extractors whose rejections render the API's error shape: a JSON object body (and the
//! request types read from one), query strings, integer path ids (anything else is `404`,
//! as Flask's `int` converter does) and the bearer token. The authenticated caller is
//! `users::AuthUser`.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use crate::error::{ApiError, bad_request, not_found, unauthorized};
use crate::state::AppState;
use crate::validation::{FieldReport, FromJsonObject, FromQueryString, QueryString, QueryValue};

/// Flask's message for a URL that matches nothing.
pub const NOT_FOUND_MESSAGE: &str = "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.";

/// A request body that is a JSON object, sent as `application/json`.
pub struct JsonObject(pub Map<String, Value>);

impl FromRequest<AppState> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        read_json_object(req, state)
            .await?
            .map(JsonObject)
            .ok_or_else(|| bad_request("The request body must be a JSON object"))
    }
}

/// A request body of type `T`, parsed and validated (every bad field reported at once).
pub struct ValidJson<T>(pub T);

impl<T: FromJsonObject> FromRequest<AppState> for ValidJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let JsonObject(body) = JsonObject::from_request(req, state).await?;
        T::from_object(body, &state.parse_context()).map(ValidJson)
    }
}

/// A body that may be left out: `None` when there is no body at all; a body that is there
/// must be a JSON object, checked as `JsonObject` checks it.
pub struct MaybeJsonObject(pub Option<Map<String, Value>>);

impl FromRequest<AppState> for MaybeJsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        read_json_object(req, state).await.map(MaybeJsonObject)
    }
}

/// The query string read as `T` (every bad parameter reported at once).
pub struct ValidQuery<T>(pub T);

impl<S: Send + Sync, T: FromQueryString> FromRequestParts<S> for ValidQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = QueryString::parse(parts.uri.query().unwrap_or_default());
        T::from_query_string(&query).map(ValidQuery)
    }
}

/// For endpoints that take no body (`/auth/refresh`, `/auth/logout`, `/auth/logout-all`):
/// nothing, or an empty JSON object. Anything else is refused as for any write.
pub struct NoBody;

impl FromRequest<AppState> for NoBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        match read_json_object(req, state).await? {
            None => Ok(NoBody),
            Some(body) => {
                let mut report = FieldReport::default();
                report.refuse_unknown(&body, &[], &[]);
                report.finish().map(|()| NoBody)
            }
        }
    }
}

/// Reads a body that must be a JSON object; `None` when there is no body at all. Checks the
/// headers (a JSON media type, one `Content-Type`, no `Content-Encoding`), the size limit,
/// the syntax and that no key appears twice.
async fn read_json_object(
    req: Request,
    state: &AppState,
) -> Result<Option<Map<String, Value>>, ApiError> {
    let headers = req.headers();
    let mut content_types = headers.get_all(CONTENT_TYPE).iter();
    let declared = content_types
        .next()
        .map(|value| value.to_str().map_or(MediaType::Other, media_type));
    if content_types.next().is_some() {
        return Err(bad_request(
            "The request has more than one Content-Type header",
        ));
    }
    let encoded = headers
        .get(CONTENT_ENCODING)
        .is_some_and(|value| !value.as_bytes().eq_ignore_ascii_case(b"identity"));
    let body = Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge {
                limit: state.config.body_limit,
            }
        } else {
            bad_request("The request body could not be read")
        }
    })?;
    if body.is_empty() && matches!(declared, None | Some(MediaType::Json)) {
        return Ok(None);
    }
    match declared {
        Some(MediaType::Json) => {}
        Some(MediaType::JsonInAnotherCharset) => {
            return Err(ApiError::UnsupportedMediaType(
                "JSON bodies must be UTF-8: send Content-Type: application/json, with no charset or charset=utf-8".into(),
            ));
        }
        None | Some(MediaType::Other) => return Err(unsupported_media_type()),
    }
    if encoded {
        return Err(ApiError::UnsupportedMediaType(
            "Compressed request bodies are not accepted".into(),
        ));
    }
    match serde_json::from_slice::<StrictObject>(&body) {
        Ok(StrictObject(map)) => Ok(Some(map)),
        Err(e) if e.is_data() && e.to_string().starts_with(DUPLICATE_KEY) => {
            Err(bad_request(format!("The request body is not valid: {e}")))
        }
        Err(e) if e.is_data() => Err(bad_request("The request body must be a JSON object")),
        Err(e) => Err(bad_request(format!(
            "The request body is not valid JSON: {e}"
        ))),
    }
}

const DUPLICATE_KEY: &str = "duplicate key";

/// A JSON object whose keys are all distinct. serde_json keeps the last of repeated keys;
/// `{"role":"user","role":"admin"}` means different things to different parsers, so it is
/// refused instead.
struct StrictObject(Map<String, Value>);

impl<'de> serde::Deserialize<'de> for StrictObject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;

        impl<'de> serde::de::Visitor<'de> for ObjectVisitor {
            type Value = StrictObject;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut access: A,
            ) -> Result<StrictObject, A::Error> {
                let mut map = Map::new();
                while let Some(key) = access.next_key::<String>()? {
                    if map.contains_key(&key) {
                        let shown: String = key.chars().take(64).collect();
                        return Err(serde::de::Error::custom(format!(
                            "{DUPLICATE_KEY} {shown:?}"
                        )));
                    }
                    let value = access.next_value::<Value>()?;
                    map.insert(key, value);
                }
                Ok(StrictObject(map))
            }
        }

        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// The message of every `415`.
pub const UNSUPPORTED_MEDIA_TYPE_MESSAGE: &str =
    "The request body must be JSON, sent with Content-Type: application/json";

fn unsupported_media_type() -> ApiError {
    ApiError::UnsupportedMediaType(UNSUPPORTED_MEDIA_TYPE_MESSAGE.into())
}

/// What a `Content-Type` says about a body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MediaType {
    /// `application/json` or any `application/*+json`, in UTF-8 (no `charset`, or
    /// `charset=utf-8`), other parameters allowed.
    Json,
    /// A JSON media type declaring another charset (`charset=latin1`): refused rather than
    /// read as UTF-8.
    JsonInAnotherCharset,
    Other,
}

fn media_type(value: &str) -> MediaType {
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if !json {
        return MediaType::Other;
    }
    for parameter in parts {
        let Some((name, charset)) = parameter.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("charset") {
            let charset = charset.trim();
            let charset = charset
                .strip_prefix('"')
                .and_then(|c| c.strip_suffix('"'))
                .unwrap_or(charset);
            if !charset.eq_ignore_ascii_case("utf-8") {
                return MediaType::JsonInAnotherCharset;
            }
        }
    }
    MediaType::Json
}

/// Parses one path segment as a resource id: digits only, 1 ..= i64::MAX.
pub fn parse_id(raw: &str) -> Option<i64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse::<i64>().ok().filter(|id| *id > 0)
}

/// A resource id in a query string (`?user_id=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Id(pub i64);

impl QueryValue for Id {
    fn from_query(raw: &str) -> Result<Self, String> {
        parse_id(raw)
            .map(Id)
            .ok_or_else(|| "must be a positive integer".into())
    }

    fn query_schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(i64::MAX as f64))
            .into()
    }
}

/// The path's ids, in order. Any segment that is not a valid id makes the route `404`.
pub struct PathIds(pub Vec<i64>);

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| not_found(NOT_FOUND_MESSAGE))?;
        params
            .iter()
            .map(|(_, value)| parse_id(value))
            .collect::<Option<Vec<_>>>()
            .map(PathIds)
            .ok_or_else(|| not_found(NOT_FOUND_MESSAGE))
    }
}

/// The single id of a `/things/{id}` route.
pub struct PathId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match PathIds::from_request_parts(parts, state)
            .await?
            .0
            .as_slice()
        {
            [id] => Ok(PathId(*id)),
            _ => Err(not_found(NOT_FOUND_MESSAGE)),
        }
    }
}

/// The bearer token of the `Authorization` header.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(AUTHORIZATION)
        .ok_or_else(|| unauthorized("Missing Authorization header"))?
        .to_str()
        .map_err(|_| unauthorized("Malformed Authorization header"))?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or_else(|| unauthorized("Authorization header must be 'Bearer <token>'"))?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(unauthorized(
            "Authorization header must be 'Bearer <token>'",
        ));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_flasks_int_converter() {
        assert_eq!(parse_id("1"), Some(1));
        assert_eq!(parse_id("9223372036854775807"), Some(i64::MAX));
        for bad in [
            "",
            "0",
            "-1",
            "+1",
            "abc",
            "1.5",
            "99999999999999999999",
            "9223372036854775808",
            " 1",
        ] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn json_media_types() {
        for json in [
            "application/json",
            "application/json; charset=utf-8",
            "application/json;charset=\"UTF-8\"",
            "Application/JSON",
            "application/merge-patch+json",
            "application/json; version=2",
        ] {
            assert_eq!(media_type(json), MediaType::Json, "{json}");
        }
        for other_charset in [
            "application/json; charset=latin1",
            "application/json; charset=ISO-8859-1",
            "application/json; charset=utf-16",
            "application/json; charset=\"utf8\"",
        ] {
            assert_eq!(
                media_type(other_charset),
                MediaType::JsonInAnotherCharset,
                "{other_charset}"
            );
        }
        for other in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ] {
            assert_eq!(media_type(other), MediaType::Other, "{other}");
        }
    }
}
