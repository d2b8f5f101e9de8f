//! Account recovery and email ([email](../../docs/email.md)): single-use action tokens mailed
//! as a link and a typed code (`action`), the mails they travel in (`mail`), and the flows
//! built on them. Sits above `auth` (it ends sessions and lifts locks) and `outbox`.
pub mod action;
pub mod address_limit;
pub mod email_change;
pub mod email_sign_in;
pub mod events;
pub mod mail;
pub mod templates;
