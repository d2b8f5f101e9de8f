//! The `gatehouse` command: serve (default), migrate, print the OpenAPI spec, or an operator
//! command on the configured database (logic in `gatehouse::ops`).
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use gatehouse::{
    app::App,
    config::Settings,
    ops::{Ops, TenantExport},
};
use sea_orm_migration::MigratorTrait as _;

#[derive(Parser)]
#[command(name = "gatehouse", version, about = "A multi-tenant identity service")]
struct Cli {
    /// Directory holding base.yaml and {GATEHOUSE_ENV}.yaml.
    #[arg(long, env = "GATEHOUSE_CONFIG_DIR", default_value = "config", global = true)]
    config_dir: PathBuf,
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
    /// Create a tenant with the configured defaults.
    Create {
        slug: String,
        /// Display name (default: the slug).
        #[arg(long)]
        name: Option<String>,
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
    /// comes from GATEHOUSE_ADMIN_PASSWORD or, when unset, the first line of stdin.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        username: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// New signing keys start signing; the old ones verify until their tokens expire.
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
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Openapi { format }) = cli.command {
        let api = gatehouse::api::api_service("http://127.0.0.1:8080");
        match format {
            Format::Yaml => print!("{}", api.spec_yaml()),
            Format::Json => println!("{}", api.spec()),
        }
        return std::process::ExitCode::SUCCESS;
    }
    let settings = match Settings::load(&cli.config_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("gatehouse: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    gatehouse::telemetry::init(&settings.log);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => migrate(&settings).await,
        Command::Tenant(c) => tenant(settings, c).await,
        Command::Admin(c) => admin(settings, c).await,
        Command::Keys(c) => keys(settings, c).await,
        Command::Token { tenant, username, ttl } => token(settings, &tenant, &username, ttl).await,
        Command::Serve | Command::Openapi { .. } => serve(settings).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("gatehouse: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let db = gatehouse::store::connect(&settings.database).await?;
    migration::Migrator::up(&db, None).await?;
    tracing::info!("migrations applied");
    Ok(())
}

async fn tenant(settings: Settings, command: TenantCommand) -> anyhow::Result<()> {
    let ops = Ops::connect(settings).await?;
    match command {
        TenantCommand::Create { slug, name } => {
            let t = ops.create_tenant(&slug, name.as_deref()).await?;
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
                "imported tenant {slug} ({}): {} users, {} clients",
                report.tenant_id, report.users, report.clients
            );
        }
    }
    Ok(())
}

async fn admin(settings: Settings, command: AdminCommand) -> anyhow::Result<()> {
    let AdminCommand::Create { tenant, username } = command;
    // Never a command-line argument: those show up in `ps` and shell history.
    let password = match std::env::var("GATEHOUSE_ADMIN_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    let ops = Ops::connect(settings).await?;
    let user = ops.create_admin(&tenant, &username, password).await?;
    println!("created administrator {} in tenant {tenant} ({})", user.username, user.id);
    Ok(())
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
    for kid in ops.rotate_keys(&tenant, algorithm).await? {
        println!("{kid}");
    }
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
