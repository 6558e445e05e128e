//! Account recovery and email verification: "forgot my password" and the links that prove
//! an address, the emails behind them (run as background jobs), and the two small pages
//! the default links open.

pub mod emails;
pub mod routes;
pub mod types;
