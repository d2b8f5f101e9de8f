//! Gatehouse: a multi-tenant identity service.
pub mod admin;
pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod kv;
pub mod oidc;
pub mod ratelimit;
pub mod store;
pub mod telemetry;
pub mod tenancy;
pub mod tokens;
pub mod web;
