//! Outages produced for real: Redis and PostgreSQL are reached through a TCP proxy that the
//! test cuts (connections reset, new ones refused) or makes hang (connections accepted, nothing
//! answered), then restores. The rule is fail closed: 503, never a 200 with an unchecked token,
//! never a 500, and recovery without a restart.
use std::{net::SocketAddr, sync::Arc, time::Duration};

use reqwest::{Response, StatusCode};
use tokio::{
    io::copy_bidirectional,
    net::{TcpListener, TcpStream},
    sync::watch,
};

use crate::helpers::{Backend, PASSWORD, TestApp, problem};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Open,
    Cut,
    Hang,
}

struct Proxy {
    addr: SocketAddr,
    mode: Arc<watch::Sender<Mode>>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = watch::channel(Mode::Open);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut rx = rx.clone();
                tokio::spawn(async move {
                    if *rx.borrow() == Mode::Cut {
                        return;
                    }
                    if *rx.borrow() == Mode::Open {
                        let Ok(mut upstream) = TcpStream::connect(target).await else { return };
                        tokio::select! {
                            _ = copy_bidirectional(&mut inbound, &mut upstream) => return,
                            _ = rx.wait_for(|m| *m != Mode::Open) => {}
                        }
                    }
                    // Hanging: keep the client connected, answer nothing, until cut or reopened.
                    if *rx.borrow() == Mode::Hang {
                        let _ = rx.wait_for(|m| *m != Mode::Hang).await;
                    }
                });
            }
        });
        Self { addr, mode: Arc::new(tx) }
    }

    fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

/// Polls until `check` holds, for at most 20 s: recovery must happen by itself.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what} did not recover");
}

async fn ready(app: &TestApp) -> Response {
    bounded(async { app.client.get(app.url("/health/ready")).send().await.unwrap() }).await
}

async fn bounded(req: impl Future<Output = Response>) -> Response {
    tokio::time::timeout(Duration::from_secs(15), req)
        .await
        .expect("the server answers even during an outage")
}

async fn assert_unavailable(resp: Response) {
    assert!(resp.headers().contains_key("retry-after"));
    let p = problem(resp, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(p["code"], "service_unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_fails_closed_and_recovers_by_itself() {
    let proxy = Proxy::start("127.0.0.1:6379".parse().unwrap()).await;
    let url = format!("redis://{}", proxy.addr);
    let app = TestApp::spawn_tuned(Backend::PostgresRedis, |s| {
        s.redis.url = Some(gatehouse::config::Secret::new(url));
    })
    .await;
    let t = app.user("ann").await;
    assert_eq!(app.me("default", &t.access).await.status(), StatusCode::OK);

    for mode in [Mode::Cut, Mode::Hang] {
        proxy.set(mode);
        // A valid token whose revocation cannot be checked is not accepted.
        assert_unavailable(bounded(app.me("default", &t.access)).await).await;
        assert_unavailable(bounded(app.login_raw("default", "ann", PASSWORD)).await).await;
        assert_eq!(ready(&app).await.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(app.client.get(app.url("/health/live")).send().await.unwrap().status(), StatusCode::OK);

        proxy.set(Mode::Open);
        eventually(&format!("Redis after {mode:?}"), || async {
            app.me("default", &t.access).await.status() == StatusCode::OK
        })
        .await;
        assert_eq!(ready(&app).await.status(), StatusCode::OK);
    }
    // Revocation works again after recovery.
    assert_eq!(app.logout("default", &t.access, false).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.me("default", &t.access).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_gives_503_and_recovers_by_itself() {
    let proxy = Proxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let addr = proxy.addr;
    let app = TestApp::spawn_tuned(Backend::PostgresRedis, |s| {
        let url = s.database.url.expose().replace("127.0.0.1:5432", &addr.to_string());
        s.database.url = gatehouse::config::Secret::new(url);
        s.database.connect_timeout_secs = 2;
    })
    .await;
    let t = app.user("ann").await;
    let before = app.stored_state().await;

    for mode in [Mode::Cut, Mode::Hang] {
        assert_eq!(app.me("default", &t.access).await.status(), StatusCode::OK);
        proxy.set(mode);
        // Verification needs Redis only, and the user row seen a moment ago is cached: `/me`
        // keeps answering. Everything that must read or write the database fails with 503.
        assert_eq!(bounded(app.me("default", &t.access)).await.status(), StatusCode::OK);
        assert_unavailable(bounded(app.login_raw("default", "ann", PASSWORD)).await).await;
        assert_unavailable(bounded(app.register("default", "bob")).await).await;
        assert_unavailable(bounded(app.refresh("default", &t.refresh)).await).await;
        assert_eq!(ready(&app).await.status(), StatusCode::SERVICE_UNAVAILABLE);

        proxy.set(Mode::Open);
        eventually(&format!("the database after {mode:?}"), || async {
            // A write that is refused (the name is taken) once the database answers.
            app.register("default", "ann").await.status() == StatusCode::CONFLICT
        })
        .await;
    }
    assert_eq!(app.stored_state().await, before, "no partial writes from the failed requests");
    assert_eq!(app.refresh("default", &t.refresh).await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_shutdown_finishes_in_flight_requests_and_refuses_new_ones() {
    let app = TestApp::spawn(Backend::PostgresRedis).await;
    // One user each: a username admits only as many sign-ins at once as its lockout budget.
    for i in 0..8 {
        app.user(&format!("ann{i}")).await;
    }
    // Logins take a password hash each and queue for the two hashing slots: some are still
    // running when the shutdown starts.
    let in_flight: Vec<_> = (0..8)
        .map(|i| {
            let client = app.client.clone();
            let url = app.url("/t/default/auth/login");
            tokio::spawn(async move {
                client
                    .post(url)
                    .json(&serde_json::json!({"username": format!("ann{i}"), "password": PASSWORD}))
                    .send()
                    .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(30)).await;
    app.shut_down();
    for request in in_flight {
        let resp = request.await.unwrap().expect("an in-flight request is answered");
        assert_eq!(resp.status(), StatusCode::OK);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fresh = reqwest::Client::new().get(app.url("/health/live")).send().await;
    assert!(fresh.is_err(), "new connections are refused after shutdown");
}
