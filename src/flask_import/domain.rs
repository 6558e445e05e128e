//! What a Flask row becomes in larch, judged by exactly the rules the API applies (the same
//! newtypes): a user, a post or a product valid by construction, or the reasons it is not.

use chrono::{DateTime, FixedOffset, NaiveDateTime, SubsecRound, TimeZone, Utc};

use super::source::{Cell, SourceRow};
use crate::money::Money;
use crate::passwords::StoredHash;
use crate::posts::domain::{PostBody, Title};
use crate::products::domain::{Description, ProductName, STOCK_MAX, Sku};
use crate::users::domain::{Email, Username};

/// larch's `password_hash` column: a longer stored value cannot be kept as it is.
pub const PASSWORD_HASH_MAX_LENGTH: usize = 255;

/// A table larch imports, and the fields it takes from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Users,
    Posts,
    Products,
}

impl Table {
    pub fn name(self) -> &'static str {
        match self {
            Table::Users => "users",
            Table::Posts => "posts",
            Table::Products => "products",
        }
    }

    /// The fields larch takes, the required ones first (`id` always first).
    fn fields(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Table::Users => (
                &["id", "username", "email", "password"],
                &["created_at", "updated_at"],
            ),
            Table::Posts => (
                &["id", "title", "body", "user_id"],
                &["created_at", "updated_at"],
            ),
            Table::Products => (
                &["id", "name", "price"],
                &["description", "sku", "stock", "created_at", "updated_at"],
            ),
        }
    }
}

/// Where each field larch takes is in the Flask table: the columns to read, in field order
/// (absent optional fields left out), and the columns larch has no field for.
#[derive(Clone, Debug)]
pub struct Shape {
    pub table: Table,
    /// The table's name as the database spells it.
    pub source_table: String,
    /// Column names to select; `columns[0]` is the id.
    pub columns: Vec<String>,
    fields: Vec<&'static str>,
    pub unmapped: Vec<String>,
}

impl Shape {
    /// Matches a table's columns (case-insensitively) to larch's fields; `Err` names the
    /// required fields that are missing.
    pub fn new(table: Table, source_table: &str, columns: &[String]) -> Result<Shape, Vec<String>> {
        let (required, optional) = table.fields();
        let find = |field: &str| columns.iter().find(|c| c.eq_ignore_ascii_case(field));
        let missing: Vec<String> = required
            .iter()
            .filter(|f| find(f).is_none())
            .map(|f| (*f).to_owned())
            .collect();
        if !missing.is_empty() {
            return Err(missing);
        }
        let mut shape = Shape {
            table,
            source_table: source_table.to_owned(),
            columns: Vec::new(),
            fields: Vec::new(),
            unmapped: Vec::new(),
        };
        for field in required.iter().chain(optional) {
            if let Some(column) = find(field) {
                shape.columns.push(column.clone());
                shape.fields.push(field);
            }
        }
        shape.unmapped = columns
            .iter()
            .filter(|c| !shape.columns.contains(c))
            .cloned()
            .collect();
        Ok(shape)
    }

    pub fn has(&self, field: &str) -> bool {
        self.fields.contains(&field)
    }

    fn cell<'r>(&self, row: &'r SourceRow, field: &str) -> Option<&'r Cell> {
        let at = self.fields.iter().position(|f| *f == field)?;
        row.cells.get(at)
    }
}

/// A Flask user as larch will store it.
#[derive(Clone, Debug)]
pub struct User {
    pub id: i64,
    pub username: Username,
    pub email: Email,
    pub password_hash: String,
    /// Why this hash cannot be checked, when it cannot: the account is imported and cannot
    /// log in until its password is reset.
    pub unusable_password: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct Post {
    pub id: i64,
    pub user_id: i64,
    pub title: Title,
    pub body: PostBody,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct Product {
    pub id: i64,
    pub name: ProductName,
    pub description: Description,
    pub price: Money,
    pub sku: Option<Sku>,
    pub stock: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Collects every problem of a row, as the API names every bad field at once.
struct Problems(Vec<String>);

impl Problems {
    fn take<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(why) => {
                self.0.push(format!("{field}: {why}"));
                None
            }
        }
    }

    fn finish<T>(self, value: Option<T>) -> Result<T, String> {
        match value {
            Some(value) if self.0.is_empty() => Ok(value),
            _ => Err(self.0.join("; ")),
        }
    }
}

/// The text of a required field.
fn text(shape: &Shape, row: &SourceRow, field: &str) -> Result<String, String> {
    match shape.cell(row, field) {
        None | Some(Cell::Null) => Err("is empty (NULL)".into()),
        Some(cell) => cell.as_text().ok_or_else(|| "is not text".into()),
    }
}

/// An optional field's text: `None` when the column is absent or NULL.
fn optional_text(shape: &Shape, row: &SourceRow, field: &str) -> Result<Option<String>, String> {
    match shape.cell(row, field) {
        None | Some(Cell::Null) => Ok(None),
        Some(cell) => cell.as_text().map(Some).ok_or_else(|| "is not text".into()),
    }
}

/// A reference to another row: a positive integer.
fn id_field(shape: &Shape, row: &SourceRow, field: &str) -> Result<i64, String> {
    let raw = text(shape, row, field)?;
    match raw.trim().parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(format!("{raw:?} is not a positive integer")),
    }
}

/// `created_at` and `updated_at`: as stored (the tutorial's are naive UTC), to the
/// millisecond larch keeps. Without a `created_at` column, `now`; without `updated_at`,
/// `created_at`.
fn timestamps(
    shape: &Shape,
    row: &SourceRow,
    now: DateTime<Utc>,
    problems: &mut Problems,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let created_at = if shape.has("created_at") {
        let raw = problems.take("created_at", text(shape, row, "created_at"))?;
        problems.take("created_at", parse_timestamp(&raw))?
    } else {
        now
    };
    let updated_at = match problems.take("updated_at", optional_text(shape, row, "updated_at"))? {
        Some(raw) => problems.take("updated_at", parse_timestamp(&raw))?,
        None => created_at,
    };
    Some((created_at, updated_at))
}

fn row_id(row: &SourceRow) -> Result<i64, String> {
    if row.id > 0 {
        Ok(row.id)
    } else {
        Err(format!("{} is not a positive integer", row.id))
    }
}

pub fn user(shape: &Shape, row: &SourceRow, now: DateTime<Utc>) -> Result<User, String> {
    let mut problems = Problems(Vec::new());
    let id = problems.take("id", row_id(row));
    let username = problems
        .take("username", text(shape, row, "username"))
        .and_then(|raw| problems.take("username", Username::parse(&raw)));
    let email = problems
        .take("email", text(shape, row, "email"))
        .and_then(|raw| problems.take("email", Email::parse(&raw)));
    let password_hash = problems
        .take("password", text(shape, row, "password"))
        .and_then(|hash| {
            let fits = hash.chars().count() <= PASSWORD_HASH_MAX_LENGTH;
            let why = format!("longer than the {PASSWORD_HASH_MAX_LENGTH} characters larch keeps");
            problems.take("password", if fits { Ok(hash) } else { Err(why) })
        });
    let times = timestamps(shape, row, now, &mut problems);
    let user = match (id, username, email, password_hash, times) {
        (Some(id), Some(username), Some(email), Some(password_hash), Some((created, updated))) => {
            let unusable_password = match StoredHash::classify(&password_hash) {
                StoredHash::Unsupported(why) => Some(why),
                _ => None,
            };
            Some(User {
                id,
                username,
                email,
                password_hash,
                unusable_password,
                created_at: created,
                updated_at: updated,
            })
        }
        _ => None,
    };
    problems.finish(user)
}

pub fn post(shape: &Shape, row: &SourceRow, now: DateTime<Utc>) -> Result<Post, String> {
    let mut problems = Problems(Vec::new());
    let id = problems.take("id", row_id(row));
    let user_id = problems.take("user_id", id_field(shape, row, "user_id"));
    let title = problems
        .take("title", text(shape, row, "title"))
        .and_then(|raw| problems.take("title", Title::parse(&raw)));
    let body = problems
        .take("body", text(shape, row, "body"))
        .and_then(|raw| problems.take("body", PostBody::parse(&raw)));
    let times = timestamps(shape, row, now, &mut problems);
    let post = match (id, user_id, title, body, times) {
        (Some(id), Some(user_id), Some(title), Some(body), Some((created, updated))) => {
            Some(Post {
                id,
                user_id,
                title,
                body,
                created_at: created,
                updated_at: updated,
            })
        }
        _ => None,
    };
    problems.finish(post)
}

pub fn product(shape: &Shape, row: &SourceRow, now: DateTime<Utc>) -> Result<Product, String> {
    let mut problems = Problems(Vec::new());
    let id = problems.take("id", row_id(row));
    let name = problems
        .take("name", text(shape, row, "name"))
        .and_then(|raw| problems.take("name", ProductName::parse(&raw)));
    let price = problems
        .take("price", text(shape, row, "price"))
        .and_then(|raw| {
            let parsed = Money::parse_str(raw.trim()).map_err(|why| format!("{why} (is {raw})"));
            problems.take("price", parsed)
        });
    // An absent or NULL optional field takes the value the API gives a field left out.
    let description = problems
        .take("description", optional_text(shape, row, "description"))
        .and_then(|raw| {
            problems.take(
                "description",
                Description::parse(raw.as_deref().unwrap_or_default()),
            )
        });
    let sku = problems
        .take("sku", optional_text(shape, row, "sku"))
        .and_then(|raw| match raw {
            None => Some(None),
            Some(raw) => problems.take("sku", Sku::parse(&raw)).map(Some),
        });
    let stock = match shape.cell(row, "stock") {
        None | Some(Cell::Null) => Some(0),
        Some(cell) => problems.take("stock", stock(cell)),
    };
    let times = timestamps(shape, row, now, &mut problems);
    let product = match (id, name, price, description, sku, stock, times) {
        (
            Some(id),
            Some(name),
            Some(price),
            Some(description),
            Some(sku),
            Some(stock),
            Some((created, updated)),
        ) => Some(Product {
            id,
            name,
            description,
            price,
            sku,
            stock,
            created_at: created,
            updated_at: updated,
        }),
        _ => None,
    };
    problems.finish(product)
}

fn stock(cell: &Cell) -> Result<i64, String> {
    let message = || format!("must be a whole number from 0 to {STOCK_MAX}");
    let n = match cell {
        Cell::Int(n) => *n,
        Cell::Real(x) if x.fract() == 0.0 && x.abs() <= STOCK_MAX as f64 => *x as i64,
        other => {
            let raw = other.as_text().ok_or_else(message)?;
            raw.trim().parse::<i64>().map_err(|_| message())?
        }
    };
    if (0..=STOCK_MAX).contains(&n) {
        Ok(n)
    } else {
        Err(message())
    }
}

/// A timestamp as SQLAlchemy stores it (`2026-05-28 10:15:30.123456`, or with a `T`),
/// naive UTC, or with an offset (`Z`, `+00`, `+02:00`) where the column has a time zone.
/// Kept to the millisecond.
pub fn parse_timestamp(raw: &str) -> Result<DateTime<Utc>, String> {
    let bad = || format!("{raw:?} is not a date and time");
    let text = raw.trim().replacen('T', " ", 1);
    let (naive, offset) = split_offset(&text).ok_or_else(bad)?;
    let naive = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(naive, format).ok())
        .ok_or_else(bad)?;
    let at = offset
        .from_local_datetime(&naive)
        .single()
        .ok_or_else(bad)?
        .with_timezone(&Utc);
    Ok(at.trunc_subsecs(3))
}

/// The date and time, and the offset after it (UTC when there is none).
fn split_offset(text: &str) -> Option<(&str, FixedOffset)> {
    if let Some(naive) = text.strip_suffix('Z') {
        return Some((naive, FixedOffset::east_opt(0)?));
    }
    // An offset starts with a sign after the time (the date's own dashes come first).
    let time_start = text.find(' ')?;
    let Some(sign_at) = text[time_start..]
        .rfind(['+', '-'])
        .map(|at| at + time_start)
    else {
        return Some((text, FixedOffset::east_opt(0)?));
    };
    let (naive, offset) = text.split_at(sign_at);
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let digits: String = offset[1..].chars().filter(|c| *c != ':').collect();
    let (hours, minutes) = match digits.len() {
        2 => (digits.parse::<i32>().ok()?, 0),
        4 => (
            digits[..2].parse::<i32>().ok()?,
            digits[2..].parse::<i32>().ok()?,
        ),
        _ => return None,
    };
    Some((
        naive.trim_end(),
        FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: Vec<Cell>) -> SourceRow {
        let id = match cells[0] {
            Cell::Int(id) => id,
            _ => 0,
        };
        SourceRow { id, cells }
    }

    fn text_cell(s: &str) -> Cell {
        Cell::Text(s.into())
    }

    fn columns(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn timestamps_as_sqlalchemy_writes_them() {
        let at = parse_timestamp("2026-05-28 10:15:30.123456").unwrap();
        assert_eq!(crate::time::rfc3339(&at), "2026-05-28T10:15:30.123Z");
        let at = parse_timestamp("2026-05-28T10:15:30").unwrap();
        assert_eq!(crate::time::rfc3339(&at), "2026-05-28T10:15:30.000Z");
        let at = parse_timestamp("2026-05-28 12:15:30.5+02").unwrap();
        assert_eq!(crate::time::rfc3339(&at), "2026-05-28T10:15:30.500Z");
        let at = parse_timestamp("2026-05-28 05:15:30-05:00").unwrap();
        assert_eq!(crate::time::rfc3339(&at), "2026-05-28T10:15:30.000Z");
        let at = parse_timestamp("2026-05-28 10:15:30Z").unwrap();
        assert_eq!(crate::time::rfc3339(&at), "2026-05-28T10:15:30.000Z");
        assert!(parse_timestamp("yesterday").is_err());
        assert!(parse_timestamp("2026-13-28 10:15:30").is_err());
    }

    #[test]
    fn shapes_map_columns_and_name_the_rest() {
        let shape = Shape::new(
            Table::Products,
            "products",
            &columns(&["id", "Name", "price", "category", "stock"]),
        )
        .unwrap();
        assert_eq!(shape.columns, columns(&["id", "Name", "price", "stock"]));
        assert_eq!(shape.unmapped, columns(&["category"]));
        assert!(!shape.has("created_at"));
        let missing = Shape::new(Table::Products, "products", &columns(&["id", "name"]));
        assert_eq!(missing.unwrap_err(), columns(&["price"]));
    }

    #[test]
    fn users_are_judged_by_the_api_rules() {
        let shape = Shape::new(
            Table::Users,
            "users",
            &columns(&["id", "username", "email", "password", "created_at"]),
        )
        .unwrap();
        let now = crate::time::now();
        let good = row(vec![
            Cell::Int(3),
            text_cell("alice"),
            text_cell("Alice@Example.COM"),
            text_cell(
                "pbkdf2:sha256:1000$salt$632c2812e46d4604102ba7618e9d6d7d2f8128f6266b4a03264d2a0460b7dcb3",
            ),
            text_cell("2024-01-02 03:04:05.678901"),
        ]);
        let user = user(&shape, &good, now).unwrap();
        assert_eq!(user.email.as_str(), "alice@example.com");
        assert_eq!(user.unusable_password, None);
        assert_eq!(user.updated_at, user.created_at);

        let bad = row(vec![
            Cell::Int(4),
            text_cell("al ice"),
            text_cell("not-an-email"),
            text_cell("hunter22"),
            Cell::Null,
        ]);
        let why = super::user(&shape, &bad, now).unwrap_err();
        assert!(why.contains("username: may contain only"), "{why}");
        assert!(
            why.contains("email: must be a valid email address"),
            "{why}"
        );
        assert!(why.contains("created_at: is empty"), "{why}");

        let plain = row(vec![
            Cell::Int(5),
            text_cell("bob"),
            text_cell("bob@example.com"),
            text_cell("hunter22"),
            text_cell("2024-01-02 03:04:05"),
        ]);
        let user = super::user(&shape, &plain, now).unwrap();
        assert!(user.unusable_password.is_some());
    }

    #[test]
    fn prices_keep_their_decimal_digits() {
        let shape = Shape::new(
            Table::Products,
            "products",
            &columns(&["id", "name", "price", "sku"]),
        )
        .unwrap();
        let now = crate::time::now();
        let product_with = |price: Cell, sku: Cell| {
            product(
                &shape,
                &row(vec![Cell::Int(1), text_cell("Lamp"), price, sku]),
                now,
            )
        };
        assert_eq!(
            product_with(Cell::Real(19.99), Cell::Null).unwrap().price,
            Money::from_cents(1999)
        );
        assert_eq!(
            product_with(text_cell("20.00"), text_cell("LAMP-1"))
                .unwrap()
                .price,
            Money::from_cents(2000)
        );
        let why = product_with(Cell::Real(19.999), Cell::Null).unwrap_err();
        assert!(why.starts_with("price: "), "{why}");
        assert!(why.contains("19.999"), "{why}");
        assert!(product_with(Cell::Int(-1), Cell::Null).is_err());
        let why = product_with(Cell::Int(1), text_cell("")).unwrap_err();
        assert!(why.starts_with("sku: "), "{why}");
    }
}
