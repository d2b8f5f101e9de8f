//! Three Gatehouse processes (the real binary) on one PostgreSQL schema and one Redis, as a
//! scaled-out deployment runs them behind a load balancer: what happens at one instance holds
//! at the others on the next request.
use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{BOOTSTRAP_ADMIN_PASSWORD, PASSWORD, REUSE_GRACE, shared_deployment_env};

/// The issuer every instance shares, as behind one load balancer.
const PUBLIC_URL: &str = "https://id.example.test";

pub(crate) struct Instance {
    child: Child,
    pub(crate) url: String,
    http: reqwest::Client,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Instance {
    /// Starts the binary and waits until it logs that it listens.
    pub(crate) async fn start(env: &[(String, String)]) -> Self {
        let env = env.to_vec();
        tokio::task::spawn_blocking(move || {
            let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
                .arg("serve")
                .env("GATEHOUSE_CONFIG_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
                .envs(env)
                .env("GATEHOUSE__SERVER__BIND", "127.0.0.1:0")
                .env("GATEHOUSE__SERVER__PUBLIC_URL", PUBLIC_URL)
                .env("GATEHOUSE__LOG__FORMAT", "json")
                .env("GATEHOUSE__LOG__LEVEL", "info")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("the gatehouse binary runs");
            let mut logs = BufReader::new(child.stderr.take().unwrap());
            let mut port = None;
            for _ in 0..200 {
                let mut line = String::new();
                if logs.read_line(&mut line).unwrap() == 0 {
                    break;
                }
                let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                if v["fields"]["message"] == "gatehouse listening" {
                    port = v["fields"]["port"].as_u64();
                    break;
                }
            }
            let port = port.unwrap_or_else(|| panic!("the instance did not start: {:?}", child.try_wait()));
            std::thread::spawn(move || std::io::copy(&mut logs, &mut std::io::sink()));
            let http =
                reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
            Self { child, url: format!("http://127.0.0.1:{port}"), http }
        })
        .await
        .unwrap()
    }

    pub(crate) async fn post(&self, path: &str, token: Option<&str>, body: Value) -> reqwest::Response {
        let mut req = self.http.post(format!("{}{path}", self.url)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    pub(crate) async fn patch(&self, path: &str, token: &str, body: Value) -> reqwest::Response {
        self.http.patch(format!("{}{path}", self.url)).bearer_auth(token).json(&body).send().await.unwrap()
    }

    pub(crate) async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    pub(crate) async fn login(&self, tenant: &str, username: &str, password: &str) -> Value {
        let resp = self
            .post(
                &format!("/t/{tenant}/auth/login"),
                None,
                json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::OK, "login of {username} at {}", self.url);
        resp.json().await.unwrap()
    }

    pub(crate) async fn me_status(&self, tenant: &str, access: &Value) -> StatusCode {
        self.get(&format!("/t/{tenant}/me"), access.as_str()).await.status()
    }
}

async fn three_instances() -> [Instance; 3] {
    let env = shared_deployment_env().await;
    // The first migrates the schema; the others start on it together.
    let a = Instance::start(&env).await;
    let (b, c) = tokio::join!(Instance::start(&env), Instance::start(&env));
    [a, b, c]
}

/// Polls `check` until it holds: pub/sub invalidation reaches the other instances
/// asynchronously, within milliseconds.
async fn eventually(what: &str, check: impl AsyncFnMut() -> bool) {
    within(what, 100, 20, check).await;
}

/// Polls `check` up to `tries` times, `every_ms` apart.
async fn within(what: &str, tries: u32, every_ms: u64, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..tries {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(every_ms)).await;
    }
    panic!("{what} did not happen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_agree_on_logout_refresh_keys_and_disabling() {
    let [a, b, c] = three_instances().await;
    let op = a.login("system", "admin", BOOTSTRAP_ADMIN_PASSWORD).await["access_token"].clone();
    let op = op.as_str().unwrap();
    for (name, at) in [("ada", &a), ("bob", &b), ("cy", &c)] {
        let resp =
            at.post("/t/default/auth/register", None, json!({"username": name, "password": PASSWORD})).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
    }

    // Logout at A: the token fails at B and C on the next request.
    let ada = b.login("default", "ada", PASSWORD).await;
    for i in [&a, &b, &c] {
        assert_eq!(i.me_status("default", &ada["access_token"]).await, StatusCode::OK);
    }
    let resp = a.post("/t/default/auth/logout", ada["access_token"].as_str(), json!({})).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    for i in [&b, &c] {
        assert_eq!(i.me_status("default", &ada["access_token"]).await, StatusCode::UNAUTHORIZED);
    }

    // Concurrent refreshes of one token spread over the three: exactly one succeeds.
    let bob = a.login("default", "bob", PASSWORD).await;
    let body = json!({"refresh_token": bob["refresh_token"]});
    let (ra, rb, rc) = tokio::join!(
        a.post("/t/default/auth/refresh", None, body.clone()),
        b.post("/t/default/auth/refresh", None, body.clone()),
        c.post("/t/default/auth/refresh", None, body.clone()),
    );
    let statuses = [ra.status(), rb.status(), rc.status()];
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count(), 2, "{statuses:?}");
    let winner: Value =
        [ra, rb, rc].into_iter().find(|r| r.status() == StatusCode::OK).unwrap().json().await.unwrap();
    assert_eq!(
        c.me_status("default", &winner["access_token"]).await,
        StatusCode::OK,
        "the winner's tokens stay valid"
    );

    // Reuse detected across instances: replaying the rotated token at C (after the race
    // window) revokes the family, and the current refresh token stops working at A.
    tokio::time::sleep(REUSE_GRACE).await;
    assert_eq!(c.post("/t/default/auth/refresh", None, body).await.status(), StatusCode::UNAUTHORIZED);
    let current = json!({"refresh_token": winner["refresh_token"]});
    assert_eq!(a.post("/t/default/auth/refresh", None, current).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(b.me_status("default", &winner["access_token"]).await, StatusCode::UNAUTHORIZED);

    // A key rotation at A: B and C verify tokens signed by the new key and publish it.
    let before: Value = b.get("/t/default/.well-known/jwks.json", None).await.json().await.unwrap();
    let resp = a.post("/admin/v1/tenants/default/keys/rotate", Some(op), json!({})).await;
    assert!(resp.status().is_success(), "{}", resp.status());
    let cy = a.login("default", "cy", PASSWORD).await;
    let kid = kid_of(cy["access_token"].as_str().unwrap());
    assert!(!before["keys"].as_array().unwrap().iter().any(|k| k["kid"] == kid.as_str()), "a new key signs");
    for i in [&b, &c] {
        assert_eq!(i.me_status("default", &cy["access_token"]).await, StatusCode::OK);
        eventually("the new key in the JWKS", async || {
            let jwks: Value = i.get("/t/default/.well-known/jwks.json", None).await.json().await.unwrap();
            jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == kid.as_str())
        })
        .await;
    }

    // Disabling a user at A: its token dies at B and C at once.
    let users: Value =
        a.get("/admin/v1/tenants/default/users?username=cy", Some(op)).await.json().await.unwrap();
    let cy_id = users["items"][0]["id"].as_str().unwrap().to_string();
    // (First a profile change: B and C, which answered /me for cy above, show it at once.)
    let email = json!({"email": "cy@example.com"});
    assert_eq!(
        a.patch(&format!("/admin/v1/tenants/default/users/{cy_id}"), op, email).await.status(),
        StatusCode::OK
    );
    for i in [&b, &c] {
        let me: Value = i.get("/t/default/me", cy["access_token"].as_str()).await.json().await.unwrap();
        assert_eq!(me["email"], "cy@example.com");
    }
    let resp =
        a.patch(&format!("/admin/v1/tenants/default/users/{cy_id}"), op, json!({"status": "disabled"})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    for i in [&b, &c] {
        assert_eq!(i.me_status("default", &cy["access_token"]).await, StatusCode::UNAUTHORIZED);
    }

    // Disabling a client at A: its tokens die at B and C.
    let client = json!({"name": "svc", "client_type": "confidential", "redirect_uris": ["https://app.example/cb"],
                        "grant_types": ["client_credentials"], "scopes": ["orders:read"]});
    let created: Value =
        a.post("/admin/v1/tenants/default/clients", Some(op), client).await.json().await.unwrap();
    let (id, secret) = (created["client_id"].as_str().unwrap(), created["client_secret"].as_str().unwrap());
    let grant = async |i: &Instance, secret: &str| -> reqwest::Response {
        let form = [("grant_type", "client_credentials"), ("scope", "orders:read")];
        let req = i.http.post(format!("{}/t/default/oauth2/token", i.url)).basic_auth(id, Some(secret));
        req.form(&form).send().await.unwrap()
    };
    let token: Value = grant(&b, secret).await.json().await.unwrap();
    let introspect = async |i: &Instance| -> bool {
        let v: Value = i
            .http
            .post(format!("{}/t/default/oauth2/introspect", i.url))
            .basic_auth(id, Some(secret))
            .form(&[("token", token["access_token"].as_str().unwrap())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["active"] == true
    };
    assert!(introspect(&c).await);
    // Rotating its secret at A: C, which authenticated the client a moment ago (and caches
    // client rows), refuses the old secret and accepts the new one on the next request.
    let rotated: Value = a
        .post(&format!("/admin/v1/tenants/default/clients/{id}/secret"), Some(op), json!({}))
        .await
        .json()
        .await
        .unwrap();
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_eq!(grant(&c, secret).await.status(), StatusCode::UNAUTHORIZED, "the old secret is dead at C");
    assert_eq!(grant(&c, new_secret).await.status(), StatusCode::OK);
    let resp =
        a.patch(&format!("/admin/v1/tenants/default/clients/{id}"), op, json!({"enabled": false})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        grant(&c, new_secret).await.status(),
        StatusCode::UNAUTHORIZED,
        "a disabled client gets no tokens at C"
    );

    // Adding and disabling a provider at A shows at B and C.
    let google = json!({"provider_id": "google", "kind": "google", "display_name": "Google",
                        "configuration": {"client_id": "c"}, "secrets": {"client_secret": "s"}});
    assert_eq!(
        a.post("/admin/v1/tenants/default/providers", Some(op), google).await.status(),
        StatusCode::CREATED
    );
    for i in [&b, &c] {
        eventually("the provider at another instance", async || {
            let v: Value = i.get("/t/default/providers", None).await.json().await.unwrap();
            v["providers"].as_array().is_some_and(|p| p.len() == 1)
        })
        .await;
    }
    let resp = a.patch("/admin/v1/tenants/default/providers/google", op, json!({"enabled": false})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    for i in [&b, &c] {
        eventually("the provider gone at another instance", async || {
            let v: Value = i.get("/t/default/providers", None).await.json().await.unwrap();
            v["providers"] == json!([])
        })
        .await;
    }

    // Disabling the tenant at A: B and C refuse its logins and tokens.
    let bob_now = b.login("default", "bob", PASSWORD).await;
    let resp = a.patch("/admin/v1/tenants/default", op, json!({"status": "disabled"})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    for i in [&b, &c] {
        assert_eq!(i.me_status("default", &bob_now["access_token"]).await, StatusCode::UNAUTHORIZED);
        eventually("the tenant refusing logins", async || {
            let resp =
                i.post("/t/default/auth/login", None, json!({"username": "bob", "password": PASSWORD})).await;
            resp.status() == StatusCode::NOT_FOUND
        })
        .await;
    }
}

fn kid_of(jwt: &str) -> String {
    use base64::Engine;
    let header = jwt.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap()["kid"].as_str().unwrap().to_string()
}

/// A `redis-server` process of the test's own, killed when dropped.
struct RedisProcess(Child);

impl Drop for RedisProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Removes the test's Redis working directory when dropped (after the processes, declared later).
struct RemoveDir(std::path::PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `redis-server` in `dir`, where a replica's full sync writes its RDB file (never the
/// work tree: a test run leaves `git status` clean).
fn redis_server(dir: &std::path::Path, args: &[&str]) -> RedisProcess {
    let child = Command::new("redis-server")
        .args(args)
        .args(["--dir", dir.to_str().unwrap()])
        .current_dir(dir)
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("redis-server is required for the Sentinel test: {e}"));
    RedisProcess(child)
}

fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Gatehouse on a Sentinel URL follows a failover: the master, a replica and a sentinel are
/// this test's own processes (the shared Redis is not touched); after `SENTINEL FAILOVER`
/// logins and revocations work on the new master without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_failover_is_followed_without_restart() {
    let (master, replica, sentinel) = (free_port(), free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("gh-sentinel-{sentinel}"));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = RemoveDir(dir.clone());
    let _m = redis_server(&dir, &["--port", &master.to_string(), "--save", "", "--appendonly", "no"]);
    let _r = redis_server(
        &dir,
        &[
            "--port",
            &replica.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
            "--replicaof",
            "127.0.0.1",
            &master.to_string(),
        ],
    );
    let conf = dir.join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "port {sentinel}\nbind 127.0.0.1\nsentinel monitor gh 127.0.0.1 {master} 1\n\
             sentinel down-after-milliseconds gh 1000\nsentinel failover-timeout gh 5000\n"
        ),
    )
    .unwrap();
    let _s = redis_server(&dir, &[conf.to_str().unwrap(), "--sentinel"]);
    // Sentinels learn replicas from the master's INFO, which they poll every 10 s.
    within("the replica in sync and known to the sentinel", 300, 100, async || {
        redis_cli(replica, &["INFO", "replication"]).contains("master_link_status:up")
            && redis_cli(sentinel, &["SENTINEL", "replicas", "gh"]).contains(&replica.to_string())
    })
    .await;

    let url = format!("redis+sentinel://127.0.0.1:{sentinel}/gh");
    let app = crate::helpers::TestApp::spawn_tuned(crate::helpers::Backend::PostgresRedis, |s| {
        s.redis.url = Some(gatehouse::config::Secret::new(url));
    })
    .await;
    let before = app.user("sid").await;
    assert_eq!(app.me("default", &before.access).await.status(), StatusCode::OK);

    assert_eq!(redis_cli(sentinel, &["SENTINEL", "FAILOVER", "gh"]), "OK");
    within("the sentinel naming the replica as master", 300, 100, async || {
        redis_cli(sentinel, &["SENTINEL", "get-master-addr-by-name", "gh"]).contains(&replica.to_string())
    })
    .await;
    // Gatehouse follows within its watch interval; until then requests may fail closed.
    let mut after = None;
    for _ in 0..100 {
        let resp = app.login_raw("default", "sid", PASSWORD).await;
        if resp.status() == StatusCode::OK {
            after = Some(resp.json::<Value>().await.unwrap());
            break;
        }
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "only fail-closed errors while switching");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let after = after.expect("logins work again after the failover");
    let access = after["access_token"].as_str().unwrap();
    assert_eq!(app.me("default", access).await.status(), StatusCode::OK);
    assert_eq!(app.logout("default", access, false).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.me("default", access).await.status(),
        StatusCode::UNAUTHORIZED,
        "revoked on the new master"
    );
    let keys = redis_cli(replica, &["DBSIZE"]);
    assert!(keys.parse::<u64>().unwrap() > 0, "the new master holds the revocation");
    let _ = std::fs::remove_dir_all(dir);
}
