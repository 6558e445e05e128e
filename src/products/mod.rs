//! Products: `/products`, `/products/{id}`. Reading is public; writing is for admins.

pub mod domain;
pub mod model;
pub mod queries;
pub mod routes;
pub mod types;
