//! The `gatehouse` command: serve (default), migrate, print the OpenAPI spec, or an operator
//! command on the configured database (logic in `gatehouse::ops`).
//!
//! Operator commands are quiet: results on stdout, warnings and the one error line on stderr,
//! progress (migrations, created defaults) only with `-v`. Exit codes: 0 done, 1 failed, 2 a
//! configuration or usage error (clap's own usage errors are 2 as well).
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use gatehouse::{
    app::App,
    config::{ConfigError, Settings},
    ops::{Ops, TenantExport},
};
use sea_orm_migration::MigratorTrait as _;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "gatehouse", version, about = "A multi-tenant identity service")]
struct Cli {
    /// Directory holding base.yaml and {GATEHOUSE_ENV}.yaml.
    #[arg(long, env = "GATEHOUSE_CONFIG_DIR", default_value = "config", global = true)]
    config_dir: PathBuf,
    /// Log progress (migrations, start-up) of operator commands at the configured log level;
    /// without it they log only warnings and errors.
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi {
        #[arg(long, value_enum, default_value_t = Format::Yaml)]
        format: Format,
    },
    /// Create, export or import a tenant.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Create an administrator.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Rotate a tenant's signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Print an admin access token for scripts (`Authorization: Bearer ...` on /admin/v1), for
    /// an administrator of the tenant; no password needed, only the configured database.
    Token {
        /// The administrator's tenant (`system` for operators).
        #[arg(long, default_value = "system")]
        tenant: String,
        #[arg(long, default_value = "admin")]
        username: String,
        /// Lifetime in seconds (default: the tenant's access-token lifetime).
        #[arg(long)]
        ttl: Option<u64>,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant with the configured defaults, closed to self-registration.
    Create {
        slug: String,
        /// Display name (default: the slug).
        #[arg(long)]
        name: Option<String>,
        /// Let anyone register an account (`POST /t/{tenant}/auth/register`); closed by default.
        #[arg(long)]
        open_registration: bool,
    },
    /// Write a tenant with its users (password hashes), clients, providers and linked
    /// identities as JSON. Provider secrets stay sealed unless --include-secrets.
    Export {
        slug: String,
        /// Write to this file (created 0600) instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write provider secrets in clear, so a deployment with another master key can import them.
        #[arg(long)]
        include_secrets: bool,
    },
    /// Create a tenant from an export document ("-" reads stdin), in one transaction.
    Import {
        file: PathBuf,
        /// Delete an existing tenant of the same slug first (in the same transaction).
        #[arg(long)]
        replace: bool,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an administrator: `admin` in tenant system, `tenant-admin` elsewhere. The password
    /// comes from a prompt on a terminal or the first line of stdin.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        username: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// New signing keys sign and are in the JWKS at once; the old ones stay published and verify
    /// until their tokens expire.
    Rotate {
        #[arg(long)]
        tenant: String,
        /// ES256, RS256 or EdDSA (default: the tenant's algorithm).
        #[arg(long)]
        algorithm: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Yaml,
    Json,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Openapi { format }) = cli.command {
        let api = gatehouse::api::api_service("http://127.0.0.1:8080");
        match format {
            Format::Yaml => print!("{}", gatehouse::api::spec_yaml(&api)),
            Format::Json => println!("{}", gatehouse::api::spec_json(&api)),
        }
        return ExitCode::SUCCESS;
    }
    let settings = match Settings::load(&cli.config_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("gatehouse: {e}");
            return ExitCode::from(2);
        }
    };
    let command = cli.command.unwrap_or(Command::Serve);
    let serving = matches!(command, Command::Serve);
    let mut log = settings.log.clone();
    if !serving && !cli.verbose {
        log.level = "warn".into();
    }
    gatehouse::telemetry::init(&log);
    let json_logs = log.format == "json";
    let result = match command {
        Command::Migrate => migrate(&settings).await,
        Command::Tenant(c) => tenant(settings, c).await,
        Command::Admin(c) => admin(settings, c).await,
        Command::Keys(c) => keys(settings, c).await,
        Command::Token { tenant, username, ttl } => token(settings, &tenant, &username, ttl).await,
        Command::Serve | Command::Openapi { .. } => serve(settings).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Once: a JSON log line where logs are collected as JSON, else a line for a person.
            if serving && json_logs {
                tracing::error!(error = format!("{e:#}"), "gatehouse stopped");
            } else {
                eprintln!("gatehouse: {e:#}");
            }
            let configuration = e.chain().any(|c| c.is::<ConfigError>());
            ExitCode::from(if configuration { 2 } else { 1 })
        }
    }
}

async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let db = gatehouse::store::open(&settings.database).await?;
    let pending = migration::Migrator::get_pending_migrations(&db).await?.len();
    migration::Migrator::up(&db, None).await?;
    match pending {
        0 => println!("the database is up to date"),
        n => println!("applied {}", plural(n, "migration")),
    }
    Ok(())
}

/// `1 user`, `2 users`.
fn plural(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

async fn tenant(settings: Settings, command: TenantCommand) -> anyhow::Result<()> {
    let ops = Ops::connect(settings).await?;
    match command {
        TenantCommand::Create { slug, name, open_registration } => {
            let t = ops.create_tenant(&slug, name.as_deref(), open_registration).await?;
            println!("created tenant {} ({})", t.slug, t.id);
        }
        TenantCommand::Export { slug, out, include_secrets } => {
            let doc = ops.export(&slug, include_secrets).await?;
            let json = serde_json::to_string_pretty(&doc)? + "\n";
            match out {
                Some(path) => write_private(&path, json.as_bytes())?,
                None => print!("{json}"),
            }
            if include_secrets {
                eprintln!("gatehouse: the export holds provider secrets in clear; keep it like a password");
            }
        }
        TenantCommand::Import { file, replace } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?
            };
            let doc: TenantExport =
                serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("the document: {e}"))?;
            let slug = doc.tenant.slug.clone();
            let report = ops.import(doc, replace).await?;
            for w in &report.warnings {
                eprintln!("gatehouse: warning: {w}");
            }
            println!(
                "imported tenant {slug} ({}): {}, {}",
                report.tenant_id,
                plural(report.users, "user"),
                plural(report.clients, "client")
            );
        }
    }
    Ok(())
}

async fn admin(settings: Settings, command: AdminCommand) -> anyhow::Result<()> {
    let AdminCommand::Create { tenant, username } = command;
    let password = admin_password(&username)?;
    let ops = Ops::connect(settings).await?;
    let user = ops.create_admin(&tenant, &username, password).await?;
    println!("created administrator {} in tenant {tenant} ({})", user.username, user.id);
    Ok(())
}

/// The environment variable `admin create` used to read; deprecated, read with a warning.
const DEPRECATED_ADMIN_PASSWORD: &str = "GATEHOUSE_ADMIN_PASSWORD";

/// The new administrator's password: never a command-line argument (those show up in `ps` and
/// shell history), but a prompt without echo on a terminal or the first line of piped stdin.
/// Not `GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD` either: that is the operator's, and a tenant admin
/// must not get it by accident.
fn admin_password(username: &str) -> anyhow::Result<String> {
    use std::io::IsTerminal as _;
    if let Ok(p) = std::env::var(DEPRECATED_ADMIN_PASSWORD) {
        eprintln!(
            "gatehouse: warning: {DEPRECATED_ADMIN_PASSWORD} is deprecated and will be removed; pipe the \
             password on stdin instead (printf '%s\\n' \"$PASSWORD\" | gatehouse admin create ...)"
        );
        return Ok(p);
    }
    if std::io::stdin().is_terminal() {
        let password = rpassword::prompt_password(format!("Password for {username}: "))?;
        if rpassword::prompt_password("Again: ")? != password {
            anyhow::bail!("the passwords differ; nothing was created");
        }
        return Ok(password);
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        anyhow::bail!(
            "no password: the password is read from a prompt on a terminal or the first line of stdin \
             (printf '%s\\n' \"$PASSWORD\" | gatehouse admin create ...)"
        );
    }
    Ok(password)
}

async fn keys(settings: Settings, command: KeysCommand) -> anyhow::Result<()> {
    let KeysCommand::Rotate { tenant, algorithm } = command;
    let algorithm = match algorithm {
        Some(a) => Some(
            gatehouse::tokens::Algorithm::parse(&a)
                .ok_or_else(|| anyhow::anyhow!("--algorithm: must be ES256, RS256 or EdDSA"))?,
        ),
        None => None,
    };
    let ops = Ops::connect(settings).await?;
    let rotation = ops.rotate_keys(&tenant, algorithm).await?;
    for kid in &rotation.kids {
        println!("{kid}");
    }
    let when = if rotation.announced {
        "at once (running instances were told through Redis)"
    } else {
        "at once here; a running instance without Redis switches within 30 s"
    };
    eprintln!(
        "gatehouse: the new keys of {tenant} sign new tokens and are published in its JWKS {when}; \
         the old keys stay in the JWKS and keep verifying for {} s, until the tokens they signed expire",
        rotation.old_keys_verify_secs
    );
    Ok(())
}

async fn token(settings: Settings, tenant: &str, username: &str, ttl: Option<u64>) -> anyhow::Result<()> {
    let ops = Ops::connect(settings).await?;
    let issued = ops.admin_token(tenant, username, ttl).await?;
    println!("{}", issued.token);
    eprintln!("gatehouse: admin token for {username} in {tenant}, valid {} s", issued.expires_in);
    Ok(())
}

/// Writes a file only its owner can read: exports hold password hashes.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = App::build(settings).await?;
    app.run_until(shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down: finishing in-flight requests");
}
