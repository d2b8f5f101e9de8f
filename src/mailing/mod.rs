//! Rendering account mails (built-in wording or a tenant's sandboxed override) and queuing them
//! through the outbox. Below every service that mails a user (`account`, `mfa`, `admin`), so
//! each can send its notices without depending on the others; `account` re-exports both parts.
pub mod mail;
pub mod templates;
