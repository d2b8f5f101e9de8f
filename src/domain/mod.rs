//! Validated value types handed between layers. No I/O here.
pub mod email;
pub mod password;
pub mod redirect_uri;
pub mod username;

pub use email::Email;
pub use password::Password;
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

impl From<ValidationError> for crate::error::ApiError {
    fn from(e: ValidationError) -> Self {
        Self::validation(e.field, e.message)
    }
}
