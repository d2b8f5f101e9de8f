//! Validated value types handed between layers. No I/O here.
pub mod authn;
pub mod email;
pub mod language_tag;
pub mod password;
pub mod redirect_uri;
pub mod signing;
pub mod tenant_slug;
pub mod username;

pub use email::Email;
pub use language_tag::valid_language_tag;
pub use password::Password;
pub use signing::Algorithm;
pub use tenant_slug::valid_slug;
pub use username::Username;

/// A value failed validation; `field` names the request field for the error body.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: &'static str,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self { field, message: message.into() }
    }
}

/// Where a login came from, kept on the session for the user and admins to see.
#[derive(Debug, Default, Clone)]
pub struct ClientMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The face a change came through (`account`, `console`), recorded in its audit details;
    /// `None` for the JSON APIs.
    pub channel: Option<&'static str>,
}

/// The values of the cookies whose names start with `prefix` in `Cookie` header values, at most
/// `max` of them (a request cannot make a check run over hundreds).
pub fn cookie_values<'a>(
    headers: impl IntoIterator<Item = &'a str>,
    prefix: &str,
    max: usize,
) -> Vec<String> {
    headers
        .into_iter()
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| v.to_string())
        .take(max)
        .collect()
}
