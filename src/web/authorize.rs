//! The authorization endpoint: checks the app's request, then redirects back at once (an
//! error the app may see, or a code from a live SSO session) or shows the sign-in form.
use std::sync::Arc;

use poem::{
    Body, Request, Response, handler,
    http::StatusCode,
    web::{Data, Path},
};

use super::{active_tenant, cookie, error_page, failure, params_of, redirect, sign_in::login_page};
use crate::{
    oidc::{
        authorize::{self, Outcome},
        sso,
    },
    state::AppState,
};

/// `GET|POST /t/{tenant}/oauth2/authorize`
#[handler]
pub async fn authorize_endpoint(
    req: &Request,
    Path(slug): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let tenant = match active_tenant(state, &slug).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let params = match params_of(req, body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let sso_cookie = cookie(req, &sso::cookie_name(&state.settings, &slug));
    match authorize::authorize(state, &tenant, &params, sso_cookie, chrono::Utc::now()).await {
        Ok(Outcome::ErrorPage(message)) => error_page(Some(&tenant), StatusCode::BAD_REQUEST, &message),
        Ok(Outcome::Redirect(location)) => redirect(&location),
        Ok(Outcome::Login { request_id, pending }) => {
            let hint = pending.login_hint.clone().unwrap_or_default();
            login_page(state, &tenant, &request_id, &pending, &hint, None, StatusCode::OK)
        }
        Err(e) => failure(e),
    }
}
