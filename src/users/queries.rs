//! Every query on `users`.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::domain::{Email, Role, Username};
use super::model::{self as user, Entity as Users};
use crate::pagination::{PageRequest, contains, count, fetch_page, read_counted_page};
use crate::read_batches::KeyedRead;
use crate::reads::FromRow;
use crate::session_lifetime::SessionTimes;

/// Users by id (`read_batches`).
static USERS_BY_ID: KeyedRead<user::Model> = KeyedRead::new(
    "SELECT id, username, username_key, email, password_hash, role, email_verified, \
          created_at, updated_at FROM users WHERE id IN ({keys})",
    "id",
    <user::Model as FromRow>::from_row,
);

pub async fn find_by_id(db: &DatabaseConnection, id: i64) -> Result<Option<user::Model>, DbErr> {
    USERS_BY_ID.load(db, id).await
}

/// The columns `caller_from_row` reads: the caller (`users`) and their session.
macro_rules! caller_columns {
    () => {
        "SELECT users.id, users.username, users.username_key, users.email, \
         users.password_hash, users.role, users.email_verified, users.created_at, \
         users.updated_at, sessions.id AS session_id, sessions.created_at AS session_created_at, \
         sessions.last_used_at AS session_last_used_at, sessions.ended_at AS session_ended_at"
    };
}

/// Sessions by id, each with its user (`read_batches`): every authenticated request reads
/// its caller here.
static CALLERS_BY_SESSION: KeyedRead<(user::Model, SessionTimes)> = KeyedRead::new(
    concat!(
        caller_columns!(),
        " FROM sessions JOIN users ON users.id = sessions.user_id WHERE sessions.id IN ({keys})"
    ),
    "session_id",
    caller_from_row,
);

/// The caller of a request: the user and the session their access token names. `None` if
/// either is gone or the session is not the user's. The owner is compared here, not in the
/// statement: with `AND sessions.user_id = ?` there, PostgreSQL may walk the user's sessions
/// by `(user_id, created_at)` instead of the primary key (measured: 560 rows for a user who
/// had logged in 560 times, 3x the database's CPU per request).
pub async fn find_caller(
    db: &DatabaseConnection,
    user_id: i64,
    session_id: i64,
) -> Result<Option<(user::Model, SessionTimes)>, DbErr> {
    let found = CALLERS_BY_SESSION.load(db, session_id).await?;
    Ok(found.filter(|(caller, _)| caller.id == user_id))
}

/// `find_caller` and user `id` (`None` if there is none): `GET /users/{id}` reads both on
/// every request. Where reads by key are batched, each comes from its batch; elsewhere
/// (SQLite, or no held connections) in one statement, a `LEFT JOIN`.
pub async fn find_caller_and_user(
    db: &DatabaseConnection,
    user_id: i64,
    session_id: i64,
    id: i64,
) -> Result<Option<(user::Model, SessionTimes, Option<user::Model>)>, DbErr> {
    if crate::read_batches::batches_reads(db) {
        let (caller, other) =
            tokio::try_join!(find_caller(db, user_id, session_id), find_by_id(db, id))?;
        return Ok(caller.map(|(caller, session)| (caller, session, other)));
    }
    let row = crate::reads::fetch_optional_by_ids(
        db,
        concat!(
            caller_columns!(),
            ", viewed.id AS viewed_id, viewed.username AS viewed_username, \
         viewed.username_key AS viewed_username_key, viewed.email AS viewed_email, \
         viewed.password_hash AS viewed_password_hash, viewed.role AS viewed_role, \
         viewed.email_verified AS viewed_email_verified, viewed.created_at AS viewed_created_at, \
         viewed.updated_at AS viewed_updated_at \
         FROM sessions JOIN users ON users.id = sessions.user_id \
         LEFT JOIN users viewed ON viewed.id = ? \
         WHERE sessions.id = ?"
        ),
        &[id, session_id],
    )
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let (caller, session) = caller_from_row(&row)?;
    if caller.id != user_id {
        return Ok(None);
    }
    let other = match row.get::<Option<i64>>("viewed_id")? {
        Some(_) => Some(user::Model::from_prefixed_row(&row, "viewed_")?),
        None => None,
    };
    Ok(Some((caller, session, other)))
}

/// The caller and their session from a row with `caller_columns`.
fn caller_from_row(row: &crate::reads::ReadRow) -> Result<(user::Model, SessionTimes), DbErr> {
    let times = SessionTimes {
        created_at: row.get("session_created_at")?,
        last_used_at: row.get("session_last_used_at")?,
        ended_at: row.get("session_ended_at")?,
    };
    Ok((user::Model::from_row(row)?, times))
}

/// A user's username, read in `db` (which may be a transaction): `""` if there is none.
pub async fn username_of(db: &impl ConnectionTrait, id: i64) -> Result<String, DbErr> {
    let user = Users::find_by_id(id).one(db).await?;
    Ok(user.map(|u| u.username).unwrap_or_default())
}

/// The user, locked until the transaction ends (where the backend locks rows), so a
/// concurrent update or delete of the same account waits instead of racing.
pub async fn find_by_id_for_update(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<user::Model>, DbErr> {
    Users::find_by_id(id).lock_exclusive().one(db).await
}

/// The user with this address (stored, and so matched, in its canonical form).
pub async fn find_by_email(
    db: &DatabaseConnection,
    email: &Email,
) -> Result<Option<user::Model>, DbErr> {
    Users::find()
        .filter(user::Column::Email.eq(email.as_str()))
        .one(db)
        .await
}

pub struct NewUser {
    pub username: Username,
    pub email: Email,
    pub password_hash: String,
    pub role: Role,
}

/// Inserts a user, and counts it. A taken email or username fails on the unique index
/// (→ `409`), which is what makes concurrent registrations safe.
pub async fn insert(db: &DatabaseConnection, new: NewUser) -> Result<user::Model, DbErr> {
    let now = crate::time::now();
    let tx = crate::db::begin_write(db).await?;
    let user = user::ActiveModel {
        username_key: Set(new.username.key()),
        username: Set(new.username.as_str().to_owned()),
        email: Set(new.email.into_inner()),
        password_hash: Set(new.password_hash),
        role: Set(new.role.as_str().to_owned()),
        email_verified: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&tx)
    .await?;
    crate::row_counts::adjust(&tx, crate::row_counts::USERS, 1).await?;
    tx.commit().await?;
    Ok(user)
}

#[derive(Clone, Default)]
pub struct UserChanges {
    pub username: Option<Username>,
    pub email: Option<Email>,
    pub role: Option<Role>,
}

impl UserChanges {
    pub fn is_empty(&self) -> bool {
        self.username.is_none() && self.email.is_none() && self.role.is_none()
    }
}

pub async fn update(
    db: &impl ConnectionTrait,
    current: user::Model,
    changes: UserChanges,
) -> Result<user::Model, DbErr> {
    // Values equal to the stored ones are no change: `updated_at` (and the ETag) stay.
    let changes = UserChanges {
        username: changes.username.filter(|u| u.as_str() != current.username),
        email: changes.email.filter(|e| e.as_str() != current.email),
        role: changes.role.filter(|r| r.as_str() != current.role),
    };
    if changes.is_empty() {
        return Ok(current);
    }
    let mut active: user::ActiveModel = current.into();
    if let Some(username) = changes.username {
        active.username_key = Set(username.key());
        active.username = Set(username.as_str().to_owned());
    }
    if let Some(email) = changes.email {
        // A new address has not been verified by anyone yet.
        active.email = Set(email.into_inner());
        active.email_verified = Set(false);
    }
    if let Some(role) = changes.role {
        active.role = Set(role.as_str().to_owned());
    }
    active.updated_at = Set(crate::time::now());
    active.update(db).await
}

/// Replaces the password hash if it is still `current`: of two concurrent changes made
/// with the same current password, only one wins. Returns whether this one did.
pub async fn replace_password_hash(
    db: &impl ConnectionTrait,
    id: i64,
    current: &str,
    new: String,
) -> Result<bool, DbErr> {
    let result = Users::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(new))
        .col_expr(user::Column::UpdatedAt, Expr::value(crate::time::now()))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::PasswordHash.eq(current))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Marks the user's address verified, if it is still `email` (the address the link was
/// sent to). Returns whether it was.
pub async fn mark_email_verified(
    db: &impl ConnectionTrait,
    id: i64,
    email: &str,
) -> Result<bool, DbErr> {
    let result = Users::update_many()
        .col_expr(user::Column::EmailVerified, Expr::value(true))
        .col_expr(user::Column::UpdatedAt, Expr::value(crate::time::now()))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::Email.eq(email))
        .filter(user::Column::EmailVerified.eq(false))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Replaces a hash of an older scheme (werkzeug's, from `larch import-flask`) by the
/// Argon2id hash of the same password, made at a successful login, if it is still
/// `current`. The account has not changed as its owner sees it, so `updated_at` stays.
pub async fn upgrade_password_hash(
    db: &impl ConnectionTrait,
    id: i64,
    current: &str,
    new: String,
) -> Result<bool, DbErr> {
    let result = Users::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(new))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::PasswordHash.eq(current))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Deletes a user; their posts and refresh tokens go with them by cascade (the posts count
/// is adjusted here, in the same transaction).
pub async fn delete(db: &impl ConnectionTrait, id: i64) -> Result<bool, DbErr> {
    crate::row_counts::forget_posts_of(db, id).await?;
    let deleted = Users::delete_by_id(id).exec(db).await?.rows_affected > 0;
    if deleted {
        crate::row_counts::adjust(db, crate::row_counts::USERS, -1).await?;
    }
    Ok(deleted)
}

/// Ids of all admins, in id order, locked until the transaction ends where the backend can
/// lock rows (SQLite's `BEGIN IMMEDIATE` already holds the whole database).
pub async fn lock_admin_ids(db: &impl ConnectionTrait) -> Result<Vec<i64>, DbErr> {
    Users::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::Role.eq(Role::Admin.as_str()))
        .order_by_asc(user::Column::Id)
        .lock_exclusive()
        .into_tuple()
        .all(db)
        .await
}

/// One page of users, newest first (ties by id), optionally those whose username contains
/// `search` (case-folded).
pub async fn list(
    db: &DatabaseConnection,
    search: Option<&str>,
    page: PageRequest,
) -> Result<(Vec<user::Model>, u64), DbErr> {
    let mut query = Users::find();
    if let Some(term) = search {
        query = query.filter(contains(user::Column::UsernameKey, term));
    }
    let total = match search {
        None => None,
        Some(_) => Some(count(db, query.clone()).await?),
    };
    let ordered = query
        .order_by_desc(user::Column::CreatedAt)
        .order_by_desc(user::Column::Id);
    let (users, total) = match total {
        Some(total) => (fetch_page(db, ordered, total, page).await?, total),
        None => {
            let (rows, total) =
                read_counted_page(db, ordered, crate::row_counts::USERS, page, None).await?;
            (crate::reads::models(&rows)?, total)
        }
    };
    Ok((users, total))
}
