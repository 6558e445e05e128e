//! Sessions: what one login starts — its refresh tokens (one family, rotated on every use)
//! and the access tokens issued with them, which name it. `/auth/sessions` lets a user see
//! and end theirs; `/users/{id}/sessions` lets an admin do the same for anyone. When a
//! session ends, by a call, a logout, a password change, refresh-token reuse, idleness or
//! age, its tokens stop working at once on every instance: the caller check
//! (`users::AuthUser`) reads the session on every request.

pub mod model;
pub mod queries;
pub mod refresh_token_model;
pub mod refresh_tokens;
pub mod routes;
pub mod types;
