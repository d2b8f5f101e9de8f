//! The operator CLI, run as the real binary against the same database as a running app.
use std::{io::Write as _, path::PathBuf, process::Stdio};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, backend_tests};

struct Output {
    ok: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `gatehouse <args>` configured like `app` (database, schema, master key, Redis), with
/// `stdin` written to its standard input (never a terminal) and the configured log level.
async fn gatehouse(app: &TestApp, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let s = &app.settings;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env_remove("GATEHOUSE_ADMIN_PASSWORD")
        .env_remove("GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD")
        .env("GATEHOUSE_CONFIG_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
        .env("GATEHOUSE__DATABASE__URL", s.database.url.expose())
        .env("GATEHOUSE__SECRETS__MASTER_KEY", s.secrets.master_key.as_ref().unwrap().expose())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(schema) = &s.database.schema {
        cmd.env("GATEHOUSE__DATABASE__SCHEMA", schema);
    }
    if let Some(redis) = &s.redis.url {
        cmd.env("GATEHOUSE__REDIS__URL", redis.expose())
            .env("GATEHOUSE__REDIS__KEY_PREFIX", &s.redis.key_prefix);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let input = stdin.to_string();
    tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().expect("the gatehouse binary starts");
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        Output {
            ok: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

async fn ok(app: &TestApp, args: &[&str], stdin: &str) -> String {
    let out = gatehouse(app, args, &[], stdin).await;
    assert!(out.ok, "gatehouse {args:?} failed: {}", out.stderr);
    out.stdout
}

fn temp_file(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("gatehouse-{name}-{}.json", uuid::Uuid::new_v4().simple()))
}

/// The stderr lines that are log lines of `level` (pretty format: `<time>  INFO <target>: ...`).
fn log_lines<'a>(stderr: &'a str, level: &str) -> Vec<&'a str> {
    stderr.lines().filter(|l| l.split_whitespace().nth(1) == Some(level)).collect()
}

/// A configuration error: exit code 2 and one line on stderr that names `key` and says `hint`.
fn assert_config_error(out: &Output, key: &str, hint: &str) {
    assert_eq!(out.code, Some(2), "{key}: {}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{key}: one line: {}", out.stderr);
    assert!(lines[0].contains(key) && lines[0].contains(hint), "{key} / {hint}: {}", lines[0]);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}

async fn kids(app: &TestApp, tenant: &str) -> Vec<String> {
    let jwks: Value = app
        .client
        .get(app.url(&format!("/t/{tenant}/.well-known/jwks.json")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
}

backend_tests! {
    async fn bad_settings_stop_every_command_with_exit_code_2_and_one_line_naming_the_setting(app: TestApp) {
        for (key, value, hint) in [
            // tracing would read `verbose` as a target name and log nothing else.
            ("GATEHOUSE__LOG__LEVEL", "verbose", "info"),
            ("GATEHOUSE__LOG__FORMAT", "xml", "pretty or json"),
            ("GATEHOUSE__SERVER__BIND", "localhost:8080", "an IP address and a port such as 127.0.0.1:8080"),
            ("GATEHOUSE__SECRETS__MASTER_KEY", "not-a-key", "openssl rand -base64 32"),
        ] {
            for command in [&["tenant", "create", "acme"][..], &["migrate"], &["serve"]] {
                let out = gatehouse(&app, command, &[(key, value)], "").await;
                assert_config_error(&out, key, hint);
            }
        }
        assert_eq!(app.admin_get(&app.operator().await, "/admin/v1/tenants/acme").await.status(), StatusCode::NOT_FOUND);
    }

    async fn operator_commands_are_quiet_unless_verbose_and_print_each_error_once(app: TestApp) {
        let out = gatehouse(&app, &["tenant", "create", "acme"], &[], "").await;
        assert!(out.ok, "{}", out.stderr);
        assert!(out.stderr.is_empty(), "no log chatter at the configured level info: {}", out.stderr);
        let migrated = gatehouse(&app, &["migrate"], &[], "").await;
        assert_eq!((migrated.ok, migrated.stdout.trim()), (true, "the database is up to date"), "{}", migrated.stderr);
        assert!(migrated.stderr.is_empty(), "{}", migrated.stderr);
        let verbose = gatehouse(&app, &["-v", "migrate"], &[], "").await;
        assert!(!log_lines(&verbose.stderr, "INFO").is_empty(), "-v shows progress: {}", verbose.stderr);

        // Act: failures of several kinds.
        let taken = gatehouse(&app, &["tenant", "create", "acme"], &[], "").await;
        let unknown = gatehouse(&app, &["keys", "rotate", "--tenant", "nope"], &[], "").await;
        let no_password = gatehouse(&app, &["admin", "create", "--tenant", "acme", "--username", "boss"], &[], "").await;

        // Assert: exit 1, the error once, on one line, and nothing else.
        for (out, says) in [(&taken, "tenant acme exists already"), (&unknown, "no tenant nope"),
                            (&no_password, "read from a prompt on a terminal or the first line of stdin")] {
            assert_eq!(out.code, Some(1), "{}", out.stderr);
            assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
            assert!(out.stderr.starts_with("gatehouse: ") && out.stderr.contains(says), "{}", out.stderr);
        }
    }

    async fn an_admin_token_printed_by_the_cli_works_on_the_admin_api_without_a_password(app: TestApp) {
        // The CLI signs for the issuer the server announces, as one deployment's config would.
        let public_url = app.settings.public_url();
        let env = [("GATEHOUSE__SERVER__PUBLIC_URL", public_url.as_str())];

        let out = gatehouse(&app, &["token"], &env, "").await;

        assert!(out.ok, "{}", out.stderr);
        let token = out.stdout.trim();
        assert_eq!(app.admin_get(token, "/admin/v1/tenants").await.status(), StatusCode::OK);
        assert!(out.stderr.contains("valid 600 s"), "{}", out.stderr);
        let log: Value = app.admin_get(token, "/admin/v1/tenants/system/audit-events").await.json().await.unwrap();
        let types: Vec<&str> = log["items"].as_array().unwrap().iter().map(|e| e["event_type"].as_str().unwrap()).collect();
        assert!(types.contains(&"admin.token_issued"), "{types:?}");
        // Not for users who are no administrators, nor beyond the longest access-token lifetime.
        assert_eq!(app.register("default", "alice").await.status(), StatusCode::CREATED);
        let user = gatehouse(&app, &["token", "--tenant", "default", "--username", "alice"], &env, "").await;
        assert!(!user.ok && user.stderr.contains("not an administrator"), "{}", user.stderr);
        let long = gatehouse(&app, &["token", "--ttl", "999999"], &env, "").await;
        assert!(!long.ok && long.stderr.contains("--ttl"), "{}", long.stderr);
        let nobody = gatehouse(&app, &["token", "--username", "nobody"], &env, "").await;
        assert!(!nobody.ok, "{}", nobody.stdout);
    }

    async fn a_tenant_and_admins_created_with_the_cli_log_in_over_http(app: TestApp) {
        // Arrange + Act
        let created = ok(&app, &["tenant", "create", "acme", "--name", "Acme Corp"], "").await;
        assert!(created.contains("created tenant acme"), "{created}");
        let closed = app.register("acme", "ann").await;
        assert_eq!(crate::helpers::problem(closed, StatusCode::FORBIDDEN).await["code"], "registration_closed");
        ok(&app, &["admin", "create", "--tenant", "acme", "--username", "Boss"], &format!("{PASSWORD}\n")).await;
        // The operator's bootstrap password in the environment is never taken for a new admin.
        let bootstrap = [("GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD", "the operator's own password")];
        let out = gatehouse(&app, &["admin", "create", "--tenant", "system", "--username", "ops2"], &bootstrap, "an operator made from the cli\n").await;
        assert!(out.ok, "{}", out.stderr);
        assert!(out.stderr.is_empty(), "{}", out.stderr);
        // The old variable still works, with a warning naming the way that replaces it.
        let env = [("GATEHOUSE_ADMIN_PASSWORD", "an operator made the old way")];
        let old = gatehouse(&app, &["admin", "create", "--tenant", "system", "--username", "ops3"], &env, "").await;
        assert!(old.ok, "{}", old.stderr);
        assert!(old.stderr.contains("GATEHOUSE_ADMIN_PASSWORD is deprecated") && old.stderr.contains("stdin"), "{}", old.stderr);
        assert_eq!(app.login_raw("system", "ops3", "an operator made the old way").await.status(), StatusCode::OK);

        // Assert: the tenant admin manages acme (and only acme), the operator every tenant.
        let boss = app.login("acme", "boss").await.access;
        assert_eq!(app.admin_get(&boss, "/admin/v1/tenants/acme/users").await.status(), StatusCode::OK);
        assert_eq!(app.admin_get(&boss, "/admin/v1/tenants/default/users").await.status(), StatusCode::FORBIDDEN);
        let tenant: Value = app.admin_get(&boss, "/admin/v1/tenants/acme").await.json().await.unwrap();
        assert_eq!(tenant["display_name"], "Acme Corp");
        let op = app.login_raw("system", "ops2", "an operator made from the cli").await;
        assert_eq!(op.status(), StatusCode::OK);
        let op = op.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
        assert_eq!(app.admin_post(&op, "/admin/v1/tenants", &json!({"slug": "beta", "display_name": "Beta"})).await.status(), StatusCode::CREATED);
        let log: Value = app.admin_get(&op, "/admin/v1/tenants/acme/audit-events").await.json().await.unwrap();
        let types: Vec<&str> = log["items"].as_array().unwrap().iter().map(|e| e["event_type"].as_str().unwrap()).collect();
        assert!(types.contains(&"tenant.created") && types.contains(&"user.created"), "{types:?}");

        // Refusals: a taken slug, a taken username, a weak password, a password as an argument.
        assert!(!gatehouse(&app, &["tenant", "create", "acme"], &[], "").await.ok);
        let again = gatehouse(&app, &["admin", "create", "--tenant", "acme", "--username", "boss"], &[], &format!("{PASSWORD}\n")).await;
        assert!(!again.ok && again.stderr.contains("boss"), "{}", again.stderr);
        let weak = gatehouse(&app, &["admin", "create", "--tenant", "acme", "--username", "weak"], &[], "short\n").await;
        assert!(!weak.ok && weak.stderr.contains("password"), "{}", weak.stderr);
        let arg = gatehouse(&app, &["admin", "create", "--tenant", "acme", "--username", "x", "--password", PASSWORD], &[], "").await;
        assert!(!arg.ok);
        assert_eq!(app.login_raw("acme", "weak", "short").await.status(), StatusCode::UNAUTHORIZED);
    }

    async fn rotating_keys_with_the_cli_publishes_a_new_kid_and_old_tokens_keep_working(app: TestApp) {
        let before = kids(&app, "default").await;
        let t = app.user("alice").await;
        let rotated = gatehouse(&app, &["keys", "rotate", "--tenant", "default"], &[], "").await;
        assert!(rotated.ok, "{}", rotated.stderr);
        let out = rotated.stdout;
        let new: Vec<String> = out.lines().map(str::to_string).collect();
        // What happens when, in the deployment at hand.
        assert!(rotated.stderr.contains("sign new tokens and are published in its JWKS at once"), "{}", rotated.stderr);
        assert!(rotated.stderr.contains("keep verifying for 3630 s"), "{}", rotated.stderr);
        let told = rotated.stderr.contains("told through Redis");
        assert_eq!(told, app.settings.redis.url.is_some(), "{}", rotated.stderr);
        assert_eq!(new.len(), 2, "an access-token key and an ID-token key: {out}");
        assert!(new.iter().all(|k| !before.contains(k)));
        if app.settings.redis.url.is_none() {
            // The in-process store reaches no other process: a single instance reloads the
            // tenant when its cache entry expires (30 s); skip the wait.
            app.state.tenants.invalidate("default");
        }
        // With Redis the CLI tells every instance at once.
        let mut published = Vec::new();
        for _ in 0..50 {
            published = kids(&app, "default").await;
            if new.iter().all(|k| published.contains(k)) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(new.iter().all(|k| published.contains(k)), "{published:?} lacks {new:?}");
        assert!(before.iter().all(|k| published.contains(k)), "retired keys stay published while tokens live");
        assert_eq!(app.me("default", &t.access).await.status(), StatusCode::OK);
        let fresh = app.login("default", "alice").await.access;
        let header = jsonwebtoken::decode_header(&fresh).unwrap();
        assert_eq!(header.kid.as_deref(), Some(new[0].as_str()));
    }

    async fn an_exported_tenant_imports_into_another_database_and_its_users_keep_their_passwords(app: TestApp) {
        // Arrange: a tenant with a user, a linked-provider setup and a confidential client.
        ok(&app, &["tenant", "create", "acme", "--open-registration"], "").await;
        assert_eq!(app.register("acme", "alice").await.status(), StatusCode::CREATED);
        let alice_sub = TestApp::claims_of(&app.login("acme", "alice").await.access).sub;
        let op = app.operator().await;
        let provider = json!({"provider_id": "github", "kind": "github", "display_name": "GitHub",
                              "configuration": {"client_id": "gh-client"}, "secrets": {"client_secret": "gh-secret-value"}});
        assert_eq!(app.admin_post(&op, "/admin/v1/tenants/acme/providers", &provider).await.status(), StatusCode::CREATED);
        let client = json!({"name": "Billing", "client_type": "confidential", "grant_types": ["client_credentials"], "scopes": ["billing:read"]});
        assert_eq!(app.admin_post(&op, "/admin/v1/tenants/acme/clients", &client).await.status(), StatusCode::CREATED);
        let other = TestApp::spawn(app.backend).await;

        // Act 1: the default export keeps provider secrets sealed; another master key cannot open them.
        let sealed = temp_file("sealed");
        ok(&app, &["tenant", "export", "acme", "--out", sealed.to_str().unwrap()], "").await;
        let text = std::fs::read_to_string(&sealed).unwrap();
        assert!(!text.contains("gh-secret-value"));
        assert!(text.contains("$argon2id$"), "password hashes are exported");
        #[cfg(unix)]
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&sealed).unwrap().permissions()) & 0o777, 0o600);
        let refused = gatehouse(&other, &["tenant", "import", sealed.to_str().unwrap()], &[], "").await;
        assert!(!refused.ok && refused.stderr.contains("--include-secrets"), "{}", refused.stderr);
        assert_eq!(other.login_raw("acme", "alice", PASSWORD).await.status(), StatusCode::NOT_FOUND, "nothing was written");

        // Act 2: with --include-secrets the import re-seals them with its own key.
        let clear = ok(&app, &["tenant", "export", "acme", "--include-secrets"], "").await;
        assert!(clear.contains("gh-secret-value"));
        let imported = gatehouse(&other, &["tenant", "import", "-"], &[], &clear).await;
        assert!(imported.ok, "{}", imported.stderr);
        assert!(imported.stdout.contains(": 1 user, 1 client"), "{}", imported.stdout);
        assert!(imported.stderr.contains("Billing"), "the client secret needs renewing: {}", imported.stderr);

        // Assert: same password, same subject, the provider is offered.
        let login = other.login("acme", "alice").await;
        assert_eq!(TestApp::claims_of(&login.access).sub, alice_sub);
        let options: Value = other.client.get(other.url("/t/acme/providers")).send().await.unwrap().json().await.unwrap();
        assert!(options.to_string().contains("github"), "{options}");
        let stored = gatehouse::store::providers::list_all(&other.state.db, other.state.tenants.get("acme").await.unwrap().unwrap().id).await.unwrap();
        let github = stored.iter().find(|p| p.provider_id == "github").unwrap();
        let secrets = gatehouse::store::providers::open_secrets(&other.state.master_key, github).unwrap();
        assert_eq!(secrets["client_secret"], "gh-secret-value");

        // An existing slug is refused unless --replace; a broken document writes nothing.
        let again = gatehouse(&other, &["tenant", "import", "-"], &[], &clear).await;
        assert!(!again.ok && again.stderr.contains("exists"), "{}", again.stderr);
        let replaced = gatehouse(&other, &["tenant", "import", "--replace", "-"], &[], &clear).await;
        assert!(replaced.ok, "{}", replaced.stderr);
        // Provider settings are `configuration`, as in the admin API; files exported when the
        // key was `config` still import.
        let mut legacy: Value = serde_json::from_str(&clear).unwrap();
        for p in legacy["providers"].as_array_mut().unwrap() {
            let settings = p.as_object_mut().unwrap().remove("configuration").expect("exported as configuration");
            assert!(p.get("config").is_none(), "{p}");
            p["config"] = settings;
        }
        let old = gatehouse(&other, &["tenant", "import", "--replace", "-"], &[], &legacy.to_string()).await;
        assert!(old.ok, "{}", old.stderr);
        let other_op = other.operator().await;
        let github: Value = other.admin_get(&other_op, "/admin/v1/tenants/acme/providers/github").await.json().await.unwrap();
        assert_eq!(github["configuration"], json!({"client_id": "gh-client"}), "{github}");
        let mut broken: Value = serde_json::from_str(&clear).unwrap();
        broken["tenant"]["slug"] = json!("acme-copy");
        broken["tenant"]["id"] = Value::Null;
        for u in broken["users"].as_array_mut().unwrap() {
            u["id"] = Value::Null;
        }
        broken["users"][0]["password_hash"] = json!("$2b$12$not.an.argon2.hash");
        let bad = gatehouse(&other, &["tenant", "import", "-"], &[], &broken.to_string()).await;
        assert!(!bad.ok && bad.stderr.contains("password_hash"), "{}", bad.stderr);
        assert!(other.state.tenants.get("acme-copy").await.unwrap().is_none());
        let _ = std::fs::remove_file(sealed);
    }

    async fn argon2id_hashes_from_another_system_log_in_and_are_upgraded(app: TestApp) {
        use argon2::PasswordHasher as _;
        // Another system's parameters (m=32 MiB, t=3), as a PHC string.
        let params = argon2::Params::new(32 * 1024, 3, 1, None).unwrap();
        let foreign = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
            .hash_password(b"imported password 1234")
            .unwrap()
            .to_string();
        let doc = json!({
            "format": "gatehouse.tenant", "version": 1,
            "tenant": {"slug": "legacy", "display_name": "Legacy app"},
            "users": [
                {"username": "Carol", "email": "carol@example.com", "password_hash": foreign},
                {"username": "dave", "roles": ["tenant-admin"], "password_hash": foreign}
            ]
        });
        ok(&app, &["tenant", "import", "-"], &doc.to_string()).await;
        let resp = app.login_raw("legacy", "carol", "imported password 1234").await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(app.login_raw("legacy", "carol", "wrong password 1234").await.status(), StatusCode::UNAUTHORIZED);
        let tenant = app.state.tenants.get("legacy").await.unwrap().unwrap();
        let carol = gatehouse::store::users::find_by_username(&app.state.db, tenant.id, "carol").await.unwrap().unwrap();
        assert!(carol.password_hash.unwrap().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "re-hashed at login");
        // Roles carry over: dave administers the imported tenant.
        let resp = app.login_raw("legacy", "dave", "imported password 1234").await;
        let dave = resp.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
        assert_eq!(app.admin_get(&dave, "/admin/v1/tenants/legacy/users").await.status(), StatusCode::OK);
        // An operator role cannot be smuggled into an ordinary tenant.
        let mut evil = doc.clone();
        evil["tenant"]["slug"] = json!("evil");
        evil["users"][0]["roles"] = json!(["admin"]);
        let refused = gatehouse(&app, &["tenant", "import", "-"], &[], &evil.to_string()).await;
        assert!(!refused.ok && refused.stderr.contains("role"), "{}", refused.stderr);
    }
}

/// Hashes of `password` made by the libraries the apps we take users from use: bcryptjs (a
/// passport-local app, examples/express-passport) and passlib, plus Django's PBKDF2 layout
/// (passlib's `django_pbkdf2_sha256`; `pbkdf2_sha512` from hashlib, laid out as Django does).
/// Returns (username, hash) pairs.
fn foreign_hashes(password: &str) -> Vec<(String, String)> {
    use std::process::Command;
    let node = crate::clients::node_project("examples/express-passport", "bcryptjs");
    let bcrypt = crate::clients::run_tool(
        "bcryptjs",
        Command::new("node")
            .args(["--input-type=module", "-e"])
            .arg(
                "import bcrypt from 'bcryptjs';
                 const h = bcrypt.hashSync(process.env.PW, 12);
                 console.log('bcrypt-2b ' + h);
                 console.log('bcrypt-2y ' + h.replace('$2b$', '$2y$'));",
            )
            .env("PW", password)
            .current_dir(node),
    );
    let passlib = crate::clients::run_tool(
        "passlib (scripts/test installs it into .venv)",
        Command::new("python3")
            .args(["-W", "ignore", "-c"])
            .arg(
                "import base64, hashlib, os, sys
from passlib.hash import scrypt, pbkdf2_sha256, pbkdf2_sha512, django_pbkdf2_sha256
pw = os.environ['PW']
print('scrypt', scrypt.hash(pw))
print('passlib-sha256', pbkdf2_sha256.hash(pw))
print('passlib-sha512', pbkdf2_sha512.hash(pw))
print('django-sha256', django_pbkdf2_sha256.using(rounds=870000).hash(pw))
salt = 'h1XbDE6gV9Qp2wKz'
dk = hashlib.pbkdf2_hmac('sha512', pw.encode(), salt.encode(), 600000)
print('django-sha512', 'pbkdf2_sha512$600000$%s$%s' % (salt, base64.b64encode(dk).decode()))",
            )
            .env("PW", password),
    );
    format!("{bcrypt}{passlib}")
        .lines()
        .map(|l| {
            let (user, hash) = l.split_once(' ').unwrap();
            (user.to_string(), hash.to_string())
        })
        .collect()
}

backend_tests! {
    async fn bcrypt_scrypt_pbkdf2_and_argon2i_users_log_in_and_their_hashes_become_argon2id(app: TestApp) {
        use argon2::PasswordHasher as _;
        // Arrange: one user per format, hashed by the library that app would have used.
        let password = "the password from the old app";
        let mut hashes = tokio::task::spawn_blocking(move || foreign_hashes(password)).await.unwrap();
        let argon2i = argon2::Argon2::new(argon2::Algorithm::Argon2i, argon2::Version::V0x13, argon2::Params::new(16 * 1024, 3, 1, None).unwrap())
            .hash_password(password.as_bytes())
            .unwrap()
            .to_string();
        hashes.push(("argon2i".into(), argon2i));
        assert_eq!(hashes.len(), 8, "{hashes:?}");
        let users: Vec<Value> = hashes.iter().map(|(u, h)| json!({"username": u, "password_hash": h})).collect();
        let doc = json!({"format": "gatehouse.tenant", "version": 1,
                         "tenant": {"slug": "moved", "display_name": "Moved app"}, "users": users});

        // Act
        ok(&app, &["tenant", "import", "-"], &doc.to_string()).await;

        // Assert: the right password logs in and replaces the hash; a wrong one does not.
        let tenant = app.state.tenants.get("moved").await.unwrap().unwrap();
        for (user, hash) in &hashes {
            let wrong = app.login_raw("moved", user, "not the password from the old app").await;
            assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "{user}");
            let stored = gatehouse::store::users::find_by_username(&app.state.db, tenant.id, user).await.unwrap().unwrap();
            assert_eq!(stored.password_hash.as_ref(), Some(hash), "{user}: a failed login changes nothing");
            assert_eq!(app.login_raw("moved", user, password).await.status(), StatusCode::OK, "{user} ({hash})");
            let stored = gatehouse::store::users::find_by_username(&app.state.db, tenant.id, user).await.unwrap().unwrap();
            let upgraded = stored.password_hash.unwrap();
            assert!(upgraded.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{user}: re-hashed at login: {upgraded}");
            assert_eq!(app.login_raw("moved", user, password).await.status(), StatusCode::OK, "{user} after the upgrade");
            assert_eq!(app.login_raw("moved", user, "not the password from the old app").await.status(), StatusCode::UNAUTHORIZED);
        }

        // An unknown format is refused at import, naming the user and the format, writing nothing.
        let md5crypt = json!({"format": "gatehouse.tenant", "version": 1,
            "tenant": {"slug": "md5", "display_name": "MD5 app"},
            "users": [{"username": "ok", "password_hash": hashes[0].1},
                      {"username": "old", "password_hash": "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/"}]});
        let refused = gatehouse(&app, &["tenant", "import", "-"], &[], &md5crypt.to_string()).await;
        assert!(!refused.ok, "{}", refused.stdout);
        assert!(refused.stderr.contains("users[1] (old): password_hash") && refused.stderr.contains("\"1\""), "{}", refused.stderr);
        assert!(!refused.stderr.contains("saltsalt"), "no hash material in messages: {}", refused.stderr);
        assert!(app.state.tenants.get("md5").await.unwrap().is_none());
    }
}

/// PostgreSQL only: SQLite creates its file, so there is no database to be missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_postgres_database_is_a_configuration_error_with_the_createdb_command() {
    let app = TestApp::spawn(Backend::PostgresRedis).await;
    let url = "postgres://postgres@127.0.0.1:5432/gatehouse_never_created";
    for command in [&["migrate"][..], &["tenant", "create", "acme"], &["serve"]] {
        let out = gatehouse(&app, command, &[("GATEHOUSE__DATABASE__URL", url)], "").await;
        assert_config_error(
            &out,
            "GATEHOUSE__DATABASE__URL",
            "create the database first: createdb -h 127.0.0.1 -p 5432 -U postgres gatehouse_never_created",
        );
        assert!(!out.stderr.contains("at line"), "{}", out.stderr);
    }
}
