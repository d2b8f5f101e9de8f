//! Signing keys: generation, sealing at rest, and the in-memory signer and verifiers built
//! once per key (never per request).
use aws_lc_rs::{
    encoding::AsDer,
    rsa::{KeyPair as RsaKeyPair, KeySize},
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair},
};
use jsonwebtoken::Header;
use serde_json::json;

use super::{ACCESS_TOKEN_TYP, AccessClaims, Algorithm};
use crate::crypto::b64url;

pub use super::verify::{
    UnverifiedHeader, Verifier, check_issued_at, kid_of, peek_header, refuse_critical_extensions,
};

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The one kind of token a key signs, and so the only kind it verifies (RFC 8725 §3.12): an
/// access token signed with an ID-token key is refused, whatever its claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    Access,
    IdToken,
}

impl KeyPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::IdToken => "id_token",
        }
    }

    /// Unknown values are `None`, so a key of an unknown purpose verifies nothing.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "access" => Some(Self::Access),
            "id_token" => Some(Self::IdToken),
            _ => None,
        }
    }
}

/// A freshly generated key: private part as DER for sealing, public part as a JWK.
pub struct GeneratedKey {
    pub kid: String,
    pub algorithm: Algorithm,
    /// PKCS#8 for EC and Ed25519, PKCS#1 for RSA: what jsonwebtoken's aws-lc backend expects.
    pub private_der: Vec<u8>,
    pub public_jwk: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
#[error("key generation failed")]
pub struct KeyGenError;

/// # Errors
/// The crypto library failed (should not happen).
pub fn generate(algorithm: Algorithm) -> Result<GeneratedKey, KeyGenError> {
    let kid = crate::crypto::random_id();
    let (private_der, mut jwk) = match algorithm {
        Algorithm::Es256 => {
            let kp = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|_| KeyGenError)?;
            let der = kp.to_pkcs8v1().map_err(|_| KeyGenError)?.as_ref().to_vec();
            // Uncompressed point: 0x04 || x || y.
            let point = kp.public_key().as_ref();
            let (x, y) = point.get(1..33).zip(point.get(33..65)).ok_or(KeyGenError)?;
            (der, json!({"kty": "EC", "crv": "P-256", "x": b64url(x), "y": b64url(y)}))
        }
        Algorithm::EdDsa => {
            let kp = Ed25519KeyPair::generate().map_err(|_| KeyGenError)?;
            let der = kp.to_pkcs8().map_err(|_| KeyGenError)?.as_ref().to_vec();
            (der, json!({"kty": "OKP", "crv": "Ed25519", "x": b64url(kp.public_key().as_ref())}))
        }
        Algorithm::Rs256 => {
            let kp = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyGenError)?;
            let pkcs8 = kp.as_der().map_err(|_| KeyGenError)?;
            let pkcs1 = pkcs1_from_pkcs8(pkcs8.as_ref()).ok_or(KeyGenError)?.to_vec();
            let public = kp.public_key();
            let n = b64url(public.modulus().big_endian_without_leading_zero());
            let e = b64url(public.exponent().big_endian_without_leading_zero());
            (pkcs1, json!({"kty": "RSA", "n": n, "e": e}))
        }
    };
    jwk["kid"] = json!(kid);
    jwk["alg"] = json!(algorithm.as_str());
    jwk["use"] = json!("sig");
    Ok(GeneratedKey { kid, algorithm, private_der, public_jwk: jwk })
}

/// Reads one DER TLV: returns (tag, content, rest).
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// PrivateKeyInfo ::= SEQUENCE { version, AlgorithmIdentifier, privateKey OCTET STRING }.
fn pkcs1_from_pkcs8(pkcs8: &[u8]) -> Option<&[u8]> {
    let (0x30, body, _) = der_tlv(pkcs8)? else { return None };
    let (0x02, _, rest) = der_tlv(body)? else { return None };
    let (0x30, _, rest) = der_tlv(rest)? else { return None };
    let (0x04, key, _) = der_tlv(rest)? else { return None };
    Some(key)
}

/// The key a tenant currently signs with.
pub struct Signer {
    pub kid: String,
    pub algorithm: Algorithm,
    private_der: Vec<u8>,
    /// Parsed on first use, then kept: jsonwebtoken's `encode` would parse (and, for EC and
    /// RSA, validate) the private key again on every signature, and parsing when the tenant
    /// loads would make reloads of tenants that only verify tokens pay for it. `None` for an
    /// unusable (corrupted) key.
    key: std::sync::OnceLock<Option<SigningKey>>,
}

enum SigningKey {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Rs256(RsaKeyPair),
}

impl Signer {
    pub fn new(kid: String, algorithm: Algorithm, private_der: &[u8]) -> Self {
        Self { kid, algorithm, private_der: private_der.to_vec(), key: std::sync::OnceLock::new() }
    }

    fn key(&self) -> Option<&SigningKey> {
        let der = self.private_der.as_slice();
        self.key
            .get_or_init(|| match self.algorithm {
                Algorithm::Es256 => EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .ok()
                    .map(SigningKey::Es256),
                Algorithm::EdDsa => Ed25519KeyPair::from_pkcs8(der).ok().map(SigningKey::EdDsa),
                Algorithm::Rs256 => RsaKeyPair::from_der(der).ok().map(SigningKey::Rs256),
            })
            .as_ref()
    }

    /// # Errors
    /// The key is unusable (a corrupted row).
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, jsonwebtoken::errors::Error> {
        self.sign_typed(claims, ACCESS_TOKEN_TYP)
    }

    /// Signs any claims with the given `typ` header (`JWT` for ID tokens).
    ///
    /// # Errors
    /// The key is unusable (a corrupted row).
    pub fn sign_typed(
        &self,
        claims: &impl serde::Serialize,
        typ: &str,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        use jsonwebtoken::errors::ErrorKind;
        let key = self.key().ok_or(ErrorKind::InvalidKeyFormat)?;
        let mut header = Header::new(self.algorithm.jwt());
        header.kid = Some(self.kid.clone());
        header.typ = Some(typ.into());
        let mut token = b64url(&serde_json::to_vec(&header)?);
        token.push('.');
        token.push_str(&b64url(&serde_json::to_vec(claims)?));
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let signature = match key {
            SigningKey::Es256(k) => k.sign(&rng, token.as_bytes()).map(|s| s.as_ref().to_vec()),
            SigningKey::EdDsa(k) => Ok(k.sign(token.as_bytes()).as_ref().to_vec()),
            SigningKey::Rs256(k) => {
                let mut out = vec![0; k.public_modulus_len()];
                k.sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &rng, token.as_bytes(), &mut out)
                    .map(|()| out)
            }
        }
        .map_err(|_| ErrorKind::InvalidKeyFormat)?;
        token.push('.');
        token.push_str(&b64url(&signature));
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use proptest::prelude::*;

    use super::*;
    use crate::tokens::{AccessClaims, TokenError};

    #[test]
    fn a_corrupted_private_key_fails_to_sign_instead_of_panicking() {
        for alg in [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256] {
            let signer = Signer::new("k".into(), alg, b"not a key");
            assert!(signer.sign(&claims("i", "a")).is_err(), "{alg:?}");
        }
    }

    fn claims(iss: &str, aud: &str) -> AccessClaims {
        let now = chrono::Utc::now().timestamp();
        AccessClaims {
            iss: iss.into(),
            sub: "u".into(),
            aud: aud.into(),
            exp: now + 60,
            nbf: now,
            iat: now,
            jti: "j".into(),
            sid: Some("s".into()),
            scope: String::new(),
            client_id: None,
            amr: Vec::new(),
        }
    }

    #[test]
    fn every_algorithm_signs_and_verifies_with_its_generated_key() {
        for alg in [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256] {
            let k = generate(alg).unwrap();
            let token = Signer::new(k.kid.clone(), alg, &k.private_der).sign(&claims("i", "a")).unwrap();
            assert_eq!(peek_header(&token).unwrap().kid, k.kid);
            let v = Verifier::new(&k.public_jwk, "i", &["a"], 0).unwrap();
            assert_eq!(v.verify(&token).unwrap().sub, "u", "{alg:?}");
            let other = Verifier::new(&k.public_jwk, "other", &["a"], 0).unwrap();
            assert_eq!(other.verify(&token), Err(TokenError::WrongIssuerOrAudience));
        }
    }

    #[test]
    fn a_token_with_a_crit_header_is_refused_even_when_correctly_signed() {
        let k = generate(Algorithm::Es256).unwrap();
        let sign = |crit: Option<Vec<String>>| {
            let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
            header.kid = Some(k.kid.clone());
            header.typ = Some(ACCESS_TOKEN_TYP.into());
            header.crit = crit;
            let key = jsonwebtoken::EncodingKey::from_ec_der(&k.private_der);
            jsonwebtoken::encode(&header, &claims("i", "a"), &key).unwrap()
        };
        let v = Verifier::new(&k.public_jwk, "i", &["a"], 0).unwrap();
        assert_eq!(v.verify(&sign(None)).unwrap().sub, "u");
        for crit in [vec!["exp".to_string()], vec!["http://example.com/ext".into()], vec![]] {
            let token = sign(Some(crit));
            assert_eq!(v.verify(&token), Err(TokenError::UnsupportedCritical));
            assert_eq!(v.verify_hint(&token), Err(TokenError::UnsupportedCritical));
            assert!(matches!(peek_header(&token), Err(TokenError::UnsupportedCritical)));
        }
    }

    #[test]
    fn issued_at_may_be_ahead_of_our_clock_by_the_leeway_and_no_more() {
        assert_eq!(check_issued_at(1_030, 1_000, 30), Ok(()));
        assert_eq!(check_issued_at(1_000, 1_000, 0), Ok(()));
        assert_eq!(check_issued_at(1_031, 1_000, 30), Err(TokenError::NotYetValid));
        assert_eq!(check_issued_at(i64::MAX, u64::MAX, u64::MAX), Ok(()));
    }

    #[test]
    fn a_token_issued_ten_minutes_in_the_future_is_refused() {
        let k = generate(Algorithm::EdDsa).unwrap();
        let signer = Signer::new(k.kid.clone(), Algorithm::EdDsa, &k.private_der);
        let v = Verifier::new(&k.public_jwk, "i", &["a"], 30).unwrap();
        let mut c = claims("i", "a");
        c.iat += 600;
        assert_eq!(v.verify(&signer.sign(&c).unwrap()), Err(TokenError::NotYetValid));
        assert_eq!(v.verify_hint(&signer.sign(&c).unwrap()), Err(TokenError::NotYetValid));
        c.iat -= 590;
        assert!(v.verify(&signer.sign(&c).unwrap()).is_ok(), "10 s ahead is within the leeway");
    }

    #[test]
    fn a_token_signed_by_another_key_of_the_same_algorithm_is_refused() {
        let a = generate(Algorithm::Es256).unwrap();
        let b = generate(Algorithm::Es256).unwrap();
        let token = Signer::new(a.kid, Algorithm::Es256, &a.private_der).sign(&claims("i", "a")).unwrap();
        let v = Verifier::new(&b.public_jwk, "i", &["a"], 0).unwrap();
        assert_eq!(v.verify(&token), Err(TokenError::BadSignature));
    }

    /// One genuine token per algorithm with the verifier that accepts it.
    struct Fixture {
        kid: String,
        token: String,
        verifier: Verifier,
    }

    static FIXTURES: LazyLock<Vec<Fixture>> = LazyLock::new(|| {
        [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256]
            .into_iter()
            .map(|alg| {
                let k = generate(alg).unwrap();
                let mut c = claims("https://id.example/t/acme", "https://id.example/t/acme");
                c.exp += 24 * 3600;
                let token = Signer::new(k.kid.clone(), alg, &k.private_der).sign(&c).unwrap();
                let verifier = Verifier::new(&k.public_jwk, &c.iss, &[&c.aud], 0).unwrap();
                Fixture { kid: k.kid, token, verifier }
            })
            .collect()
    });

    impl std::fmt::Debug for Fixture {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.token)
        }
    }

    impl Fixture {
        /// The path a presented bearer token takes: size and header checks, key by `kid`,
        /// then signature and claims.
        fn accepts(&self, token: &str) -> bool {
            let Ok(header) = peek_header(token) else { return false };
            header.kid == self.kid && self.verifier.verify(token).is_ok()
        }
    }

    fn fixture() -> impl Strategy<Value = &'static Fixture> {
        (0..FIXTURES.len()).prop_map(|i| &FIXTURES[i])
    }

    /// Characters that keep a token looking like a JWT, and some that do not.
    fn token_char() -> impl Strategy<Value = char> {
        prop_oneof![
            4 => proptest::sample::select(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".chars().collect::<Vec<_>>()
            ),
            1 => proptest::sample::select(vec!['.', '=', '+', '/', ' ', '%', '\0']),
            1 => any::<char>(),
        ]
    }

    fn reencode(segment: &str, how: u8) -> Option<String> {
        use base64::{Engine, engine::general_purpose as b64};
        let bytes = b64::URL_SAFE_NO_PAD.decode(segment).ok()?;
        Some(match how % 4 {
            0 => b64::URL_SAFE.encode(&bytes),
            1 => b64::STANDARD.encode(&bytes),
            2 => b64::STANDARD_NO_PAD.encode(&bytes),
            // The same JSON written again: other key order or spacing, same meaning.
            _ => {
                let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
                b64::URL_SAFE_NO_PAD.encode(serde_json::to_vec_pretty(&value).ok()?)
            }
        })
    }

    #[test]
    fn the_untouched_tokens_verify() {
        for f in FIXTURES.iter() {
            assert!(f.accepts(&f.token));
        }
    }

    proptest! {
        /// Replacing, inserting or deleting characters anywhere never yields an accepted token.
        #[test]
        fn a_mutated_token_never_verifies(
            f in fixture(),
            edits in proptest::collection::vec((any::<proptest::sample::Index>(), 0u8..3, token_char()), 1..4),
        ) {
            let mut chars: Vec<char> = f.token.chars().collect();
            for (at, op, c) in edits {
                let i = at.index(chars.len() + 1);
                match op {
                    0 if i < chars.len() => chars[i] = c,
                    1 if i < chars.len() => { chars.remove(i); }
                    _ => chars.insert(i, c),
                }
            }
            let mutated: String = chars.into_iter().collect();
            prop_assume!(mutated != f.token);
            prop_assert!(!f.accepts(&mutated), "{}", mutated);
        }

        /// Every strict prefix, and the token with anything appended, is refused.
        #[test]
        fn truncated_or_extended_tokens_never_verify(f in fixture(), cut in any::<proptest::sample::Index>(), tail in "\\PC{1,12}") {
            let cut = cut.index(f.token.len());
            prop_assert!(!f.accepts(&f.token[..cut]));
            let extended = format!("{}{tail}", f.token);
            prop_assert!(!f.accepts(&extended));
        }

        /// The same bytes in another base64 alphabet or with padding, the same JSON written
        /// differently, or the segments reordered: only the exact signed text verifies.
        #[test]
        fn re_encoded_tokens_never_verify(f in fixture(), segment in 0usize..3, how in 0u8..4, swap in any::<bool>()) {
            let mut parts: Vec<String> = f.token.split('.').map(str::to_string).collect();
            if swap {
                parts.swap(segment, (segment + 1) % 3);
            } else if let Some(other) = reencode(&parts[segment], how) {
                parts[segment] = other;
            }
            let token = parts.join(".");
            prop_assume!(token != f.token);
            prop_assert!(!f.accepts(&token), "{}", token);
        }

        /// Headers naming our key with another algorithm (`none`, HMAC, another curve) are
        /// refused whatever the signature.
        #[test]
        fn forged_headers_never_verify(
            f in fixture(),
            alg in proptest::sample::select(vec!["none", "HS256", "HS512", "ES256", "ES384", "RS256", "PS256", "EdDSA", "", "es256"]),
            typ in proptest::sample::select(vec!["at+jwt", "JWT", "AT+JWT"]),
            signature in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as b64};
            let header = serde_json::json!({"alg": alg, "typ": typ, "kid": f.kid});
            let payload = f.token.split('.').nth(1).unwrap();
            let token = format!("{}.{payload}.{}", b64.encode(header.to_string()), b64.encode(&signature));
            prop_assert!(!f.accepts(&token), "{}", token);
        }

        /// Arbitrary text never panics the header peek or the verifier.
        #[test]
        fn arbitrary_text_is_refused_without_panicking(f in fixture(), text in "\\PC{0,400}|[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,200}\\.[A-Za-z0-9_-]{0,90}") {
            let _ = kid_of(&text);
            prop_assert!(!f.accepts(&text));
            prop_assert!(f.verifier.verify(&text).is_err());
        }
    }

    #[test]
    fn oversized_tokens_are_refused_before_parsing() {
        let f = &FIXTURES[0];
        let padded = format!("{}{}", f.token, "A".repeat(MAX_TOKEN_BYTES));
        assert!(matches!(peek_header(&padded), Err(TokenError::TooLarge)));
    }
}
