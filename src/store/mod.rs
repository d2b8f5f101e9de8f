//! Everything that touches SeaORM. Every function takes the connection first and, for
//! tenant-owned rows, the tenant id right after it, and filters on it.
use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr, SqlErr};

use crate::config::{ConfigError, DatabaseSettings};

pub mod action_tokens;
pub mod audit;
pub mod clients;
pub mod entities;
pub mod factors;
pub mod idempotency;
pub mod identities;
pub mod kv_entries;
pub mod mail_templates;
pub mod outbox;
pub mod passkeys;
pub mod providers;
pub mod refresh_tokens;
pub mod remembered_devices;
pub mod sessions;
pub mod signing_keys;
pub mod tenants;
pub mod users;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or the pool is exhausted: worth a retry.
    #[error("database unavailable: {0}")]
    Unavailable(DbErr),
    #[error(transparent)]
    Other(DbErr),
}

impl From<DbErr> for StoreError {
    fn from(e: DbErr) -> Self {
        let unavailable = is_unavailable(&e);
        crate::metrics::database_error(unavailable);
        if unavailable { Self::Unavailable(e) } else { Self::Other(e) }
    }
}

/// Whether the database failed to answer (network, pool, restart) rather than refusing the
/// statement: the first is a 503 the client may retry, the second a bug.
fn is_unavailable(e: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, sqlx::Error as Sqlx};
    match e {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(s)) | DbErr::Query(RuntimeErr::SqlxError(s)) => match s.as_ref() {
            Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed | Sqlx::Tls(_) => true,
            // Administrator shutdown, crash recovery, "cannot connect now" (class 57P).
            Sqlx::Database(db) => db.code().is_some_and(|c| c.starts_with("57P") || c.starts_with("08")),
            Sqlx::Protocol(_) => true,
            _ => false,
        },
        _ => false,
    }
}

/// PostgreSQL text cannot hold NUL, and a query comparing with one fails instead of matching
/// nothing. Lookups by a caller-supplied string check this first and find no row.
pub(crate) fn storable(s: &str) -> bool {
    !s.contains('\0')
}

/// True when the error is a unique-index violation (a lost race or a taken name).
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Opens the pool. SQLite gets WAL and a busy timeout so concurrent writers wait instead of
/// failing; its file and directory are created on first run.
///
/// # Errors
/// The database cannot be reached.
pub async fn connect(settings: &DatabaseSettings) -> Result<DatabaseConnection, DbErr> {
    connect_to(settings, settings.url.expose(), false).await
}

/// [`connect`] for the binary's commands, failing with a message an operator can act on: the
/// setting's name, no driver noise, and for a PostgreSQL database that does not exist a
/// [`ConfigError`] with the `createdb` command that makes it.
///
/// # Errors
/// The database cannot be reached or does not exist.
pub async fn open(settings: &DatabaseSettings) -> anyhow::Result<DatabaseConnection> {
    const KEY: &str = "GATEHOUSE__DATABASE__URL";
    connect(settings).await.map_err(|e| match missing_database(&e) {
        true => ConfigError::key(KEY, createdb_hint(settings.url.expose())).into(),
        false => anyhow::anyhow!("{KEY}: cannot connect: {}", without_source_line(&e.to_string())),
    })
}

fn missing_database(e: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, sqlx::Error as Sqlx};
    // 3D000 invalid_catalog_name: the server is there, the database is not.
    matches!(e, DbErr::Conn(RuntimeErr::SqlxError(s))
        if matches!(s.as_ref(), Sqlx::Database(db) if db.code().as_deref() == Some("3D000")))
}

fn createdb_hint(url: &str) -> String {
    let Ok(parsed) = url::Url::parse(url) else {
        return "the database does not exist; create the database first (createdb)".into();
    };
    let name = parsed.path().trim_start_matches('/');
    let mut command = String::from("createdb");
    if let Some(host) = parsed.host_str() {
        command.push_str(&format!(" -h {host}"));
    }
    if let Some(port) = parsed.port() {
        command.push_str(&format!(" -p {port}"));
    }
    if !parsed.username().is_empty() {
        command.push_str(&format!(" -U {}", parsed.username()));
    }
    format!("database \"{name}\" does not exist; create the database first: {command} {name}")
}

/// PostgreSQL's errors end in the server source line that raised them (" at line 948").
fn without_source_line(message: &str) -> String {
    let mut out = message.to_string();
    while let Some(at) = out.find(" at line ") {
        let digits = out[at + 9..].bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            break;
        }
        out.replace_range(at..at + 9 + digits, "");
    }
    out
}

/// The pool for reads that may lag (see `DatabaseSettings::replica_url`): the replica when
/// one is configured, else the primary's own pool. Connects lazily: a replica that is down
/// fails the reads sent to it, never the start of an instance.
///
/// # Errors
/// An unusable replica URL.
pub async fn connect_replica(
    settings: &DatabaseSettings,
    primary: &DatabaseConnection,
) -> Result<DatabaseConnection, DbErr> {
    match &settings.replica_url {
        Some(url) => connect_to(settings, url.expose(), true).await,
        None => Ok(primary.clone()),
    }
}

async fn connect_to(settings: &DatabaseSettings, url: &str, lazy: bool) -> Result<DatabaseConnection, DbErr> {
    if let Some(path) = sqlite_path(url)
        && let Some(dir) = std::path::Path::new(&path).parent().filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| DbErr::Custom(format!("creating {}: {e}", dir.display())))?;
    }
    let mut opts = ConnectOptions::new(url.to_string());
    opts.max_connections(settings.max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(settings.connect_timeout_secs))
        .acquire_timeout(Duration::from_secs(settings.connect_timeout_secs))
        .sqlx_logging(false)
        .connect_lazy(lazy)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
        });
    if let Some(schema) = &settings.schema {
        opts.set_schema_search_path(schema.clone());
    }
    Database::connect(opts).await
}

fn sqlite_path(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| path.to_string())
}

/// The smallest UUIDv7 of a millisecond: time bounds as id bounds.
pub fn time_floor_uuid(t: chrono::DateTime<chrono::Utc>) -> uuid::Uuid {
    let ms = u64::try_from(t.timestamp_millis()).unwrap_or(0);
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    bytes[6] = 0x70;
    bytes[8] = 0x80;
    uuid::Uuid::from_bytes(bytes)
}

/// A LIKE pattern matching values that start with `prefix`, with `\`, `%` and `_` escaped.
pub fn prefix_pattern(prefix: &str) -> sea_orm::sea_query::LikeExpr {
    let escaped: String = prefix
        .chars()
        .flat_map(|c| match c {
            '\\' | '%' | '_' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    sea_orm::sea_query::LikeExpr::new(format!("{escaped}%")).escape('\\')
}
