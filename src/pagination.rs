//! Query strings and paginated lists: `page` ≥ 1 (default 1), `limit` 1–100 (default 20),
//! anything else `400`; a page past the end is an empty list with the page echoed; `pages`
//! is ceil(total / limit). Search terms (`?q=`) are case-insensitive substrings in which
//! `%` and `_` are literal.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sea_orm::sea_query::{Expr, ExprTrait, IntoColumnRef, LikeExpr};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, QuerySelect, Select};
use serde::Serialize;
use serde::ser::SerializeMap;

use crate::error::{ApiError, FieldErrors};

pub const DEFAULT_LIMIT: u64 = 20;
pub const MAX_LIMIT: u64 = 100;
pub const MAX_SEARCH_LENGTH: usize = 200;

/// The query string's parameters. A name given twice counts once: its first value.
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        Ok(QueryParams(
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        ))
    }
}

/// Collects query-parameter errors so that all of them are reported together.
#[derive(Default)]
pub struct QueryErrors(FieldErrors);

impl QueryErrors {
    pub fn add(&mut self, name: &str, message: impl Into<String>) {
        self.0
            .entry(name.to_owned())
            .or_default()
            .push(message.into());
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u64,
    pub limit: u64,
}

impl PageRequest {
    pub fn parse(params: &QueryParams, errors: &mut QueryErrors) -> PageRequest {
        // Pages beyond i64's range are refused: no database row count reaches them, and the
        // echoed `page` stays a signed 64-bit integer for every client.
        let page = parse_bounded(params, errors, "page", 1, 1, i64::MAX as u64);
        let limit = parse_bounded(params, errors, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT);
        PageRequest { page, limit }
    }

    /// Rows to skip, or `None` when the page lies beyond anything a database can hold.
    pub fn offset(&self) -> Option<u64> {
        (self.page - 1)
            .checked_mul(self.limit)
            .filter(|o| *o <= i64::MAX as u64)
    }
}

fn parse_bounded(
    params: &QueryParams,
    errors: &mut QueryErrors,
    name: &str,
    default: u64,
    min: u64,
    max: u64,
) -> u64 {
    let Some(raw) = params.get(name) else {
        return default;
    };
    let message = if max >= i64::MAX as u64 {
        "must be a positive integer".to_owned()
    } else {
        format!("must be an integer from {min} to {max}")
    };
    match raw.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) && raw.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => {
            errors.add(name, message);
            default
        }
    }
}

/// `?q=`: absent or empty means no filter; otherwise the lower-cased term.
pub fn parse_search(params: &QueryParams, errors: &mut QueryErrors, name: &str) -> Option<String> {
    let raw = params.get(name)?;
    if raw.contains('\0') {
        errors.add(name, "must not contain NUL characters");
        return None;
    }
    if raw.chars().count() > MAX_SEARCH_LENGTH {
        errors.add(
            name,
            format!("must be at most {MAX_SEARCH_LENGTH} characters long"),
        );
        return None;
    }
    (!raw.is_empty()).then(|| raw.to_lowercase())
}

/// The escape character of LIKE patterns. Not a backslash, whose meaning inside SQL
/// string literals differs between backends.
pub const LIKE_ESCAPE: char = '!';

/// `%term%` with the term's own `%`, `_` and escape character made literal.
pub fn contains_pattern(term: &str) -> String {
    let mut pattern = String::with_capacity(term.len() + 2);
    pattern.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | LIKE_ESCAPE) {
            pattern.push(LIKE_ESCAPE);
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// `column LIKE '%term%'`, with the term's own wildcards literal.
pub fn contains(column: impl IntoColumnRef, term: &str) -> Expr {
    Expr::col(column).like(LikeExpr::new(contains_pattern(term)).escape(LIKE_ESCAPE))
}

/// The rows of `page` from an already filtered and ordered query, or none (without asking
/// the database) when the page lies past `total`.
pub async fn fetch_page<E: EntityTrait>(
    db: &impl ConnectionTrait,
    ordered: Select<E>,
    total: u64,
    page: PageRequest,
) -> Result<Vec<E::Model>, DbErr> {
    match page.offset().filter(|offset| *offset < total) {
        Some(offset) => ordered.offset(offset).limit(page.limit).all(db).await,
        None => Ok(Vec::new()),
    }
}

/// One page of a list, serialised as `{"<key>": [...], "total", "page", "pages"}`.
pub struct Page<T> {
    pub key: &'static str,
    pub items: Vec<T>,
    pub total: u64,
    pub request: PageRequest,
}

impl<T> Page<T> {
    pub fn pages(&self) -> u64 {
        self.total.div_ceil(self.request.limit)
    }
}

impl<T: Serialize> Serialize for Page<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry(self.key, &self.items)?;
        map.serialize_entry("total", &self.total)?;
        map.serialize_entry("page", &self.request.page)?;
        map.serialize_entry("pages", &self.pages())?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &str) -> QueryParams {
        QueryParams(form_urlencoded::parse(q.as_bytes()).into_owned().collect())
    }

    #[test]
    fn page_rules() {
        let mut e = QueryErrors::default();
        assert_eq!(
            PageRequest::parse(&params(""), &mut e),
            PageRequest { page: 1, limit: 20 }
        );
        assert_eq!(
            PageRequest::parse(&params("page=3&limit=100"), &mut e),
            PageRequest {
                page: 3,
                limit: 100
            }
        );
        assert!(e.finish().is_ok());
        for bad in [
            "page=0",
            "limit=0",
            "limit=101",
            "page=abc",
            "page=-1",
            "page=",
            "limit=1.5",
            "page=+2",
            "page=99999999999999999999",
        ] {
            let mut e = QueryErrors::default();
            PageRequest::parse(&params(bad), &mut e);
            assert!(e.finish().is_err(), "{bad}");
        }
        let far = PageRequest {
            page: u64::MAX,
            limit: 100,
        };
        assert_eq!(far.offset(), None);
    }

    #[test]
    fn patterns_make_wildcards_literal() {
        assert_eq!(contains_pattern("a%b_c!d"), "%a!%b!_c!!d%");
    }

    #[test]
    fn pages_round_up() {
        let page = Page::<u8> {
            key: "x",
            items: vec![],
            total: 41,
            request: PageRequest { page: 1, limit: 20 },
        };
        assert_eq!(page.pages(), 3);
        let empty = Page::<u8> {
            key: "x",
            items: vec![],
            total: 0,
            request: PageRequest { page: 1, limit: 20 },
        };
        assert_eq!(empty.pages(), 0);
    }
}
