#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The single integration-test binary. Each module covers one area; every test in a
//! `backend_tests!` block runs against PostgreSQL + Redis and against SQLite + the in-process
//! store.
mod helpers;

mod abuse;
mod admin;
mod admin_clients;
mod cli;
mod clients;
mod credentials;
mod deployment;
mod email;
mod errors;
mod express_passport;
mod faults;
mod fuzz;
mod input;
mod interop;
mod login;
mod logout;
mod metrics;
mod oidc;
mod openapi;
mod providers;
mod refresh;
mod resource_server;
mod restart;
mod scale;
mod slow_clients;
mod tokens;
