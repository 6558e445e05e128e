//! Query strings and paginated lists: `page` ≥ 1 (default 1), `limit` 1–100 (default 20),
//! anything else `400`; a page past the end is an empty list with the page echoed; `pages`
//! is ceil(total / limit). Search terms (`?q=`) are case-insensitive substrings in which
//! `%` and `_` are literal.

use std::sync::Arc;

use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, IntoColumnRef, LikeExpr, Order, Query};
use sea_orm::{
    DatabaseConnection, DbBackend, DbErr, EntityTrait, QuerySelect, QueryTrait, Select, Statement,
};

use bytes::Bytes;

use crate::conditional::{JsonWithEtag, Preconditions, etag_header};
use crate::error::{ApiError, ApiResult};
use crate::reads::{FromRow, ReadRow};
use crate::row_counts::{self, cache::CachedPage};
use crate::state::AppState;
use serde::Serialize;
use serde::ser::SerializeMap;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use crate::text::{NO_NUL_PATTERN, char_count, fold_case};
use crate::validation::{QueryValue, text_schema};

pub const DEFAULT_LIMIT: u64 = 20;
pub const MAX_LIMIT: u64 = 100;
pub const MAX_SEARCH_LENGTH: usize = 200;
/// Rows skipped beyond which a page is checked against the list's total before it is read
/// (`PageRequest::is_deep`).
pub const DEEP_OFFSET: u64 = 10_000;

/// `?page=`: 1 or more. Pages beyond i64's range are refused: no database row count
/// reaches them, and the echoed `page` stays a signed 64-bit integer for every client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageNumber(u64);

impl QueryValue for PageNumber {
    fn from_query(raw: &str) -> Result<Self, String> {
        parse_integer(raw, 1, i64::MAX as u64)
            .map(PageNumber)
            .ok_or_else(|| "must be a positive integer".into())
    }

    fn query_schema() -> RefOr<Schema> {
        integer_schema(1, i64::MAX as u64, 1)
    }
}

/// `?limit=`: 1 to 100 items per page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageLimit(u64);

impl QueryValue for PageLimit {
    fn from_query(raw: &str) -> Result<Self, String> {
        parse_integer(raw, 1, MAX_LIMIT)
            .map(PageLimit)
            .ok_or_else(|| format!("must be an integer from 1 to {MAX_LIMIT}"))
    }

    fn query_schema() -> RefOr<Schema> {
        integer_schema(1, MAX_LIMIT, DEFAULT_LIMIT)
    }
}

/// Digits only (no sign, no spaces) within `min..=max`.
fn parse_integer(raw: &str, min: u64, max: u64) -> Option<u64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse::<u64>().ok().filter(|n| (min..=max).contains(n))
}

fn integer_schema(min: u64, max: u64, default: u64) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(min as f64))
        .maximum(Some(max as f64))
        .default(Some(default.into()))
        .into()
}

/// `?q=`: a case-insensitive substring, at most 200 characters; `%` and `_` in it are
/// literal. Held case-folded, as the key columns it is matched against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchTerm(String);

impl SearchTerm {
    /// The folded term; `None` for an empty one, which filters nothing.
    pub fn term(&self) -> Option<&str> {
        (!self.0.is_empty()).then_some(self.0.as_str())
    }
}

impl QueryValue for SearchTerm {
    fn from_query(raw: &str) -> Result<Self, String> {
        if raw.contains('\0') {
            return Err(crate::validation::NUL_MESSAGE.into());
        }
        if char_count(raw) > MAX_SEARCH_LENGTH {
            return Err(format!(
                "must be at most {MAX_SEARCH_LENGTH} characters long"
            ));
        }
        Ok(SearchTerm(fold_case(raw)))
    }

    fn query_schema() -> RefOr<Schema> {
        text_schema(
            "Case-insensitive substring; `%` and `_` are literal",
            None,
            Some(MAX_SEARCH_LENGTH),
            Some(NO_NUL_PATTERN.into()),
        )
    }
}

/// Which page of a list: `page` (default 1) of `limit` items (default 20).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u64,
    pub limit: u64,
}

impl PageRequest {
    pub fn new(page: Option<PageNumber>, limit: Option<PageLimit>) -> Self {
        PageRequest {
            page: page.map_or(1, |p| p.0),
            limit: limit.map_or(DEFAULT_LIMIT, |l| l.0),
        }
    }

    /// Whether the page starts past `DEEP_OFFSET` rows. A database finds out that a page
    /// lies past the end of a list only by walking every row before it, so the lists that
    /// read a page and its total in one statement check such a page against the total
    /// first: `?page=` near 2^63 must not cost a walk of the whole table.
    pub fn is_deep(&self) -> bool {
        self.offset().is_none_or(|offset| offset >= DEEP_OFFSET)
    }

    /// Rows to skip, or `None` when the page lies beyond anything a database can hold.
    pub fn offset(&self) -> Option<u64> {
        (self.page - 1)
            .checked_mul(self.limit)
            .filter(|o| *o <= i64::MAX as u64)
    }
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
/// the database) when the page lies past `total`. Read outside any transaction
/// (`reads::read_all`: on SQLite, on the calling thread).
pub async fn fetch_page<E: EntityTrait>(
    db: &DatabaseConnection,
    ordered: Select<E>,
    total: u64,
    page: PageRequest,
) -> Result<Vec<E::Model>, DbErr>
where
    E::Model: FromRow,
{
    crate::reads::models(&read_page(db, ordered, total, page, None).await?)
}

/// Columns a list adds to the rows of its page only (an author's name, say). PostgreSQL and
/// MySQL compute a select list for every row a scan passes, the skipped ones included: with
/// the author's lookup in the list's own statement, page 50 made 1,000 lookups for 20 rows.
/// There the page is read first (a derived table, `page`) and these columns computed over its
/// rows; SQLite computes a select list only for the rows past the offset, so there they stay
/// in the statement (a derived table measured slower there).
pub struct PageColumns<E: EntityTrait> {
    /// Each added column's expression and name, over the rows of the table named as given.
    pub columns: fn(rows: Alias) -> Vec<(Expr, &'static str)>,
    /// The list's order again, over the page's rows: a derived table's rows have none.
    /// Its columns must be among those the list selects.
    pub order: Vec<(E::Column, Order)>,
}

/// The derived table of a page's rows.
const PAGE: &str = "page";

/// The statement of `ordered`'s page at `offset`, with `counter`'s value on each row and
/// `after`'s columns.
fn page_statement<E: EntityTrait>(
    backend: DbBackend,
    ordered: Select<E>,
    counter: Option<&str>,
    offset: u64,
    limit: u64,
    after: Option<&PageColumns<E>>,
) -> Statement {
    let mut ordered = match counter {
        Some(name) => ordered.column_as(crate::row_counts::subquery(name), COUNTER),
        None => ordered,
    };
    let Some(after) = after else {
        return ordered.offset(offset).limit(limit).build(backend);
    };
    if backend == DbBackend::Sqlite {
        for (expr, name) in (after.columns)(Alias::new(E::default().table_name())) {
            ordered = ordered.column_as(expr, name);
        }
        return ordered.offset(offset).limit(limit).build(backend);
    }
    let mut rows = Query::select();
    rows.column(Asterisk).from_subquery(
        ordered.offset(offset).limit(limit).into_query(),
        Alias::new(PAGE),
    );
    for (expr, name) in (after.columns)(Alias::new(PAGE)) {
        rows.expr_as(expr, Alias::new(name));
    }
    for (column, order) in &after.order {
        rows.order_by((Alias::new(PAGE), *column), order.clone());
    }
    backend.build(&rows)
}

/// As `fetch_page`, the rows as read (for a query with columns beyond its entity's, or
/// `after`'s).
pub async fn read_page<E: EntityTrait>(
    db: &DatabaseConnection,
    ordered: Select<E>,
    total: u64,
    page: PageRequest,
    after: Option<&PageColumns<E>>,
) -> Result<Vec<ReadRow>, DbErr> {
    let Some(offset) = page.offset().filter(|offset| *offset < total) else {
        return Ok(Vec::new());
    };
    let statement = page_statement(
        db.get_database_backend(),
        ordered,
        None,
        offset,
        page.limit,
        after,
    );
    crate::reads::read_all(db, statement).await
}

/// A page of an unfiltered list and the list's `total`, from the maintained `counter`
/// (`row_counts`), in one statement (`read_page_with_counter`); only a page with no rows
/// (past the end) reads the counter on its own. Read outside any transaction.
pub async fn read_counted_page<E: EntityTrait>(
    db: &DatabaseConnection,
    ordered: Select<E>,
    counter: &str,
    page: PageRequest,
    after: Option<&PageColumns<E>>,
) -> Result<(Arc<Vec<ReadRow>>, u64), DbErr> {
    if page.is_deep() {
        let total = crate::row_counts::read(db, counter).await?.unwrap_or(0);
        if page.offset().is_none_or(|offset| offset >= total) {
            return Ok((Arc::default(), total));
        }
    }
    let (rows, total) = read_page_with_counter(db, ordered, counter, page, after).await?;
    let total = match total {
        Some(total) => total,
        None => crate::row_counts::read(db, counter).await?,
    };
    Ok((rows, total.unwrap_or(0)))
}

/// A page of `ordered` and the value of `counter` (`row_counts`) read in the same
/// statement: the counter rides along as a column of every row, so the page is one round
/// trip on PostgreSQL and MySQL instead of two, shared by the requests for the same page
/// that arrive together (`read_batches::read_shared`). The counter is `None` when the page
/// has no rows to carry it, `Some(None)` when its row is missing.
async fn read_page_with_counter<E: EntityTrait>(
    db: &DatabaseConnection,
    ordered: Select<E>,
    counter: &str,
    page: PageRequest,
    after: Option<&PageColumns<E>>,
) -> Result<(Arc<Vec<ReadRow>>, Option<Option<u64>>), DbErr> {
    let Some(offset) = page.offset() else {
        return Ok((Arc::default(), None));
    };
    let statement = page_statement(
        db.get_database_backend(),
        ordered,
        Some(counter),
        offset,
        page.limit,
        after,
    );
    let rows = crate::read_batches::read_shared(db, statement).await?;
    let value = match rows.first() {
        Some(row) => Some(
            row.get::<Option<i64>>(COUNTER)?
                .map(|n| u64::try_from(n).unwrap_or(0)),
        ),
        None => None,
    };
    Ok((rows, value))
}

/// The column that carries a counter along a page.
const COUNTER: &str = "row_counter";

/// How many rows `query` selects (a filtered list's `total`), read as `fetch_page` reads.
pub async fn count<E: EntityTrait>(
    db: &DatabaseConnection,
    query: Select<E>,
) -> Result<u64, DbErr> {
    let inner = query.build(db.get_database_backend());
    let statement = Statement {
        sql: format!("SELECT COUNT(*) AS n FROM ({}) AS sub", inner.sql),
        ..inner
    };
    let row = crate::reads::read_one(db, statement).await?;
    let n: i64 = match row {
        Some(row) => row.get("n")?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

/// A page of a list with its `ETag` (`304` when `If-None-Match` names it): kept under `key`
/// in `state.list_cache` until `table`'s change counter (`row_counts::changes`, read before
/// anything else) moves, and not shared with a `viewer` who is one of its personal rows.
/// Otherwise `read`, given the counter's value, reads the page and names its personal rows
/// (`CachedPage`); the page is serialised, tagged and kept.
pub async fn cached_page<T, F, Fut>(
    state: &AppState,
    table: &'static str,
    key: String,
    viewer: Option<i64>,
    preconditions: &Preconditions,
    read: F,
) -> ApiResult<JsonWithEtag>
where
    T: Serialize,
    F: FnOnce(Option<u64>) -> Fut,
    Fut: Future<Output = ApiResult<(Page<T>, Box<[i64]>)>>,
{
    let version = row_counts::changes(&state.db, table).await?;
    let key = format!("{table}/{key}");
    let cache = &state.list_cache;
    let page = match cache.page(&key, version, viewer) {
        Some(page) => JsonWithEtag::kept(page.body.clone(), page.etag.clone()),
        None => {
            let (page, personal) = read(version).await?;
            let json = serde_json::to_vec(&page).map_err(|e| ApiError::Internal(e.into()))?;
            let etag = etag_header(&json)?;
            // Without the vector's spare room, so that a kept page takes what it weighs.
            let body = Bytes::from(json.into_boxed_slice());
            let kept = CachedPage {
                body: body.clone(),
                etag: etag.clone(),
                personal,
            };
            cache.put_page(key, version, viewer, kept);
            JsonWithEtag::kept(body, etag)
        }
    };
    Ok(page.or_not_modified(preconditions))
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

    /// A table of the shape of a list (the tests here know no domain's entities).
    mod item {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "items")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i64,
            pub user_id: i64,
            pub title_key: String,
            pub created_at: i64,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    #[test]
    fn a_pages_added_columns_are_computed_over_its_rows_only() {
        use item::{Column, Entity as Items};
        use sea_orm::QueryOrder;
        let after = PageColumns::<Items> {
            columns: |rows| vec![(Expr::col((rows, Column::UserId)), "extra")],
            order: vec![(Column::CreatedAt, Order::Desc), (Column::Id, Order::Desc)],
        };
        let ordered = || {
            Items::find()
                .select_only()
                .column(Column::Id)
                .column(Column::UserId)
                .column(Column::CreatedAt)
                .order_by_desc(Column::CreatedAt)
                .order_by_desc(Column::Id)
        };
        let statement = page_statement(
            DbBackend::Postgres,
            ordered(),
            Some("items"),
            40,
            20,
            Some(&after),
        );
        assert_eq!(
            statement.sql,
            "SELECT *, \"page\".\"user_id\" AS \"extra\" FROM (SELECT \"items\".\"id\", \
             \"items\".\"user_id\", \"items\".\"created_at\", (SELECT \"total\" FROM \"row_counts\" WHERE \
             \"row_counts\".\"name\" = $1) AS \"row_counter\" FROM \"items\" ORDER BY \
             \"items\".\"created_at\" DESC, \"items\".\"id\" DESC LIMIT $2 OFFSET $3) AS \"page\" \
             ORDER BY \"page\".\"created_at\" DESC, \"page\".\"id\" DESC"
        );
        let statement = page_statement(DbBackend::Sqlite, ordered(), None, 40, 20, Some(&after));
        assert_eq!(
            statement.sql,
            "SELECT \"items\".\"id\", \"items\".\"user_id\", \"items\".\"created_at\", \
             \"items\".\"user_id\" AS \"extra\" \
             FROM \"items\" ORDER BY \"items\".\"created_at\" DESC, \"items\".\"id\" DESC \
             LIMIT ? OFFSET ?"
        );
    }

    #[test]
    fn searches_are_told_from_other_reads_on_every_backend() {
        use item::{Column, Entity as Items};
        use sea_orm::{QueryFilter, QueryTrait};
        for backend in [DbBackend::Postgres, DbBackend::MySql, DbBackend::Sqlite] {
            let search = Items::find()
                .filter(contains(Column::TitleKey, "lamp"))
                .build(backend);
            assert!(crate::reads::is_search(&search.sql), "{}", search.sql);
            let page = Items::find().build(backend);
            assert!(!crate::reads::is_search(&page.sql), "{}", page.sql);
        }
    }

    #[test]
    fn page_rules() {
        assert_eq!(
            PageRequest::new(None, None),
            PageRequest { page: 1, limit: 20 }
        );
        assert_eq!(PageNumber::from_query("3"), Ok(PageNumber(3)));
        assert_eq!(PageLimit::from_query("100"), Ok(PageLimit(100)));
        for bad in [
            "0",
            "abc",
            "-1",
            "",
            "1.5",
            "+2",
            " 1",
            "99999999999999999999",
        ] {
            assert!(PageNumber::from_query(bad).is_err(), "page={bad}");
        }
        assert!(PageNumber::from_query("9223372036854775808").is_err());
        assert!(PageNumber::from_query("9223372036854775807").is_ok());
        for bad in ["0", "101", "1.5", ""] {
            assert!(PageLimit::from_query(bad).is_err(), "limit={bad}");
        }
        let far = PageRequest {
            page: u64::MAX,
            limit: 100,
        };
        assert_eq!(far.offset(), None);
    }

    #[test]
    fn offsets_and_deep_pages() {
        let page = |page, limit| PageRequest { page, limit };
        assert_eq!(page(1, 20).offset(), Some(0));
        assert_eq!(page(3, 20).offset(), Some(40));
        // The last offset a database can take is i64::MAX rows.
        assert_eq!(page(i64::MAX as u64 + 1, 1).offset(), Some(i64::MAX as u64));
        assert_eq!(page(i64::MAX as u64 + 2, 1).offset(), None);
        // Deep from DEEP_OFFSET rows skipped on, and wherever no offset exists.
        let limit = 20;
        let first_deep = DEEP_OFFSET / limit + 1;
        assert!(!page(1, limit).is_deep());
        assert!(!page(first_deep - 1, limit).is_deep());
        assert!(page(first_deep, limit).is_deep());
        assert!(page(u64::MAX, 100).is_deep());
    }

    #[test]
    fn search_terms_are_folded() {
        assert_eq!(SearchTerm::from_query("ΣABC").unwrap().term(), Some("σabc"));
        assert_eq!(SearchTerm::from_query("").unwrap().term(), None);
        assert!(SearchTerm::from_query("a\0").is_err());
        assert!(SearchTerm::from_query(&"x".repeat(201)).is_err());
        // Characters, not bytes: 200 two-byte letters are a term.
        assert!(SearchTerm::from_query(&"é".repeat(200)).is_ok());
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
