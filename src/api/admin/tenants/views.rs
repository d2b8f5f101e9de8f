//! The wire shapes of the tenant endpoints and their settings, and their conversions.

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};

use crate::{domain::authn::Method, state::AppState, store::entities::tenants, tenancy::TenantSettings};

/// `active`, or `disabled`: refused everywhere until enabled again.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    Active,
    Disabled,
}

/// The JWS algorithm of a signing key.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SigningAlgorithm {
    ES256,
    RS256,
    EdDSA,
}

impl SigningAlgorithm {
    pub(super) fn parse(s: &str) -> Self {
        match s {
            "RS256" => Self::RS256,
            "EdDSA" => Self::EdDSA,
            _ => Self::ES256,
        }
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
            Self::EdDSA => "EdDSA",
        }
    }
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum AccountLinking {
    /// Link external identities only from a logged-in session.
    ExplicitOnly,
    /// Also link automatically when the upstream marks the email verified.
    VerifiedEmail,
}

/// Who must pass a second step after the password (docs/second-factors.md).
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum SecondFactorMode {
    /// No enrolment and no second step.
    Off,
    /// Users who enrolled a second factor pass it at every sign-in.
    Optional,
    /// Every user; those without one enrol at their next sign-in.
    Required,
    /// Users with an admin role, as `required`; others as `optional`.
    RequiredForAdmins,
}

/// A second-step method.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum SecondFactorMethod {
    /// RFC 6238 codes from an authenticator app.
    Totp,
    /// Single-use recovery codes, issued with the first enrolment.
    RecoveryCode,
    /// WebAuthn passkeys: as a second step, and to sign in without a password.
    Passkey,
}

fn mode_name(m: SecondFactorMode) -> &'static str {
    match m {
        SecondFactorMode::Off => "off",
        SecondFactorMode::Optional => "optional",
        SecondFactorMode::Required => "required",
        SecondFactorMode::RequiredForAdmins => "required_for_admins",
    }
}

/// The tenant's second-factor policy.
#[derive(Object, Clone, Serialize, Deserialize)]
pub struct SecondFactorView {
    pub mode: SecondFactorMode,
    pub methods: Vec<SecondFactorMethod>,
    /// For how many days "Remember this device" skips the second step (0: never offered).
    pub remember_device_days: u32,
}

impl From<&crate::tenancy::SecondFactorPolicy> for SecondFactorView {
    fn from(p: &crate::tenancy::SecondFactorPolicy) -> Self {
        let all = [
            SecondFactorMode::Off,
            SecondFactorMode::Optional,
            SecondFactorMode::Required,
            SecondFactorMode::RequiredForAdmins,
        ];
        let mode = all.into_iter().find(|m| mode_name(*m) == p.mode).unwrap_or(SecondFactorMode::Optional);
        let methods = p
            .allowed()
            .into_iter()
            .map(|m| match m {
                Method::Totp => SecondFactorMethod::Totp,
                Method::RecoveryCode => SecondFactorMethod::RecoveryCode,
                Method::Passkey => SecondFactorMethod::Passkey,
            })
            .collect();
        Self { mode, methods, remember_device_days: p.remember_device_days }
    }
}

/// Changes to the second-factor policy; absent fields keep their value.
#[derive(Object, Clone, Default, Serialize, Deserialize)]
#[oai(deny_unknown_fields)]
pub struct SecondFactorInput {
    #[oai(skip_serializing_if_is_none)]
    pub mode: Option<SecondFactorMode>,
    /// The methods users may enrol and use; must include `totp` or `passkey` unless the mode
    /// is `off`.
    #[oai(skip_serializing_if_is_none)]
    pub methods: Option<Vec<SecondFactorMethod>>,
    /// For how many days a browser where the user ticked "Remember this device" after a second
    /// step skips it: 0 (off, the default) to 365. Such sign-ins do not claim `mfa`, and a
    /// client asking for `acr_values` 2fa still gets the step.
    #[oai(skip_serializing_if_is_none)]
    pub remember_device_days: Option<u32>,
}

#[derive(Object, Clone, Serialize, Deserialize)]
pub struct PasswordPolicyView {
    pub min_length: u32,
    pub max_length: u32,
    /// Refuse passwords on the shipped list of common passwords.
    pub refuse_common: bool,
}

#[derive(Object, Clone, Serialize, Deserialize)]
pub struct BrandingView {
    #[oai(skip_serializing_if_is_none)]
    pub name: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub logo_url: Option<String>,
    /// `#rrggbb`
    #[oai(skip_serializing_if_is_none)]
    pub primary_color: Option<String>,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum EmailVerification {
    /// No verification mail.
    Off,
    /// A verification mail on registration; signing in does not wait for it.
    Optional,
    /// No tokens until the address is verified.
    Required,
}

impl EmailVerification {
    fn parse(s: &str) -> Self {
        match s {
            "off" => Self::Off,
            "required" => Self::Required,
            _ => Self::Optional,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Optional => "optional",
            Self::Required => "required",
        }
    }
}

/// Account mail and recovery.
#[derive(Object, Clone, Serialize, Deserialize)]
pub struct EmailPolicyView {
    pub verification: EmailVerification,
    /// Whether a password reset ends the user's sessions and refresh tokens.
    pub reset_ends_sessions: bool,
    #[oai(skip_serializing_if_is_none)]
    pub sender_name: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub reply_to: Option<String>,
}

#[derive(Object, Clone, Default, Serialize, Deserialize)]
#[oai(deny_unknown_fields)]
pub struct EmailPolicyInput {
    #[oai(skip_serializing_if_is_none)]
    pub verification: Option<EmailVerification>,
    #[oai(skip_serializing_if_is_none)]
    pub reset_ends_sessions: Option<bool>,
    /// Shown in front of the deployment's `From:` address (default: the brand name); empty
    /// string clears it.
    #[oai(skip_serializing_if_is_none)]
    pub sender_name: Option<String>,
    /// Empty string clears it.
    #[oai(skip_serializing_if_is_none)]
    pub reply_to: Option<String>,
}

/// Failed logins per username that lock it, and for how long.
#[derive(Object, Clone, Serialize, Deserialize)]
pub struct LockoutView {
    pub threshold: u32,
    pub window_secs: u64,
}

#[derive(Object, Clone, Default, Serialize, Deserialize)]
#[oai(deny_unknown_fields)]
pub struct LockoutInput {
    /// 1 to 100 failures...
    #[oai(skip_serializing_if_is_none, validator(minimum(value = "1"), maximum(value = "100")))]
    pub threshold: Option<u32>,
    /// ...within this many seconds (60 to 86400) lock the username until the window ends.
    #[oai(skip_serializing_if_is_none, validator(minimum(value = "60"), maximum(value = "86400")))]
    pub window_secs: Option<u64>,
}

#[derive(Object, Clone, Serialize, Deserialize)]
pub struct TenantSettingsView {
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    pub signing_algorithm: SigningAlgorithm,
    pub registration_open: bool,
    pub password_policy: PasswordPolicyView,
    pub account_linking: AccountLinking,
    pub branding: BrandingView,
    pub lockout: LockoutView,
    pub email: EmailPolicyView,
    pub second_factor: SecondFactorView,
    pub passkeys: PasskeysView,
}

/// How the tenant's passkeys are bound.
#[derive(Object, Clone, Serialize, Deserialize)]
pub struct PasskeysView {
    /// The WebAuthn relying-party ID; absent: the host of the public URL.
    #[oai(skip_serializing_if_is_none)]
    pub rp_id: Option<String>,
}

#[derive(Object, Clone, Default, Serialize, Deserialize)]
#[oai(deny_unknown_fields)]
pub struct PasskeysInput {
    /// The host of the public URL or a parent domain of it; empty string: the public URL's host.
    /// Passkeys registered under another RP ID stop working.
    #[oai(skip_serializing_if_is_none)]
    pub rp_id: Option<String>,
}

impl From<TenantSettings> for TenantSettingsView {
    fn from(s: TenantSettings) -> Self {
        Self {
            access_token_ttl_secs: s.access_token_ttl_secs,
            refresh_token_ttl_secs: s.refresh_token_ttl_secs,
            signing_algorithm: SigningAlgorithm::parse(&s.signing_algorithm),
            registration_open: s.registration_open,
            password_policy: PasswordPolicyView {
                min_length: s.password_policy.min_length,
                max_length: s.password_policy.max_length,
                refuse_common: s.password_policy.refuse_common,
            },
            account_linking: if s.account_linking == "verified_email" {
                AccountLinking::VerifiedEmail
            } else {
                AccountLinking::ExplicitOnly
            },
            branding: BrandingView {
                name: s.branding.name,
                logo_url: s.branding.logo_url,
                primary_color: s.branding.primary_color,
            },
            lockout: LockoutView { threshold: s.lockout.threshold, window_secs: s.lockout.window_secs },
            email: EmailPolicyView {
                verification: EmailVerification::parse(&s.email.verification),
                reset_ends_sessions: s.email.reset_ends_sessions,
                sender_name: s.email.sender_name,
                reply_to: s.email.reply_to,
            },
            second_factor: (&s.second_factor).into(),
            passkeys: PasskeysView { rp_id: s.passkeys.rp_id },
        }
    }
}

#[derive(Object, Clone, Default, Serialize, Deserialize)]
#[oai(deny_unknown_fields)]
pub struct PasswordPolicyInput {
    /// At least 8, at most `max_length`.
    #[oai(skip_serializing_if_is_none, validator(minimum(value = "8"), maximum(value = "1024")))]
    pub min_length: Option<u32>,
    /// 64 to 1024.
    #[oai(skip_serializing_if_is_none, validator(minimum(value = "64"), maximum(value = "1024")))]
    pub max_length: Option<u32>,
    #[oai(skip_serializing_if_is_none)]
    pub refuse_common: Option<bool>,
}

#[derive(Object, Clone, Default, Serialize, Deserialize)]
#[oai(deny_unknown_fields)]
pub struct BrandingInput {
    /// At most 100 characters; empty string clears it.
    #[oai(skip_serializing_if_is_none, validator(max_length = 100))]
    pub name: Option<String>,
    /// An https URL (at most 2048 characters), or the image inline as a
    /// `data:image/{png,jpeg,webp,svg+xml};base64,...` URL of at most 32 KiB; empty string clears it.
    #[oai(skip_serializing_if_is_none)]
    pub logo_url: Option<String>,
    /// `#rrggbb`, for the buttons and focus rings of the hosted pages. Text on buttons is black
    /// or white, whichever has the higher contrast (at least 4.5:1); focus rings fall back to the
    /// page's text colour where this one has less than 3:1 against white. Empty string clears it.
    #[oai(skip_serializing_if_is_none, validator(pattern = r"^(#[0-9a-fA-F]{6})?$"))]
    pub primary_color: Option<String>,
}

/// Settings to change; absent fields keep their value. Changing `signing_algorithm` rotates to a
/// new key of that algorithm.
#[derive(Object, Clone, Default, Serialize, Deserialize)]
#[oai(deny_unknown_fields)]
pub struct TenantSettingsInput {
    /// 60 to the deployment's maximum (default 3600).
    #[oai(skip_serializing_if_is_none, validator(minimum(value = "60")))]
    pub access_token_ttl_secs: Option<u64>,
    /// 300 to 31622400 (366 days).
    #[oai(skip_serializing_if_is_none, validator(minimum(value = "300"), maximum(value = "31622400")))]
    pub refresh_token_ttl_secs: Option<u64>,
    // Documented on the struct: a doc comment here would wrap the enum's $ref in `allOf`,
    // which generated clients (openapi-python-client) cannot read.
    #[oai(skip_serializing_if_is_none)]
    pub signing_algorithm: Option<SigningAlgorithm>,
    /// Whether anyone may register an account (`POST /t/{tenant}/auth/register`) or sign up
    /// through an upstream provider; false for new tenants.
    #[oai(skip_serializing_if_is_none)]
    pub registration_open: Option<bool>,
    #[oai(skip_serializing_if_is_none)]
    pub password_policy: Option<PasswordPolicyInput>,
    #[oai(skip_serializing_if_is_none)]
    pub account_linking: Option<AccountLinking>,
    #[oai(skip_serializing_if_is_none)]
    pub branding: Option<BrandingInput>,
    #[oai(skip_serializing_if_is_none)]
    pub lockout: Option<LockoutInput>,
    #[oai(skip_serializing_if_is_none)]
    pub email: Option<EmailPolicyInput>,
    pub second_factor: Option<SecondFactorInput>,
    #[oai(skip_serializing_if_is_none)]
    pub passkeys: Option<PasskeysInput>,
}

pub(super) fn clearable(v: String) -> Option<String> {
    (!v.is_empty()).then_some(v)
}

impl TenantSettingsInput {
    pub(super) fn apply(self, s: &mut TenantSettings) {
        if let Some(v) = self.access_token_ttl_secs {
            s.access_token_ttl_secs = v;
        }
        if let Some(v) = self.refresh_token_ttl_secs {
            s.refresh_token_ttl_secs = v;
        }
        if let Some(v) = self.signing_algorithm {
            s.signing_algorithm = v.as_str().to_string();
        }
        if let Some(v) = self.registration_open {
            s.registration_open = v;
        }
        if let Some(p) = self.password_policy {
            s.password_policy.min_length = p.min_length.unwrap_or(s.password_policy.min_length);
            s.password_policy.max_length = p.max_length.unwrap_or(s.password_policy.max_length);
            s.password_policy.refuse_common = p.refuse_common.unwrap_or(s.password_policy.refuse_common);
        }
        if let Some(v) = self.account_linking {
            s.account_linking =
                if v == AccountLinking::VerifiedEmail { "verified_email" } else { "explicit_only" }
                    .to_string();
        }
        if let Some(l) = self.lockout {
            s.lockout.threshold = l.threshold.unwrap_or(s.lockout.threshold);
            s.lockout.window_secs = l.window_secs.unwrap_or(s.lockout.window_secs);
        }
        if let Some(e) = self.email {
            if let Some(v) = e.verification {
                s.email.verification = v.as_str().to_string();
            }
            s.email.reset_ends_sessions = e.reset_ends_sessions.unwrap_or(s.email.reset_ends_sessions);
            if let Some(v) = e.sender_name {
                s.email.sender_name = clearable(v);
            }
            if let Some(v) = e.reply_to {
                s.email.reply_to = clearable(v);
            }
        }
        if let Some(f) = self.second_factor {
            if let Some(d) = f.remember_device_days {
                s.second_factor.remember_device_days = d;
            }
            if let Some(m) = f.mode {
                s.second_factor.mode = mode_name(m).to_string();
            }
            if let Some(methods) = f.methods {
                s.second_factor.methods = methods
                    .into_iter()
                    .map(|m| match m {
                        SecondFactorMethod::Totp => Method::Totp.as_str().to_string(),
                        SecondFactorMethod::RecoveryCode => Method::RecoveryCode.as_str().to_string(),
                        SecondFactorMethod::Passkey => Method::Passkey.as_str().to_string(),
                    })
                    .collect();
            }
        }
        if let Some(rp_id) = self.passkeys.and_then(|p| p.rp_id) {
            s.passkeys.rp_id = clearable(rp_id);
        }
        if let Some(b) = self.branding {
            if let Some(v) = b.name {
                s.branding.name = clearable(v);
            }
            if let Some(v) = b.logo_url {
                s.branding.logo_url = clearable(v);
            }
            if let Some(v) = b.primary_color {
                s.branding.primary_color = clearable(v);
            }
        }
    }
}

#[derive(Object, Clone, Serialize, Deserialize)]
pub struct TenantView {
    pub id: uuid::Uuid,
    pub slug: String,
    pub display_name: String,
    pub status: TenantStatus,
    /// `{public_url}/t/{slug}`: the issuer of the tenant's tokens.
    pub issuer: String,
    pub settings: TenantSettingsView,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub(super) fn tenant_view(state: &AppState, t: tenants::Model) -> TenantView {
    let settings: TenantSettings = serde_json::from_value(t.settings).unwrap_or_default();
    TenantView {
        id: t.id,
        issuer: state.tenants.issuer(&t.slug),
        slug: t.slug,
        display_name: t.display_name,
        status: if t.status == "active" { TenantStatus::Active } else { TenantStatus::Disabled },
        settings: settings.into(),
        created_at: t.created_at,
        updated_at: t.updated_at,
    }
}

#[derive(Object, Serialize)]
#[oai(deny_unknown_fields)]
pub struct CreateTenantRequest {
    /// URL-safe identifier used in every path: 1-63 lower-case letters, digits, inner hyphens.
    #[oai(validator(pattern = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"))]
    pub slug: String,
    /// 1 to 200 characters, not all blank.
    #[oai(validator(
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    ))]
    pub display_name: String,
    /// Defaults come from the deployment configuration; self-registration starts closed
    /// (`registration_open: false`).
    #[oai(skip_serializing_if_is_none)]
    pub settings: Option<TenantSettingsInput>,
}

/// Fields to change; absent fields keep their value. `status` `disabled` stops every token of
/// the tenant at once and refuses logins (operators only).
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct UpdateTenantRequest {
    /// 1 to 200 characters, not all blank.
    #[oai(
        skip_serializing_if_is_none,
        validator(
            max_length = 200,
            pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
        )
    )]
    pub display_name: Option<String>,
    // Documented on the struct: a doc comment here would wrap the enum's $ref in `allOf`,
    // which generated clients (openapi-python-client) cannot read.
    #[oai(skip_serializing_if_is_none)]
    pub status: Option<TenantStatus>,
    #[oai(skip_serializing_if_is_none)]
    pub settings: Option<TenantSettingsInput>,
}

#[derive(Object)]
pub struct TenantList {
    pub items: Vec<TenantView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}
