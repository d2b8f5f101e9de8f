//! `/t/{tenant}/account`: the signed-in user's own page (profile, password, second factors,
//! sessions, linked providers). Signed in through the tenant's authorization endpoint as the
//! first-party client `gatehouse-account`; every post carries the session's CSRF token and
//! calls the same service functions as the JSON account API, audited with channel `account`.
use std::sync::Arc;

use gatehouse_ui::{Block, Cell, Field, Form, Link, Section};
use poem::{
    Body, Request, Response, handler,
    http::StatusCode,
    web::{Data, Path},
};

use super::panel::{self, Chrome, field};
use crate::{
    account::profile,
    auth::{self, ClientMeta},
    client_ip::client_meta,
    error::ApiError,
    mfa,
    oidc::first_party::{self, Face, WebSession},
    state::AppState,
    store::entities::users,
    strategy::link::{self, UnlinkError},
    tenancy::TenantContext,
};

const TITLE: &str = "Your account";

fn meta(req: &Request) -> ClientMeta {
    ClientMeta { channel: Some("account"), ..client_meta(req) }
}

fn home(slug: &str) -> String {
    format!("/t/{slug}/account")
}

/// The web session and its user, or where to go instead (a sign-in, a page).
async fn signed_in(
    state: &AppState,
    req: &Request,
    tenant: &TenantContext,
) -> Result<Option<(WebSession, users::Model)>, Response> {
    let cookie = panel::read_cookie(req, &panel::account_cookie(state, &tenant.slug));
    let now = chrono::Utc::now();
    let session = match first_party::current(state, tenant, Face::Account, cookie, now).await {
        Ok(s) => s,
        Err(e) => return Err(super::failure(e)),
    };
    let Some(session) = session else { return Ok(None) };
    match profile::active_user(state, tenant, session.user_id).await {
        Ok(Some(user)) => Ok(Some((session, user))),
        Ok(None) => Ok(None),
        Err(e) => Err(failed(tenant, &e)),
    }
}

fn failed(tenant: &TenantContext, e: &ApiError) -> Response {
    let (status, message) = panel::problem(e);
    super::error_page(Some(tenant), status, &message)
}

/// `GET /t/{tenant}/account`: the page, or off to the tenant's sign-in.
#[handler]
pub async fn account_home(
    req: &Request,
    Path(slug): Path<String>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let tenant = match super::active_tenant(state, &slug).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    match signed_in(state, req, &tenant).await {
        Ok(Some((session, user))) => {
            let notice = notice_text(&panel::notice_key(req));
            show(state, &tenant, &session, &user, StatusCode::OK, notice, None, Vec::new()).await
        }
        Ok(None) => sign_in(state, &tenant).await,
        Err(r) => r,
    }
}

async fn sign_in(state: &AppState, tenant: &TenantContext) -> Response {
    match first_party::begin(state, tenant, Face::Account, &home(&tenant.slug), false, chrono::Utc::now())
        .await
    {
        Ok(Some(started)) => panel::start_flow(state, &format!("acct_{}", tenant.slug), &started),
        Ok(None) => super::error_page(
            Some(tenant),
            StatusCode::SERVICE_UNAVAILABLE,
            "The account page is switched off here: its app (gatehouse-account) was changed or disabled.",
        ),
        Err(e) => super::failure(e),
    }
}

/// `GET /t/{tenant}/account/callback`: back from the tenant's sign-in with a code.
#[handler]
pub async fn account_callback(
    req: &Request,
    Path(slug): Path<String>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let tenant = match super::active_tenant(state, &slug).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let query =
        crate::oidc::authorize::parse_params(req.uri().query().unwrap_or_default()).unwrap_or_default();
    let get = |k: &str| query.get(k).map(String::as_str).unwrap_or_default();
    let flow = panel::flow_cookie(state, &format!("acct_{slug}"));
    let kept = panel::read_cookie(req, &flow);
    let now = chrono::Utc::now();
    let finished =
        first_party::finish(state, &tenant, Face::Account, get("code"), get("state"), kept, meta(req), now)
            .await;
    match finished {
        Ok(Some(signed)) => {
            let to = if signed.return_to.starts_with(&home(&slug)) { signed.return_to } else { home(&slug) };
            let mut resp = super::redirect(&to);
            panel::set_cookie(state, &mut resp, &panel::account_cookie(state, &slug), &signed.cookie);
            panel::set_cookie(state, &mut resp, &flow, "");
            resp
        }
        Ok(None) => super::error_page(
            Some(&tenant),
            StatusCode::BAD_REQUEST,
            "This sign-in has expired or was already used. Open your account page again.",
        ),
        Err(e) => super::failure(e),
    }
}

fn notice_text(key: &str) -> Option<&'static str> {
    Some(match key {
        "profile" => "Your profile is saved.",
        "password" => "Your password is changed.",
        "verification" => "We sent a new verification mail, if your address can receive one now.",
        "totp_removed" => "The authenticator app is removed.",
        "session" => "That session is signed out.",
        "others" => "Your other sessions are signed out.",
        "unlinked" => "The provider is unlinked.",
        _ => return None,
    })
}

/// `POST /t/{tenant}/account/{action}`: one change, then back to the page (or a page of its
/// own for what is shown once: the QR code, recovery codes).
#[handler]
pub async fn account_action(
    req: &Request,
    Path((slug, action)): Path<(String, String)>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let tenant = match super::active_tenant(state, &slug).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let (session, user) = match signed_in(state, req, &tenant).await {
        Ok(Some(v)) => v,
        Ok(None) => {
            return super::error_page(
                Some(&tenant),
                StatusCode::UNAUTHORIZED,
                "You are signed out. Open your account page again to sign in.",
            );
        }
        Err(r) => return r,
    };
    let form = match panel::form_of(req, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    if let Some(refused) = panel::csrf_refused(state, Some(&tenant), req, &form, &session) {
        return refused;
    }
    let now = chrono::Utc::now();
    let meta = meta(req);
    let back = home(&slug);
    let keep = [Some(session.session_id), session.sso_session_id].into_iter().flatten().collect::<Vec<_>>();
    let result: Result<Response, ApiError> = match action.as_str() {
        "profile" => {
            profile::set_display_name(state, &tenant, user.clone(), field(&form, "display_name"), &meta, now)
                .await
                .map(|_| panel::done(&back, "profile"))
        }
        "password" => profile::change_password(
            state,
            &tenant,
            &user,
            field(&form, "current_password").to_string(),
            field(&form, "new_password").to_string(),
            field(&form, "end_others") == "on",
            &keep,
            &meta,
            now,
        )
        .await
        .map(|()| panel::done(&back, "password")),
        "resend-verification" => crate::account::verify::send(state, &tenant, &user, &meta, "account", now)
            .await
            .map_err(ApiError::from)
            .map(|_| panel::done(&back, "verification")),
        "totp" => match mfa::totp::begin(state, &tenant, user.id, &user.username, &meta, now).await {
            Ok(setup) => Ok(enrol_page(&tenant, &session, &setup, None, StatusCode::OK)),
            Err(e) => Err(e.into()),
        },
        "totp-confirm" => {
            match mfa::totp::confirm(state, &tenant, user.id, field(&form, "code"), &meta, now).await {
                Ok(codes) => Ok(codes_page(&tenant, &codes)),
                Err(e @ (mfa::MfaError::InvalidCode | mfa::MfaError::Locked { .. })) => {
                    let (status, message) = panel::problem(&e.into());
                    match mfa::totp::pending_setup(state, &tenant, user.id, &user.username).await {
                        Ok(setup) => Ok(enrol_page(&tenant, &session, &setup, Some(&message), status)),
                        Err(e) => Err(e.into()),
                    }
                }
                Err(e) => Err(e.into()),
            }
        }
        "totp-remove" => {
            mfa::totp::remove(state, &tenant, user.id, auth::is_admin(&user), &session.amr, &meta, now)
                .await
                .map_err(ApiError::from)
                .map(|()| panel::done(&back, "totp_removed"))
        }
        "recovery-codes" => mfa::recovery::regenerate(state, &tenant, user.id, &session.amr, &meta, now)
            .await
            .map_err(ApiError::from)
            .map(|codes| codes_page(&tenant, &codes)),
        "end-session" => match uuid::Uuid::parse_str(field(&form, "session")) {
            Ok(id) if keep.contains(&id) => {
                Err(ApiError::bad_request("current_session", "use Sign out to end the session you are using"))
            }
            Ok(id) => profile::end_session(state, &tenant, &user, id, &meta, now)
                .await
                .map(|()| panel::done(&back, "session")),
            Err(_) => Err(ApiError::validation("session", "must be a session id")),
        },
        "end-others" => profile::end_others(state, &tenant, &user, &keep, &meta, now)
            .await
            .map(|_| panel::done(&back, "others")),
        "unlink" => match link::unlink(state, &tenant, &user, field(&form, "provider"), &meta, now).await {
            Ok(()) => Ok(panel::done(&back, "unlinked")),
            Err(UnlinkError::NotLinked) => {
                Err(ApiError::not_found("identity_not_found", UnlinkError::NotLinked.to_string()))
            }
            Err(UnlinkError::LastLoginMethod) => {
                Err(ApiError::conflict("last_login_method", UnlinkError::LastLoginMethod.to_string()))
            }
            Err(UnlinkError::Auth(e)) => Err(e.into()),
        },
        "sign-out" => {
            let cookie_name = panel::account_cookie(state, &slug);
            let cookie = panel::read_cookie(req, &cookie_name);
            match first_party::sign_out(state, &tenant, cookie, &session, &meta, now).await {
                Ok(()) => {
                    let mut resp = super::page(StatusCode::OK, Some(&tenant), |layout| {
                        gatehouse_ui::render(&gatehouse_ui::SignedOut { layout })
                    });
                    panel::set_cookie(state, &mut resp, &cookie_name, "");
                    Ok(resp)
                }
                Err(e) => Err(e.into()),
            }
        }
        _ => Err(ApiError::not_found("not_found", "no such action")),
    };
    match result {
        Ok(resp) => resp,
        Err(e) => {
            let (status, message) = panel::problem(&e);
            // Fresh user row: a failed change may still have changed nothing, but show what is.
            let user = profile::active_user(state, &tenant, user.id).await.ok().flatten().unwrap_or(user);
            let entered = vec![("display_name", field(&form, "display_name").to_string())];
            show(state, &tenant, &session, &user, status, None, Some(&message), entered).await
        }
    }
}

fn enrol_page(
    tenant: &TenantContext,
    session: &WebSession,
    setup: &mfa::totp::Setup,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let slug = &tenant.slug;
    let form = Form::post(
        "totp",
        format!("/t/{slug}/account/totp-confirm"),
        &session.csrf,
        "Turn on two-step verification",
    )
    .field(
        Field::input("code", "Code from the app", "text", "", true)
            .autocomplete("one-time-code")
            .hint("The 6-digit code the app shows for this account."),
    );
    let sections = [Section::new(
        "Authenticator app",
        vec![
            Block::Text("Scan this QR code with an authenticator app (such as Aegis, Google Authenticator or 1Password), then enter the code it shows.".into()),
            Block::Image { src: setup.qr_data_url(), alt: "QR code that adds this account to an authenticator app".into() },
            Block::Text("Cannot scan it? Enter this key in the app instead:".into()),
            Block::Codes { label: "Key for the authenticator app".into(), codes: vec![setup.secret.clone()] },
            Block::Form(form),
            Block::Links(vec![Link::new(home(slug), "Back to your account")]),
        ],
    )];
    let chrome = Chrome { title: "Set up two-step verification", error, ..Chrome::default() };
    panel::render(status, Some(tenant), &chrome, &sections)
}

fn codes_page(tenant: &TenantContext, codes: &[String]) -> Response {
    let sections = [Section::new(
        "Recovery codes",
        vec![
            Block::Text("If you lose your device, each of these codes signs you in once instead of a code from the app. Keep them somewhere safe: they are shown only now.".into()),
            Block::Codes { label: "Recovery codes".into(), codes: codes.to_vec() },
            Block::Links(vec![Link::new(home(&tenant.slug), "I saved my codes, back to your account")]),
        ],
    )];
    let chrome = Chrome {
        title: "Save your recovery codes",
        notice: Some("Two-step verification is on."),
        ..Chrome::default()
    };
    panel::render(StatusCode::OK, Some(tenant), &chrome, &sections)
}

#[allow(clippy::too_many_arguments)]
async fn show(
    state: &AppState,
    tenant: &TenantContext,
    session: &WebSession,
    user: &users::Model,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
    entered: Vec<(&str, String)>,
) -> Response {
    let now = chrono::Utc::now();
    let slug = &tenant.slug;
    let csrf = &session.csrf;
    let act = |a: &str| format!("/t/{slug}/account/{a}");
    let display = entered
        .iter()
        .find(|(k, v)| *k == "display_name" && !v.is_empty())
        .map(|(_, v)| v.clone())
        .or_else(|| user.display_name.clone())
        .unwrap_or_default();
    let mut profile_blocks = vec![Block::Facts(vec![
        ("Username".into(), user.username.clone()),
        (
            "Email".into(),
            match (&user.email, user.email_verified) {
                (Some(e), true) => format!("{e} (verified)"),
                (Some(e), false) => format!("{e} (not verified)"),
                (None, _) => "none".into(),
            },
        ),
    ])];
    if user.email.is_some() && !user.email_verified && tenant.settings.email.verification_on() {
        profile_blocks.push(Block::Form(Form::post(
            "resend",
            act("resend-verification"),
            csrf,
            "Resend verification mail",
        )));
    }
    profile_blocks.push(Block::Form(
        Form::post("profile", act("profile"), csrf, "Save profile").field(
            Field::input("display_name", "Display name", "text", display, false)
                .autocomplete("name")
                .hint("How apps may greet you; leave empty to use your username."),
        ),
    ));
    let mut sections = vec![Section::new("Profile", profile_blocks)];
    if user.password_hash.is_some() {
        let form = Form::post("password", act("password"), csrf, "Change password")
            .field(
                Field::input("current_password", "Current password", "password", "", true)
                    .autocomplete("current-password"),
            )
            .field(
                Field::input("new_password", "New password", "password", "", true)
                    .hint(&format!("At least {} characters.", tenant.settings.password_policy.min_length)),
            )
            .field(Field::checkbox("end_others", "Sign out my other sessions", true));
        sections.push(Section::new("Password", vec![Block::Form(form)]));
    }
    sections.push(factors_section(state, tenant, session, user).await);
    sections.push(sessions_section(state, tenant, session, user, now).await);
    sections.push(providers_section(state, tenant, session, user).await);
    sections.push(Section::new(
        "Sign out",
        vec![Block::Form(Form::post("signout", act("sign-out"), csrf, "Sign out"))],
    ));
    let chrome = Chrome { title: TITLE, notice, error, ..Chrome::default() };
    panel::render(status, Some(tenant), &chrome, &sections)
}

async fn factors_section(
    state: &AppState,
    tenant: &TenantContext,
    session: &WebSession,
    user: &users::Model,
) -> Section {
    let policy = &tenant.settings.second_factor;
    let act = |a: &str| format!("/t/{}/account/{a}", tenant.slug);
    if policy.is_off() {
        return Section::new("Two-step verification", vec![Block::Text("Not available here.".into())]);
    }
    let confirmed = mfa::totp::status(state, tenant, user.id).await.ok().and_then(|(c, _)| c);
    let left = crate::store::factors::unused_codes(&state.db, tenant.id, user.id).await.unwrap_or(0);
    let mut blocks = Vec::new();
    match confirmed {
        Some(f) => {
            let since = f.confirmed_at.map(panel::when).unwrap_or_default();
            blocks.push(Block::Facts(vec![
                ("Authenticator app".into(), format!("on since {since}")),
                ("Recovery codes left".into(), left.to_string()),
            ]));
            blocks.push(Block::Form(Form::post(
                "codes",
                act("recovery-codes"),
                &session.csrf,
                "New recovery codes",
            )));
            if !policy.requires(auth::is_admin(user)) {
                blocks.push(Block::Form(
                    Form::post("totp-remove", act("totp-remove"), &session.csrf, "Remove authenticator app")
                        .danger(),
                ));
            }
            if !mfa::passed_second_factor(&session.amr) {
                blocks.push(Block::Text("Removing the app or making new codes needs a sign-in with a code: sign out and in again.".into()));
            }
        }
        None => {
            blocks.push(Block::Text(
                "Off. Add an authenticator app so a stolen password is not enough to sign in.".into(),
            ));
            blocks.push(Block::Form(Form::post(
                "totp-begin",
                act("totp"),
                &session.csrf,
                "Set up an authenticator app",
            )));
        }
    }
    Section::new("Two-step verification", blocks)
}

async fn sessions_section(
    state: &AppState,
    tenant: &TenantContext,
    session: &WebSession,
    user: &users::Model,
    now: chrono::DateTime<chrono::Utc>,
) -> Section {
    let act = |a: &str| format!("/t/{}/account/{a}", tenant.slug);
    let open = profile::open_sessions(state, tenant, user.id, now).await.unwrap_or_default();
    let rows = open
        .iter()
        .map(|s| {
            let this = s.id == session.session_id || Some(s.id) == session.sso_session_id;
            let app = match s.client_id.as_deref() {
                Some(c) if c == Face::Account.client_id() => "This account page".to_string(),
                Some(c) => c.to_string(),
                None if s.parent_id.is_none() && s.scope.is_none() && s.auth_time.is_some() => {
                    "Browser sign-in".into()
                }
                None => "Direct sign-in (API)".into(),
            };
            let device = s.user_agent.clone().unwrap_or_else(|| "unknown device".into());
            let action = if this {
                Cell::Text("This browser".into())
            } else {
                let form =
                    Form::post(&format!("end-{}", s.id), act("end-session"), &session.csrf, "Sign out")
                        .field(Field::hidden("session", s.id.to_string()))
                        .named(format!("Sign out the session started {}", panel::when(s.created_at)));
                Cell::Forms(vec![form])
            };
            vec![
                Cell::Text(app),
                Cell::Text(panel::when(s.created_at)),
                Cell::Text(s.ip.clone().unwrap_or_else(|| "unknown".into())),
                Cell::Text(device),
                action,
            ]
        })
        .collect();
    Section::new(
        "Sessions",
        vec![
            Block::Table {
                caption: "Where you are signed in".into(),
                headers: ["App", "Started", "Address", "Device", "Actions"].map(String::from).to_vec(),
                rows,
            },
            Block::Form(Form::post(
                "others",
                act("end-others"),
                &session.csrf,
                "Sign out all other sessions",
            )),
        ],
    )
}

async fn providers_section(
    state: &AppState,
    tenant: &TenantContext,
    session: &WebSession,
    user: &users::Model,
) -> Section {
    let linked = link::identities_of(state, tenant, user.id).await.unwrap_or_default();
    if linked.is_empty() {
        return Section::new("Linked sign-in providers", vec![Block::Text("None.".into())]);
    }
    let rows = linked
        .iter()
        .map(|i| {
            let name = tenant
                .strategies
                .get(&i.provider_id)
                .map_or_else(|| i.provider_id.clone(), |s| s.info().display_name.clone());
            let form = Form::post(
                &format!("unlink-{}", i.provider_id),
                format!("/t/{}/account/unlink", tenant.slug),
                &session.csrf,
                "Unlink",
            )
            .field(Field::hidden("provider", i.provider_id.clone()))
            .named(format!("Unlink {name}"))
            .danger();
            vec![
                Cell::Text(name),
                Cell::Text(i.email.clone().unwrap_or_default()),
                Cell::Text(panel::when(i.created_at)),
                Cell::Forms(vec![form]),
            ]
        })
        .collect();
    Section::new(
        "Linked sign-in providers",
        vec![Block::Table {
            caption: "Accounts at other providers you can sign in with".into(),
            headers: ["Provider", "Email there", "Linked", "Actions"].map(String::from).to_vec(),
            rows,
        }],
    )
}
