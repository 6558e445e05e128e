//! Integration tests: a real larch on a real socket, a fresh SQLite database per test.
//! Grouped like the contract (`../shared/spec/API.md`).

mod auth;
mod cli;
mod conventions;
mod errors;
mod helpers;
mod operations;
mod tutorial;
mod users;
