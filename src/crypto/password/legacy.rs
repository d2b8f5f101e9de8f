//! Password hashes made by other systems, accepted only through `gatehouse tenant import` and
//! replaced by an Argon2id hash at the user's first successful login:
//!
//! | format | example | made by |
//! |---|---|---|
//! | bcrypt | `$2b$12$<22 chars salt><31 chars hash>` (also `$2a$`, `$2y$`) | bcrypt, bcryptjs (passport-local apps), PHP `password_hash` |
//! | scrypt | `$scrypt$ln=16,r=8,p=1$<b64 salt>$<b64 hash>` | passlib `scrypt`, the PHC format of RustCrypto's `scrypt` |
//! | PBKDF2, Django | `pbkdf2_sha256$<iterations>$<salt>$<b64 hash>` (also `pbkdf2_sha512`) | Django's default hasher |
//! | PBKDF2, passlib | `$pbkdf2-sha256$<rounds>$<ab64 salt>$<ab64 hash>` (also `$pbkdf2-sha512$`) | passlib |
//!
//! Argon2 PHC strings (`$argon2id$`, `$argon2i$`) are verified by the pooled Argon2 code beside
//! this module. Every format here is bounded (bcrypt cost, iterations, scrypt memory) so one
//! imported hash cannot make a login take minutes or gigabytes; every comparison is constant
//! time.
use std::num::NonZeroU32;

use aws_lc_rs::pbkdf2 as aws_pbkdf2;
use base64::{
    Engine as _, alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig, general_purpose::STANDARD},
};

/// bcrypt costs above this take over 4 s per verification.
pub const BCRYPT_MAX_COST: u32 = 16;
/// PBKDF2 iterations above this take seconds per verification (Django 5.2 uses 1,000,000).
pub const PBKDF2_MAX_ITERATIONS: u32 = 5_000_000;
/// scrypt working memory (128 · r · N bytes) above this is refused; passlib's default is 64 MiB.
pub const SCRYPT_MAX_MEMORY: u64 = 256 * 1024 * 1024;

/// A parsed hash of one of the formats above.
pub enum Legacy {
    /// Verified by the `bcrypt` crate from the string itself.
    Bcrypt,
    Scrypt {
        params: scrypt::Params,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    Pbkdf2 {
        algorithm: aws_pbkdf2::Algorithm,
        iterations: NonZeroU32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
}

/// Names the format only: salts and hashes stay out of logs.
impl std::fmt::Debug for Legacy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Bcrypt => "Legacy::Bcrypt",
            Self::Scrypt { .. } => "Legacy::Scrypt",
            Self::Pbkdf2 { .. } => "Legacy::Pbkdf2",
        })
    }
}

/// Base64 without padding requirements (passlib strips `=`; Django keeps it).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The format's name as the stored string announces it (`2b`, `scrypt`, `pbkdf2_sha256`,
/// `pbkdf2-sha512`, `argon2i` ...), or `None` when it announces none. Only the identifier is
/// returned, never salt or hash characters, so it can go into an error message.
pub fn format_name(stored: &str) -> Option<&str> {
    let id = match stored.strip_prefix('$') {
        Some(rest) => rest.split('$').next()?,
        None => stored.split_once('$')?.0,
    };
    let plausible = !id.is_empty()
        && id.len() <= 32
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    plausible.then_some(id)
}

/// Parses a legacy hash, checking its parameters against the bounds above.
///
/// # Errors
/// The format is not one of the above, or its fields or parameters are unusable: a sentence
/// naming the format and what is wrong, without any salt or hash material.
pub fn parse(stored: &str) -> Result<Legacy, String> {
    let name = format_name(stored);
    match name {
        Some("2a" | "2b" | "2y") => parse_bcrypt(stored),
        Some("scrypt") => parse_scrypt(stored),
        Some("pbkdf2_sha256" | "pbkdf2_sha512") => parse_django(stored),
        Some("pbkdf2-sha256" | "pbkdf2-sha512") => parse_passlib_pbkdf2(stored),
        Some(other) => Err(format!("the {other:?} hash format is not supported ({SUPPORTED})")),
        None => Err(format!("not a recognised hash format ({SUPPORTED})")),
    }
}

pub const SUPPORTED: &str = "supported: $argon2id$, $argon2i$, bcrypt $2a$/$2b$/$2y$, $scrypt$, \
                             pbkdf2_sha256$/pbkdf2_sha512$ (Django), $pbkdf2-sha256$/$pbkdf2-sha512$ (passlib)";

/// True when `password` matches. bcrypt, like every bcrypt library, uses only the first 72
/// bytes of the password.
pub fn verify(legacy: &Legacy, stored: &str, password: &[u8]) -> bool {
    match legacy {
        Legacy::Bcrypt => bcrypt::verify(password, stored).unwrap_or(false),
        Legacy::Scrypt { params, salt, hash } => {
            let mut out = vec![0u8; hash.len()];
            scrypt::scrypt(password, salt, params, &mut out).is_ok()
                && aws_lc_rs::constant_time::verify_slices_are_equal(&out, hash).is_ok()
        }
        Legacy::Pbkdf2 { algorithm, iterations, salt, hash } => {
            aws_pbkdf2::verify(*algorithm, *iterations, salt, password, hash).is_ok()
        }
    }
}

fn parse_bcrypt(stored: &str) -> Result<Legacy, String> {
    // `$2b$12$` + 22 salt characters + 31 hash characters, bcrypt's own base64 alphabet.
    let invalid = || "bcrypt hash: expected $2b$<cost>$<53 characters>".to_string();
    let mut parts = stored.splitn(4, '$').skip(2);
    let (Some(cost), Some(rest)) = (parts.next(), parts.next()) else { return Err(invalid()) };
    if rest.len() != 53 || !rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/') {
        return Err(invalid());
    }
    let cost: u32 = match (cost.len(), cost.parse()) {
        (2, Ok(c)) => c,
        _ => return Err(invalid()),
    };
    if !(4..=BCRYPT_MAX_COST).contains(&cost) {
        return Err(format!("bcrypt hash: cost {cost} is outside 4..={BCRYPT_MAX_COST}"));
    }
    stored.parse::<bcrypt::HashParts>().map_err(|_| invalid())?;
    Ok(Legacy::Bcrypt)
}

fn parse_scrypt(stored: &str) -> Result<Legacy, String> {
    let invalid = || "scrypt hash: expected $scrypt$ln=<n>,r=<r>,p=<p>$<b64 salt>$<b64 hash>".to_string();
    let fields: Vec<&str> = stored.split('$').collect();
    let ["", "scrypt", params, salt, hash] = fields.as_slice() else { return Err(invalid()) };
    let (mut ln, mut r, mut p) = (None, None, None);
    for pair in params.split(',') {
        let (key, value) = pair.split_once('=').ok_or_else(invalid)?;
        let value: u32 = value.parse().map_err(|_| invalid())?;
        let slot = match key {
            "ln" => &mut ln,
            "r" => &mut r,
            "p" => &mut p,
            _ => return Err(invalid()),
        };
        if slot.replace(value).is_some() {
            return Err(invalid());
        }
    }
    let (Some(ln), Some(r), Some(p)) = (ln, r, p) else { return Err(invalid()) };
    let memory = 128u64.saturating_mul(u64::from(r)).saturating_mul(1u64.checked_shl(ln).unwrap_or(u64::MAX));
    if ln == 0 || ln > 24 || r == 0 || p == 0 || p > 16 || memory > SCRYPT_MAX_MEMORY {
        return Err(format!(
            "scrypt hash: ln={ln},r={r},p={p} is outside the bounds (at most {} MiB, p <= 16)",
            SCRYPT_MAX_MEMORY >> 20
        ));
    }
    let ln = u8::try_from(ln).map_err(|_| invalid())?;
    let params = scrypt::Params::new(ln, r, p).map_err(|_| invalid())?;
    let salt = LENIENT.decode(salt).map_err(|_| invalid())?;
    let hash = LENIENT.decode(hash).map_err(|_| invalid())?;
    if !(10..=64).contains(&hash.len()) || salt.len() > 1024 {
        return Err(invalid());
    }
    Ok(Legacy::Scrypt { params, salt, hash })
}

fn pbkdf2_algorithm(digest: &str) -> aws_pbkdf2::Algorithm {
    if digest.ends_with("512") { aws_pbkdf2::PBKDF2_HMAC_SHA512 } else { aws_pbkdf2::PBKDF2_HMAC_SHA256 }
}

fn pbkdf2_iterations(text: &str, what: &str) -> Result<NonZeroU32, String> {
    let n: u32 = text.parse().map_err(|_| format!("{what}: the iteration count is not a number"))?;
    match NonZeroU32::new(n) {
        Some(n) if n.get() <= PBKDF2_MAX_ITERATIONS => Ok(n),
        _ => Err(format!("{what}: {n} iterations is outside 1..={PBKDF2_MAX_ITERATIONS}")),
    }
}

fn pbkdf2_hash(hash: Vec<u8>, what: &str) -> Result<Vec<u8>, String> {
    if (16..=64).contains(&hash.len()) {
        Ok(hash)
    } else {
        Err(format!("{what}: the derived key must be 16 to 64 bytes"))
    }
}

/// Django: `pbkdf2_sha256$870000$<salt as text>$<base64 of the derived key>`; the salt is
/// used as its UTF-8 bytes.
fn parse_django(stored: &str) -> Result<Legacy, String> {
    const WHAT: &str = "Django PBKDF2 hash";
    let fields: Vec<&str> = stored.split('$').collect();
    let [name, iterations, salt, hash] = fields.as_slice() else {
        return Err(format!("{WHAT}: expected pbkdf2_sha256$<iterations>$<salt>$<base64 hash>"));
    };
    let iterations = pbkdf2_iterations(iterations, WHAT)?;
    let hash = STANDARD.decode(hash).map_err(|_| format!("{WHAT}: the hash is not base64"))?;
    let hash = pbkdf2_hash(hash, WHAT)?;
    if salt.is_empty() || salt.len() > 1024 {
        return Err(format!("{WHAT}: the salt must be 1 to 1024 characters"));
    }
    Ok(Legacy::Pbkdf2 { algorithm: pbkdf2_algorithm(name), iterations, salt: salt.as_bytes().to_vec(), hash })
}

/// passlib: `$pbkdf2-sha256$29000$<ab64 salt>$<ab64 hash>`, where ab64 is base64 with `.`
/// for `+` and no padding.
fn parse_passlib_pbkdf2(stored: &str) -> Result<Legacy, String> {
    const WHAT: &str = "passlib PBKDF2 hash";
    let fields: Vec<&str> = stored.split('$').collect();
    let ["", name, rounds, salt, hash] = fields.as_slice() else {
        return Err(format!("{WHAT}: expected $pbkdf2-sha256$<rounds>$<ab64 salt>$<ab64 hash>"));
    };
    let ab64 = |s: &str| LENIENT.decode(s.replace('.', "+"));
    let iterations = pbkdf2_iterations(rounds, WHAT)?;
    let salt = ab64(salt).map_err(|_| format!("{WHAT}: the salt is not ab64"))?;
    let hash = ab64(hash).map_err(|_| format!("{WHAT}: the hash is not ab64"))?;
    let hash = pbkdf2_hash(hash, WHAT)?;
    if salt.len() > 1024 {
        return Err(format!("{WHAT}: the salt is over 1024 bytes"));
    }
    Ok(Legacy::Pbkdf2 { algorithm: pbkdf2_algorithm(name), iterations, salt, hash })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(stored: &str, password: &str) {
        let legacy = parse(stored).unwrap_or_else(|e| panic!("{stored}: {e}"));
        assert!(verify(&legacy, stored, password.as_bytes()), "{stored} verifies");
        assert!(!verify(&legacy, stored, b"not the password"), "{stored} refuses a wrong password");
    }

    // Fixtures below were made with the libraries named; the integration test
    // (tests/api/cli.rs) makes fresh ones with them at test time.

    #[test]
    fn bcrypt_from_bcryptjs_and_php() {
        // bcryptjs 3.0.3: hashSync("passport password", 12). bcryptjs 2 and node.bcrypt.js
        // before 2019 wrote the same hash as $2a$.
        check(BCRYPT_2B, "passport password");
        check(&BCRYPT_2B.replacen("2b", "2a", 1), "passport password");
        // PHP's $2y$ is the same algorithm (vector from the bcrypt crate's tests).
        check("$2y$12$L6Bc/AlTQHyd9liGgGEZyOFLPHNgyxeEPfgYfBCVxJ7JIlwxyVU3u", "hunter2");
        // The buggy $2x$ and out-of-range costs are refused at import.
        assert!(parse(&BCRYPT_2B.replacen("2b", "2x", 1)).unwrap_err().contains("\"2x\""));
        assert!(parse(&BCRYPT_2B.replacen("$12$", "$17$", 1)).unwrap_err().contains("cost 17"));
        assert!(parse("$2b$12$not.an.argon2.hash").is_err());
    }

    #[test]
    fn bcrypt_uses_the_first_72_bytes_like_every_bcrypt_library() {
        // bcryptjs 3.0.3: hashSync("a".repeat(72), 4).
        let long = "a".repeat(72);
        check(BCRYPT_72, &long);
        let legacy = parse(BCRYPT_72).unwrap();
        assert!(verify(&legacy, BCRYPT_72, format!("{long}tail").as_bytes()));
    }

    #[test]
    fn scrypt_from_passlib() {
        // passlib 1.7.4: scrypt.using(rounds=10).hash("passlib password"); passlib's default is
        // ln=16 (64 MiB).
        check(SCRYPT, "passlib password");
        let huge = SCRYPT.replace("ln=10", "ln=22");
        assert!(parse(&huge).unwrap_err().contains("MiB"));
        assert!(parse(&SCRYPT.replace("ln=10,", "")).is_err());
    }

    #[test]
    fn pbkdf2_from_django_and_passlib() {
        // passlib 1.7.4 django_pbkdf2_sha256.using(rounds=1000).hash("django password") (Django's own format).
        check(DJANGO_SHA256, "django password");
        // hashlib.pbkdf2_hmac("sha512", ...) laid out as Django does for a pbkdf2_sha512 hasher.
        check(DJANGO_SHA512, "django password");
        // passlib 1.7.4 pbkdf2_sha256 / pbkdf2_sha512 .using(rounds=1000).hash("passlib password").
        check(PASSLIB_SHA256, "passlib password");
        check(PASSLIB_SHA512, "passlib password");
        let slow = DJANGO_SHA256.replacen("$1000$", "$9000000$", 1);
        assert!(parse(&slow).unwrap_err().contains("9000000 iterations"));
    }

    #[test]
    fn unknown_formats_are_named_without_their_secret_parts() {
        let err = parse("$1$saltsalt$qjXMvbEw8oaL.CzflDugX/").unwrap_err();
        assert!(err.contains("\"1\""), "{err}");
        assert!(!err.contains("saltsalt"));
        assert!(parse("sha1$abc$def").unwrap_err().contains("\"sha1\""));
        assert!(parse("plain text").unwrap_err().contains("not a recognised"));
        assert_eq!(format_name("$argon2d$v=19$m=8"), Some("argon2d"));
        assert_eq!(format_name("$$"), None);
    }

    const BCRYPT_2B: &str = "$2b$12$OMsJd1f5QcTxYY5RrO5Ct.5T6gDTfAysXR60UZc8SF/pGUmoVAvN6";
    const BCRYPT_72: &str = "$2b$04$y8f/v221ouY3hnZFDaKvi.YXGHhQ8.fvhNPKYtMyX2iLDB30TUbri";
    const SCRYPT: &str =
        "$scrypt$ln=10,r=8,p=1$c875n5MSwvhfy9nb+/8fow$wnVQjjGKQ7MHYHXvOI/2Im3k4uuEcGPBCYv9fJdXoQg";
    const DJANGO_SHA256: &str =
        "pbkdf2_sha256$1000$Zh41CQ9LobVl$xEFM2jN6yVTbWSOOUXE8q7sPp+DrSzSr0X0GCD8DrV0=";
    const DJANGO_SHA512: &str = "pbkdf2_sha512$1000$Qx7rLh2WnB9tKc4v$UxIa/Cujq4Os5BsuqPV2DXmztFM8/8KWpdF2oH3moEfvlADqgxj8ArYpJN1fI5dDEeuW+YpgG7e+hGxZHJL2gQ==";
    const PASSLIB_SHA256: &str =
        "$pbkdf2-sha256$1000$8D4HIOQcgxCiVCrlHIPQ.g$MT4fnsgKX9nBtwHZvA96uvZh56lxMK/L/j//2guW7nE";
    const PASSLIB_SHA512: &str = "$pbkdf2-sha512$1000$D2Es5dybUwphLCVEyHkvxQ$TStVfJBTVzCsKXLPWzEJSE5KSQAkcBmHcBMqGGZSuDG09OrTR1/5JDzGu3ijTCcw5OvLY599xuE0mf59MYHMFQ";
}
