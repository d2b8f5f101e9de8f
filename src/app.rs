//! Wiring: pools, the token store, the tenant directory and the routes. Tests build the same
//! `App` with port 0.
use std::{sync::Arc, time::Duration};

use poem::{
    Endpoint, EndpointExt, IntoResponse, Request, Response, Route, Server,
    http::StatusCode,
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
};
use sea_orm_migration::MigratorTrait as _;
use tokio::io::AsyncReadExt as _;

use crate::{
    api::{api_service, security::accept_jwt_scheme},
    cache::VersionedCache,
    config::Settings,
    crypto::{MasterKey, password::PasswordHasher},
    error::problem_for_poem_error,
    kv::Kv,
    state::AppState,
    store,
    tenancy::{self, DEFAULT_TENANT, SYSTEM_TENANT, TenantDirectory, TenantSettings},
    tokens::revocation::RevocationList,
};

pub struct App {
    acceptor: TcpAcceptor,
    port: u16,
    state: Arc<AppState>,
    /// Stops the outbox worker when the server has stopped (or the App is dropped).
    stop_outbox: tokio::sync::watch::Sender<bool>,
}

impl App {
    /// Connects to the database and token store, migrates when configured, creates the
    /// `default` tenant if needed, and binds the listener.
    ///
    /// # Errors
    /// Invalid configuration, an unreachable database, or a port that cannot be bound.
    pub async fn build(mut settings: Settings) -> anyhow::Result<Self> {
        settings.validate()?;
        let mailer = crate::mail::Mailer::new(&settings.email)?;
        let bind = settings.server.bind;
        let acceptor = TcpListener::bind(bind)
            .into_acceptor()
            .await
            .map_err(|e| anyhow::anyhow!("GATEHOUSE__SERVER__BIND: cannot listen on {bind}: {e}"))?;
        let port = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().map(std::net::SocketAddr::port))
            .unwrap_or_default();
        if settings.server.public_url.is_empty() {
            // With port 0 (tests) the issuer must name the port actually bound.
            settings.server.public_url = format!("http://{}:{port}", settings.server.bind.ip());
        }
        let master_key = Arc::new(MasterKey::load(&settings.secrets)?);
        let db = store::open(&settings.database).await?;
        let replica = store::connect_replica(&settings.database, &db)
            .await
            .map_err(|e| anyhow::anyhow!("GATEHOUSE__DATABASE__REPLICA_URL: cannot connect: {e}"))?;
        if settings.database.auto_migrate {
            migration::Migrator::up(&db, None).await?;
        }
        let kv = Arc::new(
            Kv::connect(&settings.redis, &db)
                .await
                .map_err(|e| anyhow::anyhow!("GATEHOUSE__REDIS__URL: {e}"))?,
        );
        let now = chrono::Utc::now();
        tenancy::ensure_tenant(
            &db,
            &master_key,
            DEFAULT_TENANT,
            "Default",
            TenantSettings::default_tenant(&settings),
            now,
        )
        .await?;
        let system_settings = TenantSettings::from_config(&settings);
        tenancy::ensure_tenant(&db, &master_key, SYSTEM_TENANT, "System", system_settings, now).await?;
        let horizon =
            Duration::from_secs(settings.tokens.max_access_ttl_secs + settings.tokens.leeway_secs + 60);
        let upstream = Arc::new(crate::upstream::Upstream::new(&settings.upstream)?);
        let state = Arc::new(AppState {
            tenants: TenantDirectory::new(db.clone(), master_key.clone(), &settings),
            revocations: RevocationList::new(kv.clone(), horizon),
            users: VersionedCache::default(),
            clients: VersionedCache::default(),
            hasher: PasswordHasher::new(&settings.passwords)?,
            upstream,
            metrics: Arc::default(),
            master_key,
            kv,
            db,
            replica,
            settings,
        });
        let system = state
            .tenants
            .get(SYSTEM_TENANT)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the system tenant is missing"))?;
        crate::auth::bootstrap_operator(&state, &system, now).await?;
        let listener = state.clone();
        tokio::spawn(async move {
            let s = &listener;
            s.kv.listen(
                tenancy::INVALIDATION_CHANNEL,
                |slug| s.tenants.invalidate(&slug),
                || s.tenants.invalidate_all(),
            )
            .await;
        });
        let (stop_outbox, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(crate::outbox::run(state.clone(), mailer, stopped));
        Ok(Self { acceptor, port, state, stop_outbox })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    ///
    /// # Errors
    /// The server failed.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        let grace = Duration::from_secs(self.state.settings.server.shutdown_grace_secs);
        tracing::info!(port = self.port, public_url = %self.state.settings.public_url(), "gatehouse listening");
        let server = &self.state.settings.server;
        let (head, idle) = (server.header_read_timeout_secs, server.idle_timeout_secs);
        let acceptor = crate::http_guard::DeadlineAcceptor::new(
            self.acceptor,
            Duration::from_secs(head),
            Duration::from_secs(idle),
        );
        let served = Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(routes(self.state), shutdown, Some(grace))
            .await;
        // Mail written by the last requests stays in the outbox for the next instance.
        let _ = self.stop_outbox.send(true);
        served
    }
}

/// All routes with their middleware.
pub fn routes(state: Arc<AppState>) -> impl Endpoint {
    let public_url = state.settings.public_url();
    let max_body = state.settings.server.max_body_bytes;
    let body_timeout = Duration::from_secs(state.settings.server.body_read_timeout_secs);
    let api = api_service(&public_url);
    // Served with the tags in `ApiTags` order (`api::spec_json`), so /docs groups app
    // developers' operations before the admin API.
    let ordered = crate::api::spec_json(&api);
    let docs_html = api.swagger_ui_html().replacen(&api.spec(), &ordered, 1);
    let docs = poem::Route::new()
        .at("/", poem::get(poem::endpoint::make_sync(move |_| poem::web::Html(docs_html.clone()))));
    let spec_json = poem::endpoint::make_sync(move |_| {
        Response::builder().content_type("application/json").body(ordered.clone())
    });
    let yaml = crate::api::spec_yaml(&api);
    let spec_yaml = poem::endpoint::make_sync(move |_| {
        Response::builder()
            .content_type("application/x-yaml")
            .header("Content-Disposition", "inline; filename=\"spec.yaml\"")
            .body(yaml.clone())
    });
    let metrics = state.metrics.clone();
    let route_names = Arc::new(crate::telemetry::RouteNames::from_spec(&api.spec()));
    let guard = crate::http_guard::Guard::new(&api.spec());
    let mut route = Route::new();
    if state.settings.metrics.enabled {
        // Outside the OpenAPI document, like /docs: an operator's scrape target, not client API.
        route = route.at("/metrics", poem::get(crate::telemetry::metrics_endpoint));
    }
    // `/` cannot be a route beside the API nested at `/` (that nest claims it), so it is
    // answered before routing.
    let landing = Arc::new(poem::get(crate::web::landing_page));
    route
        .nest("/", api)
        .at("/openapi.json", spec_json)
        .at("/openapi.yaml", spec_yaml)
        .nest("/docs", docs)
        .at(gatehouse_ui::STYLESHEET_PATH, poem::get(crate::web::stylesheet))
        .at(gatehouse_ui::PASSKEY_SCRIPT_PATH, poem::get(crate::web::passkey_script))
        .at(
            "/t/:tenant/oauth2/authorize",
            poem::get(crate::web::authorize_endpoint).post(crate::web::authorize_endpoint),
        )
        .at("/t/:tenant/login", poem::get(crate::web::login_form).post(crate::web::login_endpoint))
        .at(
            "/t/:tenant/account/forgot-password",
            poem::get(crate::web::forgot_form).post(crate::web::forgot_submit),
        )
        .at(
            "/t/:tenant/account/reset-password",
            poem::get(crate::web::reset_form).post(crate::web::reset_submit),
        )
        .at(
            "/t/:tenant/account/verify-email",
            poem::get(crate::web::verify_form).post(crate::web::verify_submit),
        )
        .at("/t/:tenant/account/verify-email/resend", poem::post(crate::web::verify_resend))
        .at("/t/:tenant/account", poem::get(crate::web::account_home))
        .at("/t/:tenant/account/callback", poem::get(crate::web::account_callback))
        .at("/t/:tenant/account/:action", poem::post(crate::web::account_action))
        .nest("/console", crate::web::console_routes())
        .at("/t/:tenant/login/second-factor", poem::post(crate::web::second_factor_endpoint))
        .at("/t/:tenant/login/enrol", poem::post(crate::web::enrol_endpoint))
        .at("/t/:tenant/login/continue", poem::post(crate::web::continue_endpoint))
        .at("/t/:tenant/login/email", poem::post(crate::web::email_sign_in_request))
        .at("/t/:tenant/login/email/code", poem::post(crate::web::email_sign_in_code))
        .at(
            "/t/:tenant/account/email-sign-in",
            poem::get(crate::web::email_sign_in_link).post(crate::web::email_sign_in_link),
        )
        .at(
            "/t/:tenant/account/confirm-email",
            poem::get(crate::web::confirm_email_page).post(crate::web::confirm_email_page),
        )
        .at(
            "/t/:tenant/account/undo-email-change",
            poem::get(crate::web::undo_email_change_page).post(crate::web::undo_email_change_page),
        )
        .at("/t/:tenant/login/passkey", poem::post(crate::web::passkey_sign_in_endpoint))
        .at("/t/:tenant/login/passkey/options", poem::post(crate::web::passkey_options_endpoint))
        .at("/t/:tenant/login/passkey/verify", poem::post(crate::web::passkey_verify_endpoint))
        .at("/t/:tenant/login/passkey/enrol", poem::post(crate::web::passkey_enrol_endpoint))
        .at("/t/:tenant/auth/:provider/start", poem::get(crate::web::external_start))
        .at("/t/:tenant/auth/:provider/callback", poem::get(crate::web::external_callback))
        .at(
            "/t/:tenant/oauth2/logout",
            poem::get(crate::web::logout_endpoint).post(crate::web::logout_endpoint),
        )
        .around(move |ep, req| {
            let landing = landing.clone();
            async move {
                let resp = if req.uri().path() == "/" { landing.call(req).await } else { ep.call(req).await };
                resp.map(IntoResponse::into_response)
            }
        })
        .around({
            let state = state.clone();
            move |ep, req| crate::ratelimit::limit(ep, req, state.clone())
        })
        .around({
            let trusted = Arc::new(state.settings.server.trusted_proxies.clone());
            move |ep, req| crate::client_ip::attach(ep, req, trusted.clone())
        })
        .around(accept_jwt_scheme)
        // A boxed inner stack keeps the endpoint type shallow enough for the compiler's layout
        // queries; one dynamic call per request.
        .boxed()
        .around(move |ep, req| crate::http_guard::inspect(ep, req, guard.clone()))
        .around(move |ep, req| limit_body(ep, req, max_body, body_timeout))
        .data(state)
        .catch_all_error(problem_for_poem_error)
        .around(move |ep, req| crate::telemetry::request_span(ep, req, metrics.clone(), route_names.clone()))
}

/// Buffers the body up to `max` bytes; larger bodies get 413 whether or not they announce a
/// Content-Length, before any handler or JSON parser sees them. A body still incomplete after
/// `deadline` gets 408 (slow loris).
/// How far past `server.max_body_bytes` an announced body is still read (and dropped) so its
/// sender gets the 413.
const DRAIN_FACTOR: u64 = 16;

async fn limit_body<E: Endpoint>(
    ep: Arc<E>,
    mut req: Request,
    max: usize,
    deadline: Duration,
) -> poem::Result<Response> {
    let announced = req
        .headers()
        .get(poem::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = announced.filter(|n| *n > max as u64) {
        // A client still writing a moderately oversized body would see the connection reset
        // instead of the 413: read and drop it first (streamed, within the body deadline), up to
        // DRAIN_FACTOR times the limit; anything larger is refused at once.
        if n <= (max as u64).saturating_mul(DRAIN_FACTOR) {
            let mut body = req.take_body().into_async_read().take(n);
            let mut sink = tokio::io::sink();
            let _ = tokio::time::timeout(deadline, tokio::io::copy(&mut body, &mut sink)).await;
        }
        return Ok(crate::http_guard::refuse_body(req.uri().path(), StatusCode::PAYLOAD_TOO_LARGE));
    }
    let body = req.take_body();
    let bytes = match tokio::time::timeout(deadline, body.into_bytes_limit(max)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => {
            return Ok(crate::http_guard::refuse_body(req.uri().path(), poem::Error::from(e).status()));
        }
        Err(_) => return Ok(crate::http_guard::refuse_body(req.uri().path(), StatusCode::REQUEST_TIMEOUT)),
    };
    // A body-less POST (`curl -X POST`) is read as an empty JSON body, so endpoints with an
    // optional body accept it instead of answering 415.
    if bytes.is_empty() && req.content_type().is_none() {
        // OAuth endpoints take forms: there an empty body is an empty form, so the client gets
        // an RFC 6749 error (`invalid_request`, `invalid_client`) instead of a 415.
        let form = ["/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"]
            .iter()
            .any(|p| req.uri().path().ends_with(p));
        let kind = if form { "application/x-www-form-urlencoded" } else { "application/json" };
        req.headers_mut()
            .insert(poem::http::header::CONTENT_TYPE, poem::http::HeaderValue::from_static(kind));
    }
    req.set_body(bytes);
    Ok(ep.call(req).await?.into_response())
}
