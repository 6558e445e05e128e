//! Authentication: `/auth/*` — register, log in, refresh, log out, change the password,
//! who am I.

pub mod refresh_token;
pub mod routes;
pub mod types;
