//! Posts: `/posts`, `/posts/{id}`, `/users/{id}/posts` and `/users/{id}/posts/{post_id}`
//! (a user has many posts).

pub mod domain;
pub mod model;
pub mod queries;
pub mod routes;
pub mod types;
