//! Outgoing mail against a real SMTP server on loopback (aiosmtpd writing a Maildir), on both
//! backends: delivery through the outbox, and an outage that delays mail and loses none.
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use gatehouse::{outbox, store};

use crate::helpers::*;

/// aiosmtpd on a free loopback port, delivering into a fresh Maildir; killed on drop.
pub struct SmtpServer {
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
}

impl SmtpServer {
    /// A port and a Maildir, with no server listening yet (an outage).
    pub fn reserve() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("gatehouse-mail-{}", uuid::Uuid::new_v4().simple()));
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        Self { port, dir, child: None }
    }

    pub async fn start() -> Self {
        let mut s = Self::reserve();
        s.listen().await;
        s
    }

    /// Starts aiosmtpd (from the PATH's python3, the .venv that `scripts/test` sets up) and
    /// waits until it accepts connections.
    pub async fn listen(&mut self) {
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{}", self.port)])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd (scripts/test installs it into .venv)");
        self.child = Some(child);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("aiosmtpd did not start on port {}", self.port);
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message delivered so far, as raw text.
    pub fn messages(&self) -> Vec<String> {
        read_maildir(&self.dir)
    }

    /// Waits for the `n`th message to arrive (up to 15 s) and returns all of them.
    pub async fn wait_for(&self, n: usize) -> Vec<String> {
        for _ in 0..150 {
            let m = self.messages();
            if m.len() >= n {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("expected {n} message(s), got {}", self.messages().len());
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn read_maildir(dir: &Path) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("new"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files.iter().filter_map(|p| std::fs::read_to_string(p).ok()).collect()
}

/// An app of the same backend whose mail goes to `smtp`, retrying quickly.
pub async fn app_with_smtp(backend: Backend, smtp: &SmtpServer) -> TestApp {
    let url = smtp.url();
    TestApp::spawn_tuned(backend, move |s| {
        s.email.smtp_url = Some(gatehouse::config::Secret::new(url));
        s.email.from = "no-reply@gatehouse.test".into();
        s.email.poll_interval_ms = 100;
        s.email.retry_base_ms = 200;
        s.email.retry_max_ms = 500;
        s.email.smtp_timeout_secs = 5;
    })
    .await
}

/// [`app_with_smtp`] whose `default` tenant sends no verification mail on registration, for
/// tests of other mail that count the messages they receive.
pub async fn app_without_verification_mail(backend: Backend, smtp: &SmtpServer) -> TestApp {
    let app = app_with_smtp(backend, smtp).await;
    let op = app.operator().await;
    let off = serde_json::json!({"settings": {"email": {"verification": "off"}}});
    let resp = app.admin_patch(&op, "/admin/v1/tenants/default", &off).await;
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    app
}

async fn queue(app: &TestApp, to: &str, subject: &str) -> uuid::Uuid {
    let tenant = app.state.tenants.get("default").await.unwrap().unwrap();
    outbox::enqueue(
        &app.state.db,
        &app.state.master_key,
        tenant.id,
        outbox::Mail {
            kind: "test",
            recipient: to.into(),
            sender_name: Some("Default tenant".into()),
            reply_to: None,
            subject: subject.into(),
            text: "plain body".into(),
            html: "<p>html body</p>".into(),
        },
        chrono::Utc::now(),
    )
    .await
    .unwrap()
}

async fn row(app: &TestApp, id: uuid::Uuid) -> store::entities::outbox::Model {
    let tenant = app.state.tenants.get("default").await.unwrap().unwrap();
    store::outbox::list(&app.state.db, tenant.id, 100)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.id == id)
        .unwrap()
}

async fn wait_sent(app: &TestApp, id: uuid::Uuid) -> store::entities::outbox::Model {
    for _ in 0..50 {
        let r = row(app, id).await;
        if r.status == "sent" {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("message {id} not marked sent: {:?}", row(app, id).await.status);
}

backend_tests! {
    async fn queued_mail_reaches_the_smtp_server_once(app: TestApp) {
        let smtp = SmtpServer::start().await;
        let app = app_with_smtp(app.backend, &smtp).await;
        let id = queue(&app, "alice@example.test", "Hello from the outbox").await;
        let mail = smtp.wait_for(1).await;
        assert!(mail[0].contains("Subject: Hello from the outbox"), "{}", mail[0]);
        assert!(mail[0].contains("alice@example.test"));
        assert!(mail[0].contains("no-reply@gatehouse.test"));
        assert!(mail[0].contains("plain body") && mail[0].contains("html body"));
        // The server has the message a moment before the worker records it as sent.
        let sent = wait_sent(&app, id).await;
        assert_eq!(sent.attempts, 1);
        assert!(sent.body_text.is_empty() && sent.body_html.is_empty(), "bodies are dropped once sent");
        // A sibling instance's worker shares the table: nothing is sent twice.
        let _sibling = app.spawn_sibling().await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(smtp.messages().len(), 1);
    }

    async fn an_smtp_outage_delays_mail_and_loses_none(app: TestApp) {
        let mut smtp = SmtpServer::reserve();
        let app = app_with_smtp(app.backend, &smtp).await;
        let sibling = app.spawn_sibling().await;
        let ids = [queue(&app, "bob@example.test", "first").await, queue(&sibling, "carol@example.test", "second").await];
        // Wait until both have failed at least once against the closed port.
        for id in ids {
            for _ in 0..100 {
                let r = row(&app, id).await;
                if r.attempts >= 1 && r.status == "pending" {
                    let error = r.last_error.unwrap_or_default();
                    assert!(error.contains("unavailable"), "{error}");
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert!(row(&app, id).await.attempts >= 1, "the message was tried while SMTP was down");
        }
        assert!(smtp.messages().is_empty());
        smtp.listen().await;
        let mail = smtp.wait_for(2).await;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(smtp.messages().len(), 2, "each message exactly once: {mail:?}");
        for id in ids {
            wait_sent(&app, id).await;
        }
    }

    async fn without_smtp_mail_lands_in_the_local_maildir(app: TestApp) {
        let dir = std::env::temp_dir().join(format!("gatehouse-maildir-{}", uuid::Uuid::new_v4().simple()));
        let maildir = dir.clone();
        let app = TestApp::spawn_tuned(app.backend, move |s| {
            s.email.maildir = maildir;
            s.email.poll_interval_ms = 100;
        })
        .await;
        queue(&app, "dave@example.test", "To the maildir").await;
        let mut found = Vec::new();
        for _ in 0..100 {
            found = read_maildir(&dir);
            if !found.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(found.len(), 1);
        assert!(found[0].contains("Subject: To the maildir"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The decoded `text/plain` part of a raw message (quoted-printable or base64, as lettre chose).
pub fn plain_text(raw: &str) -> String {
    let raw = raw.replace("\r\n", "\n");
    let start = raw.find("Content-Type: text/plain").unwrap_or_else(|| panic!("no text part in {raw}"));
    let part = &raw[start..];
    let (headers, rest) = part.split_once("\n\n").unwrap();
    let body = rest.split("\n--").next().unwrap_or_default();
    if headers.contains("Content-Transfer-Encoding: base64") {
        use base64::Engine as _;
        let joined: String = body.split_whitespace().collect();
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(joined).unwrap()).unwrap()
    } else if headers.contains("Content-Transfer-Encoding: quoted-printable") {
        let soft = body.replace("=\n", "");
        let mut out = Vec::new();
        let bytes = soft.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let escaped = (bytes[i] == b'=').then(|| soft.get(i + 1..i + 3)).flatten();
            if let Some(b) = escaped.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8(out).unwrap()
    } else {
        body.to_string()
    }
}

/// The link of a mail to `page` (e.g. `account/reset-password`), and its token.
pub fn link_in(raw: &str, page: &str) -> (String, String) {
    let text = plain_text(raw);
    let url = text
        .split_whitespace()
        .find(|w| w.starts_with("http") && w.contains(page))
        .unwrap_or_else(|| panic!("no link to {page} in {text}"))
        .to_string();
    let token = url.split_once("token=").unwrap().1.to_string();
    (url, token)
}

/// The typed code of a mail (`1234-5678`).
pub fn code_in(raw: &str) -> String {
    let text = plain_text(raw);
    let at = text.find("enter this code: ").unwrap_or_else(|| panic!("no code in {text}")) + 17;
    text[at..at + 9].to_string()
}
