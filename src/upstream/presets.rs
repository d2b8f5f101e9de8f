//! Presets: well-known providers whose endpoints and claim mappings are filled in, so an admin
//! gives only a client id and secret. Any preset key can still be overridden (a GitHub
//! Enterprise or self-managed GitLab host, say).
use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::{domain::ValidationError, store::providers::LOCAL};

/// The protocol a kind speaks and its effective configuration (preset defaults, then the
/// admin's keys on top).
///
/// # Errors
/// A preset without its client secret or required keys, or an unknown kind.
pub fn expand(
    kind: &str,
    mut config: Map<String, Value>,
    secrets: &BTreeMap<String, String>,
) -> Result<(&'static str, Map<String, Value>), ValidationError> {
    let (protocol, defaults) = match kind {
        LOCAL => return Ok((LOCAL, config)),
        super::email::EMAIL => return Ok((super::email::EMAIL, config)),
        "oidc" => return Ok(("oidc", config)),
        "oauth2" => return Ok(("oauth2", config)),
        "google" => ("oidc", json!({ "issuer": "https://accounts.google.com" })),
        "gitlab" => ("oidc", json!({ "issuer": "https://gitlab.com" })),
        "microsoft" => {
            // `common` and `organizations` publish a templated issuer that no ID token
            // carries, so the directory must be named.
            let directory = config.remove("directory_tenant").and_then(|v| v.as_str().map(str::to_string));
            let Some(directory) = directory.filter(|d| {
                !d.is_empty() && d.len() <= 64 && d.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }) else {
                return Err(ValidationError::new(
                    "configuration.directory_tenant",
                    "is required: the Directory (tenant) ID of your Microsoft Entra tenant",
                ));
            };
            ("oidc", json!({ "issuer": format!("https://login.microsoftonline.com/{directory}/v2.0") }))
        }
        "github" => (
            "oauth2",
            json!({
                "authorization_url": "https://github.com/login/oauth/authorize",
                "token_url": "https://github.com/login/oauth/access_token",
                "userinfo_url": "https://api.github.com/user",
                "emails_url": "https://api.github.com/user/emails",
                "scopes": ["read:user", "user:email"],
                "claims": { "subject": "id", "username": "login", "email": "email", "name": "name",
                            "picture": "avatar_url" },
            }),
        ),
        other => {
            return Err(ValidationError::new(
                "kind",
                format!("{other:?} is not a kind; use one of {:?}", super::KINDS),
            ));
        }
    };
    if !secrets.contains_key("client_secret") {
        return Err(ValidationError::new("secrets", format!("{kind} needs secrets.client_secret")));
    }
    let Value::Object(mut merged) = defaults else { unreachable!("presets are objects") };
    merged.append(&mut config);
    Ok((protocol, merged))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> BTreeMap<String, String> {
        BTreeMap::from([("client_secret".to_string(), "s".to_string())])
    }

    #[test]
    fn presets_fill_in_endpoints_and_keep_overrides() {
        let config = json!({"client_id": "abc"}).as_object().cloned().unwrap();
        let (protocol, c) = expand("google", config, &secret()).unwrap();
        assert_eq!(protocol, "oidc");
        assert_eq!(c["issuer"], "https://accounts.google.com");
        assert_eq!(c["client_id"], "abc");
        let config = json!({"client_id": "abc", "userinfo_url": "https://ghe.example/api/v3/user"});
        let (protocol, c) = expand("github", config.as_object().cloned().unwrap(), &secret()).unwrap();
        assert_eq!(protocol, "oauth2");
        assert_eq!(c["userinfo_url"], "https://ghe.example/api/v3/user");
        assert_eq!(c["token_url"], "https://github.com/login/oauth/access_token");
    }

    #[test]
    fn presets_need_their_secret_and_microsoft_its_directory() {
        let config = json!({"client_id": "abc"}).as_object().cloned().unwrap();
        assert_eq!(expand("google", config.clone(), &BTreeMap::new()).unwrap_err().field, "secrets");
        let e = expand("microsoft", config.clone(), &secret()).unwrap_err();
        assert_eq!(e.field, "configuration.directory_tenant");
        let mut with_dir = config;
        with_dir.insert("directory_tenant".into(), json!("72f988bf-86f1-41af-91ab-2d7cd011db47"));
        let (_, c) = expand("microsoft", with_dir, &secret()).unwrap();
        assert_eq!(
            c["issuer"],
            "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"
        );
        assert!(c.get("directory_tenant").is_none());
        assert_eq!(expand("saml", Map::new(), &secret()).unwrap_err().field, "kind");
    }
}
