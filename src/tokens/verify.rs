//! Verifying our own JWTs: one prepared verifier per public key, and the header checks that
//! run before any signature work (size, type, `kid`, `crit`).
use jsonwebtoken::{DecodingKey, Validation, jwk::Jwk};

use super::{ACCESS_TOKEN_TYP, AccessClaims, Algorithm, TokenError, keys::MAX_TOKEN_BYTES};

/// One public key with its validation rules (issuer, audience, algorithm) prepared.
pub struct Verifier {
    key: DecodingKey,
    leeway: u64,
    validation: Validation,
    /// Signature and issuer only: for `id_token_hint`, which may have expired.
    hint_validation: Validation,
}

impl Verifier {
    /// `audiences` are all the audiences the tenant issues; callers check which one they need.
    ///
    /// # Errors
    /// The stored JWK is not a key we can use.
    pub fn new(
        jwk: &serde_json::Value,
        issuer: &str,
        audiences: &[&str],
        leeway: u64,
    ) -> Result<Self, TokenError> {
        let parsed: Jwk = serde_json::from_value(jwk.clone()).map_err(|_| TokenError::UnknownKey)?;
        let alg = jwk
            .get("alg")
            .and_then(|a| a.as_str())
            .and_then(Algorithm::parse)
            .ok_or(TokenError::UnknownKey)?;
        let key = DecodingKey::from_jwk(&parsed).map_err(|_| TokenError::UnknownKey)?;
        let mut validation = Validation::new(alg.jwt());
        validation.leeway = leeway;
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer]);
        validation.set_audience(audiences);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        let mut hint_validation = Validation::new(alg.jwt());
        hint_validation.validate_exp = false;
        hint_validation.validate_aud = false;
        hint_validation.set_issuer(&[issuer]);
        hint_validation.set_required_spec_claims(&["iss", "sub", "aud"]);
        Ok(Self { key, leeway, validation, hint_validation })
    }

    /// Checks signature, algorithm, `exp`, `nbf`, `iss` and `aud`.
    ///
    /// # Errors
    /// Why the token is not acceptable.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        use jsonwebtoken::errors::ErrorKind as K;
        refuse_critical_extensions(token)?;
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &self.key, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                K::ExpiredSignature => TokenError::Expired,
                K::ImmatureSignature => TokenError::NotYetValid,
                K::InvalidIssuer | K::InvalidAudience => TokenError::WrongIssuerOrAudience,
                K::InvalidSignature | K::InvalidAlgorithm | K::InvalidAlgorithmName | K::InvalidKeyFormat => {
                    TokenError::BadSignature
                }
                _ => TokenError::Malformed,
            })?;
        // The same clock jsonwebtoken checks `exp` and `nbf` against.
        check_issued_at(claims.iat, jsonwebtoken::get_current_timestamp(), self.leeway)?;
        Ok(claims)
    }
}

/// Refuses a JWS with a `crit` header (RFC 7515 §4.1.11): it names extensions the recipient
/// must understand, and we understand none, so any `crit` at all is refused.
///
/// # Errors
/// `Malformed` for an unreadable header or one with `crit`.
pub fn refuse_critical_extensions(token: &str) -> Result<(), TokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
    if header.crit.is_some() {
        return Err(TokenError::UnsupportedCritical);
    }
    Ok(())
}

/// A token issued in the future (beyond the clock-skew leeway) was not issued by a clock we
/// trust: refuse it rather than let it outlive its real lifetime.
///
/// # Errors
/// `NotYetValid` when `iat` is later than `now + leeway`.
pub fn check_issued_at(iat: i64, now: u64, leeway: u64) -> Result<(), TokenError> {
    let latest = i64::try_from(now.saturating_add(leeway)).unwrap_or(i64::MAX);
    if iat > latest {
        return Err(TokenError::NotYetValid);
    }
    Ok(())
}

impl Verifier {
    /// Checks an ID token we issued earlier (as `id_token_hint`): signature and issuer, not
    /// expiry.
    ///
    /// # Errors
    /// Not a token of this tenant.
    pub fn verify_hint(&self, token: &str) -> Result<serde_json::Value, TokenError> {
        refuse_critical_extensions(token)?;
        let claims = jsonwebtoken::decode::<serde_json::Value>(token, &self.key, &self.hint_validation)
            .map(|d| d.claims)
            .map_err(|_| TokenError::BadSignature)?;
        let iat = claims.get("iat").and_then(serde_json::Value::as_i64).ok_or(TokenError::Malformed)?;
        check_issued_at(iat, jsonwebtoken::get_current_timestamp(), self.leeway)?;
        Ok(claims)
    }
}

/// The `kid` of any JWT, without checks.
pub fn kid_of(token: &str) -> Option<String> {
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    jsonwebtoken::decode_header(token).ok()?.kid
}

/// The parts of the header we route on, read before any signature work.
pub struct UnverifiedHeader {
    pub kid: String,
}

/// # Errors
/// Oversized, malformed, of another type, or without a `kid`.
pub fn peek_header(token: &str) -> Result<UnverifiedHeader, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
    if header.crit.is_some() {
        return Err(TokenError::UnsupportedCritical);
    }
    if header.typ.as_deref().is_some_and(|t| !t.eq_ignore_ascii_case(ACCESS_TOKEN_TYP))
        || header.typ.is_none()
    {
        return Err(TokenError::Malformed);
    }
    let kid = header.kid.ok_or(TokenError::UnknownKey)?;
    Ok(UnverifiedHeader { kid })
}
