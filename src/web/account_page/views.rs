//! The account page's views: the page itself with its sections, and the pages shown once
//! (enrolling an authenticator app, new recovery codes).
use gatehouse_ui::{Block, Cell, Field, Form, Link, Section};
use poem::{Response, http::StatusCode};

use super::{TITLE, home};
use crate::{
    account::profile,
    auth, mfa,
    oidc::first_party::{Face, WebSession},
    state::AppState,
    store::entities::users,
    strategy::link,
    tenancy::TenantContext,
    web::panel::{self, Chrome},
};

pub(super) fn enrol_page(
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

pub(super) fn codes_page(tenant: &TenantContext, codes: &[String]) -> Response {
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
pub(super) async fn show(
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
