//! Users: `/users`, `/users/profile`, `/users/{id}`, and the authenticated caller every
//! protected route takes (`AuthUser`).

pub mod caller;
pub mod domain;
pub mod model;
pub mod queries;
pub mod routes;
pub mod types;

pub use caller::{AuthUser, MaybeAuthUser};
