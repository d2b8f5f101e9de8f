//! Authenticator apps (RFC 6238 TOTP through totp-rs: SHA-1, 6 digits, 30 s steps, one step of
//! skew either way, as every app expects). The secret is sealed with the master key, bound to
//! its row; a code is accepted once (the last accepted step is stored and only later steps
//! pass); the setup's `otpauth://` URI is also drawn as an SVG QR code (no image stack).
use base64::Engine as _;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Method, MfaError};
use crate::{
    domain::ClientMeta,
    state::AppState,
    store::{self, entities::user_factors},
    tenancy::TenantContext,
};

const KIND: &str = "totp";

/// What an authenticator app needs, shown while the enrolment waits for its first code.
pub struct Setup {
    /// The secret in base32, for typing in by hand.
    pub secret: String,
    /// `otpauth://totp/{issuer}:{account}?secret=...&issuer=...`
    pub uri: String,
    /// The URI as a QR code, an SVG document.
    pub qr_svg: String,
}

impl Setup {
    /// The QR code as a `data:` URL for `<img>` (the pages' CSP admits `img-src data:`).
    pub fn qr_data_url(&self) -> String {
        format!(
            "data:image/svg+xml;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&self.qr_svg)
        )
    }
}

/// `otpauth` labels may not hold `:`; the tenant's name and the username may.
fn label_part(s: &str) -> String {
    s.replace(':', "_")
}

fn totp_for(secret: Vec<u8>, issuer: &str, account: &str) -> Result<totp_rs::Totp, MfaError> {
    totp_rs::Builder::new()
        .with_secret(secret)
        .with_issuer(Some(label_part(issuer)))
        .with_account_name(label_part(account))
        .build()
        .map_err(|e| MfaError::Unexpected(anyhow::anyhow!("totp: {e}")))
}

fn setup_of(secret: Vec<u8>, issuer: &str, account: &str) -> Result<Setup, MfaError> {
    let totp = totp_for(secret, issuer, account)?;
    let uri = totp.to_url().map_err(|e| MfaError::Unexpected(anyhow::anyhow!("otpauth: {e}")))?;
    let qr =
        qrcode::QrCode::new(uri.as_bytes()).map_err(|e| MfaError::Unexpected(anyhow::anyhow!("qr: {e}")))?;
    let qr_svg =
        qr.render::<qrcode::render::svg::Color<'_>>().min_dimensions(200, 200).quiet_zone(true).build();
    Ok(Setup { secret: totp.secret().to_base32(), uri, qr_svg })
}

fn issuer_of(tenant: &TenantContext) -> &str {
    tenant.settings.branding.name.as_deref().unwrap_or(&tenant.display_name)
}

fn open_secret(state: &AppState, row: &user_factors::Model) -> Result<Vec<u8>, MfaError> {
    let sealed = row.secret.as_deref().ok_or_else(|| anyhow::anyhow!("a totp factor without a secret"))?;
    Ok(state.master_key.decrypt(sealed, row.id.as_bytes()).map_err(anyhow::Error::from)?)
}

async fn factors(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
) -> Result<(Option<user_factors::Model>, Option<user_factors::Model>), MfaError> {
    let rows = store::factors::list(&state.db, tenant.id, user_id).await?;
    let mut totps = rows.into_iter().filter(|f| f.kind == KIND);
    let (mut confirmed, mut pending) = (None, None);
    for f in totps.by_ref() {
        if f.confirmed_at.is_some() { confirmed = Some(f) } else { pending = Some(f) }
    }
    Ok((confirmed, pending))
}

/// Starts (or restarts) enrolling an authenticator app: a new secret, replacing any enrolment
/// not yet confirmed. Audited.
///
/// # Errors
/// `Off`, `MethodNotAllowed`, `AlreadyEnrolled`, or infrastructure failures.
pub async fn begin(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
    username: &str,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<Setup, MfaError> {
    super::method_allowed(tenant, Method::Totp)?;
    if factors(state, tenant, user_id).await?.0.is_some() {
        return Err(MfaError::AlreadyEnrolled);
    }
    // 160 bits, as RFC 4226 recommends.
    let secret = crate::crypto::random_bytes::<20>().to_vec();
    let id = Uuid::now_v7();
    let row = user_factors::Model {
        id,
        tenant_id: tenant.id,
        user_id,
        kind: KIND.into(),
        name: "Authenticator app".into(),
        secret: Some(state.master_key.encrypt(&secret, id.as_bytes())),
        last_step: None,
        confirmed_at: None,
        created_at: now,
        last_used_at: None,
        credential: None,
        credential_id: None,
    };
    store::factors::replace_unconfirmed(&state.db, row).await?;
    super::record(
        state,
        tenant,
        user_id,
        "mfa.totp.enrolment_started",
        true,
        meta,
        serde_json::json!({}),
        now,
    )
    .await;
    setup_of(secret, issuer_of(tenant), username)
}

/// The setup of the enrolment in progress, to show it again (after a wrong first code).
///
/// # Errors
/// `NotEnrolling`, or infrastructure failures.
pub async fn pending_setup(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
    username: &str,
) -> Result<Setup, MfaError> {
    let (_, pending) = factors(state, tenant, user_id).await?;
    let row = pending.ok_or(MfaError::NotEnrolling)?;
    setup_of(open_secret(state, &row)?, issuer_of(tenant), username)
}

/// Confirms the enrolment in progress with its first code (under the failure budget) and
/// returns new recovery codes (none when the tenant does not allow them). Audited.
///
/// # Errors
/// `NotEnrolling`, `AlreadyEnrolled`, `InvalidCode`, `Locked`, or infrastructure failures.
pub async fn confirm(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
    code: &str,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<Vec<String>, MfaError> {
    super::method_allowed(tenant, Method::Totp)?;
    let (confirmed, pending) = factors(state, tenant, user_id).await?;
    if confirmed.is_some() {
        return Err(MfaError::AlreadyEnrolled);
    }
    let row = pending.ok_or(MfaError::NotEnrolling)?;
    let totp = totp_for(open_secret(state, &row)?, "", "x")?;
    let step = totp.check(code.trim(), unix(now)).and_then(|s| i64::try_from(s).ok());
    let details = serde_json::json!({ "method": "totp", "path": "enrolment" });
    let ok = super::under_budget(state, tenant, user_id, meta, &details, now, async { Ok(step.is_some()) })
        .await?;
    let Some(step) = step.filter(|_| ok) else {
        super::record(state, tenant, user_id, "mfa.failed", false, meta, details, now).await;
        return Err(MfaError::InvalidCode);
    };
    let (plain, hashes) = if tenant.settings.second_factor.allowed().contains(&Method::RecoveryCode) {
        let plain = super::recovery::generate();
        let hashes = plain.iter().map(|c| super::recovery::hash(state, c)).collect();
        (plain, Some(hashes))
    } else {
        (Vec::new(), None)
    };
    if !store::factors::confirm(&state.db, tenant.id, &row, step, hashes, now).await? {
        return Err(MfaError::AlreadyEnrolled);
    }
    let details = serde_json::json!({ "recovery_codes": plain.len() });
    super::record(state, tenant, user_id, "mfa.totp.enrolled", true, meta, details, now).await;
    super::enrolled_new(state, tenant, user_id, now).await;
    Ok(plain)
}

fn unix(now: DateTime<Utc>) -> u64 {
    u64::try_from(now.timestamp()).unwrap_or(0)
}

/// Whether `code` is a current code of the user's confirmed app whose step was not accepted
/// before; accepting it records the step.
///
/// # Errors
/// Infrastructure failures.
pub async fn check(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
    code: &str,
    now: DateTime<Utc>,
) -> Result<bool, MfaError> {
    let Some(row) = factors(state, tenant, user_id).await?.0 else { return Ok(false) };
    let totp = totp_for(open_secret(state, &row)?, "", "x")?;
    let compact: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(step) = totp.check(&compact, unix(now)).and_then(|s| i64::try_from(s).ok()) else {
        return Ok(false);
    };
    Ok(store::factors::accept_step(&state.db, tenant.id, row.id, step, now).await?)
}

/// Removes the user's authenticator app (and, with the last factor, the recovery codes). Needs
/// a session that passed a second factor (`amr`), and a tenant policy that lets this user go
/// without one. Audited.
///
/// # Errors
/// `RequiredByPolicy`, `StepUpNeeded`, `NotEnrolled`, or infrastructure failures.
pub async fn remove(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
    admin: bool,
    amr: &[String],
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<(), MfaError> {
    if tenant.settings.second_factor.requires(admin) {
        return Err(MfaError::RequiredByPolicy);
    }
    if factors(state, tenant, user_id).await?.0.is_some() && !super::passed_second_factor(amr) {
        return Err(MfaError::StepUpNeeded);
    }
    if store::factors::delete(&state.db, tenant.id, user_id, Some(KIND)).await? == 0 {
        return Err(MfaError::NotEnrolled);
    }
    super::record(state, tenant, user_id, "mfa.totp.removed", true, meta, serde_json::json!({}), now).await;
    Ok(())
}

/// Whether the user has a confirmed app and whether one is being enrolled.
///
/// # Errors
/// Database failure.
pub async fn status(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
) -> Result<(Option<user_factors::Model>, bool), MfaError> {
    let (confirmed, pending) = factors(state, tenant, user_id).await?;
    Ok((confirmed, pending.is_some()))
}
