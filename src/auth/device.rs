//! Device cookies (OWASP "Slow Down Online Guessing Attacks with Device Cookies"): a browser or
//! app that once signed in as a user carries a signed cookie naming that user, and gets its own
//! failure budget instead of the username-wide lock, so a stranger who locks the name does not
//! lock its owner out.
//!
//! Value: `{user id}.{issued at}.{nonce}.{HMAC}`, the HMAC under a key derived from the master
//! key over the tenant, the user, the time and the nonce. Nothing is stored: a cookie that fails
//! its own budget is refused by its nonce for the lockout window, and is then treated like a
//! request without one.
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{config::Settings, crypto::MasterKey, tenancy::TenantContext};

/// Cookie names start with this; one cookie per user, so people who share a browser keep theirs.
pub const COOKIE_PREFIX: &str = "gh_device_";
const PURPOSE: &str = "device-cookie";
/// How long a device stays trusted after its last successful sign-in.
pub const MAX_AGE_SECS: i64 = 180 * 24 * 3600;
/// At most this many device cookies of a request are looked at.
const MAX_PRESENTED: usize = 8;

/// A device cookie whose signature and age check out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub user_id: Uuid,
    pub nonce: String,
}

/// The values of the device cookies in `Cookie` header values (what faces pass in).
pub fn from_cookie_headers<'a>(headers: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    crate::domain::cookie_values(headers, COOKIE_PREFIX, MAX_PRESENTED)
}

fn mac(key: &MasterKey, tenant: Uuid, user: Uuid, issued: i64, nonce: &str) -> String {
    key.keyed_hash(PURPOSE, &format!("{tenant}.{user}.{issued}.{nonce}"))
}

/// A fresh cookie value for `user`.
pub fn issue(key: &MasterKey, tenant: Uuid, user: Uuid, now: DateTime<Utc>) -> String {
    let nonce = crate::crypto::random_id();
    let issued = now.timestamp();
    format!("{}.{issued}.{nonce}.{}", user.simple(), mac(key, tenant, user, issued, &nonce))
}

/// The device a cookie value vouches for, if its signature is ours (for this tenant) and it is
/// not older than [`MAX_AGE_SECS`].
pub fn verify(key: &MasterKey, tenant: Uuid, value: &str, now: DateTime<Utc>) -> Option<Device> {
    let mut parts = value.split('.');
    let (user, issued, nonce, tag) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let user_id = Uuid::parse_str(user).ok()?;
    let issued: i64 = issued.parse().ok()?;
    let age = now.timestamp() - issued;
    if !(0..=MAX_AGE_SECS).contains(&age) {
        return None;
    }
    let expected = mac(key, tenant, user_id, issued, nonce);
    aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), tag.as_bytes()).ok()?;
    Some(Device { user_id, nonce: nonce.to_string() })
}

/// The `Set-Cookie` value for a fresh device cookie: HttpOnly, SameSite=Lax, scoped to the
/// tenant's paths, Secure unless the deployment is plain-HTTP development.
pub fn set_cookie(settings: &Settings, tenant: &TenantContext, user: Uuid, value: &str) -> String {
    let secure = if settings.oidc.insecure_dev_cookies { "" } else { "; Secure" };
    format!(
        "{COOKIE_PREFIX}{}={value}; Path=/t/{}/; HttpOnly; SameSite=Lax; Max-Age={MAX_AGE_SECS}{secure}",
        user.simple(),
        tenant.slug
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_cookie_verifies_only_for_its_tenant_key_and_age() {
        let key = MasterKey::from_bytes(&[7u8; 32]);
        let (tenant, user, now) = (Uuid::new_v4(), Uuid::new_v4(), Utc::now());
        let value = issue(&key, tenant, user, now);
        assert_eq!(verify(&key, tenant, &value, now).map(|d| d.user_id), Some(user));
        assert!(verify(&key, Uuid::new_v4(), &value, now).is_none());
        assert!(verify(&MasterKey::from_bytes(&[8u8; 32]), tenant, &value, now).is_none());
        let later = now + chrono::Duration::seconds(MAX_AGE_SECS + 1);
        assert!(verify(&key, tenant, &value, later).is_none());
        let other = Uuid::new_v4().simple().to_string();
        let forged = format!("{other}{}", &value[32..]);
        assert!(verify(&key, tenant, &forged, now).is_none());
    }

    #[test]
    fn device_cookies_are_picked_out_of_cookie_headers() {
        let found = from_cookie_headers(["a=1; gh_device_x=v1", "gh_device_y=v2;gh_sso=z"]);
        assert_eq!(found, vec!["v1".to_string(), "v2".to_string()]);
    }
}
