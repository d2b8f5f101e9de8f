//! Slow clients (slow loris) over real TCP connections: a head or body trickling in one byte at
//! a time, and an idle keep-alive connection, are closed soon after the configured timeouts
//! (1 s here); the bound asserted is generous, not a performance figure.
use std::time::{Duration, Instant};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpStream, tcp::OwnedReadHalf},
};

use crate::helpers::{Backend, TestApp};

/// Well above the 1 s timeouts, well below "indefinitely".
const BOUND: Duration = Duration::from_secs(6);

async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_tuned(backend, |s| {
        s.server.header_read_timeout_secs = 1;
        s.server.body_read_timeout_secs = 1;
        s.server.idle_timeout_secs = 1;
    })
    .await
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://")).await.unwrap()
}

/// Writes `bytes` one at a time, 200 ms apart, until done or the server hangs up.
fn trickle(mut w: tokio::net::tcp::OwnedWriteHalf, bytes: Vec<u8>) {
    tokio::spawn(async move {
        for b in bytes {
            if w.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
}

/// Everything the server sends until it closes the connection; fails if it stays open.
async fn read_until_closed(mut r: OwnedReadHalf) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(BOUND, r.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return (got, started.elapsed()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept a slow connection open for {BOUND:?}"),
        }
    }
}

async fn slow_clients_are_disconnected_after_the_configured_timeouts(backend: Backend) {
    let app = spawn(backend).await;
    // A head sent one byte at a time, by ten connections at once, and a silent connection.
    let head = b"GET /health/live HTTP/1.1\r\nHost: gatehouse\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut readers = Vec::new();
    for _ in 0..10 {
        let (r, w) = connect(&app).await.into_split();
        trickle(w, head.to_vec());
        readers.push(tokio::spawn(read_until_closed(r)));
    }
    let (silent, _w) = connect(&app).await.into_split();
    readers.push(tokio::spawn(read_until_closed(silent)));
    for r in readers {
        let (_, after) = r.await.unwrap();
        assert!(after < BOUND);
    }

    // A body trickling in gets 408 and the connection is closed.
    let (r, mut w) = connect(&app).await.into_split();
    w.write_all(b"POST /t/default/auth/login HTTP/1.1\r\nHost: gatehouse\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{").await.unwrap();
    trickle(w, vec![b' '; 199]);
    let (answer, _) = read_until_closed(r).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");

    // A keep-alive connection is served, then closed when idle.
    let (r, mut w) = connect(&app).await.into_split();
    w.write_all(b"GET /health/live HTTP/1.1\r\nHost: gatehouse\r\n\r\n").await.unwrap();
    let (answer, _) = read_until_closed(r).await;
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));

    // Ordinary clients are unaffected, including a second request on a reused connection.
    for _ in 0..2 {
        let live = app.client.get(app.url("/health/live")).send().await.unwrap();
        assert_eq!(live.status(), reqwest::StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_disconnected_after_the_configured_timeouts_postgres_redis() {
    slow_clients_are_disconnected_after_the_configured_timeouts(Backend::PostgresRedis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_disconnected_after_the_configured_timeouts_sqlite_memory() {
    slow_clients_are_disconnected_after_the_configured_timeouts(Backend::SqliteMemory).await;
}
