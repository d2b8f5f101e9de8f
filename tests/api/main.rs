#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The single integration-test binary. Each module covers one area; every test in a
//! `backend_tests!` block runs against PostgreSQL + Redis and against SQLite + the in-process
//! store.
mod helpers;

mod abuse;
mod admin;
mod admin_clients;
mod audit_trail;
mod cli;
mod clients;
mod credentials;
mod cross_site;
mod deployment;
mod email;
mod errors;
mod express_passport;
mod faults;
mod fuzz;
mod input;
mod interop;
mod lockout;
mod login;
mod logout;
mod metrics;
mod oauth_refusals;
mod oidc;
mod openapi;
mod operators;
mod providers;
mod refresh;
mod resource_server;
mod restart;
mod scale;
mod slow_clients;
mod tokens;
mod upstream;
