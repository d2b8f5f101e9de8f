//! The pages the email-change mails link to (`account::email_change`): the confirmation
//! sent to the new address and the undo link sent to the old one. A GET shows what the link
//! will do and spends nothing (mail scanners fetch links); only the page's POST acts.
use std::sync::Arc;

use gatehouse_ui::{ConfirmAction, ConfirmKind, Notice, NoticeKind};
use poem::{
    Body, Request, Response, handler,
    http::{Method, StatusCode},
    web::{Data, Path},
};

use super::{active_tenant, failure, page, params_of};
use crate::{
    account::{
        action::Purpose,
        email_change::{self as service, Applied},
    },
    client_ip::client_meta,
    state::AppState,
    tenancy::TenantContext,
};

pub(super) fn notice(tenant: &TenantContext, status: StatusCode, kind: NoticeKind) -> Response {
    page(status, Some(tenant), |layout| Notice { layout, kind }.render())
}

/// A mailed link's request: the tenant, whether it is the page's POST (refused from another
/// site), and the token, from the query (GET) or the form (POST).
pub(super) async fn link_request(
    state: &AppState,
    req: &Request,
    slug: &str,
    body: Body,
) -> Result<(Arc<TenantContext>, bool, String), Response> {
    let tenant = active_tenant(state, slug).await?;
    let post = req.method() == Method::POST;
    if post && let Some(refused) = super::cross_site(state, &tenant, req) {
        return Err(refused);
    }
    let params = params_of(req, body).await?;
    let token = params.get("token").cloned().unwrap_or_default();
    Ok((tenant, post, token))
}

async fn handle(req: &Request, slug: &str, body: Body, state: &AppState, kind: ConfirmKind) -> Response {
    let (tenant, post, token) = match link_request(state, req, slug, body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let token = token.as_str();
    let now = chrono::Utc::now();
    let undo = kind == ConfirmKind::UndoEmailChange;
    if !post {
        let purpose = if undo { Purpose::UndoEmailChange } else { Purpose::ChangeEmail };
        let address = service::peek_address(state, &tenant, purpose, token, now).await;
        let action =
            format!("/t/{slug}/{}", if undo { "account/undo-email-change" } else { "account/confirm-email" });
        return match address {
            Ok(Some(address)) => page(StatusCode::OK, Some(&tenant), |layout| {
                ConfirmAction { layout, kind, action: &action, token, address: &address }.render()
            }),
            Ok(None) => notice(&tenant, StatusCode::BAD_REQUEST, NoticeKind::LinkExpired),
            Err(e) => failure(e),
        };
    }
    let meta = client_meta(req);
    let applied = if undo {
        service::undo(state, &tenant, token, &meta, now).await
    } else {
        service::confirm_by_link(state, &tenant, token, &meta, now).await
    };
    match applied {
        Ok(Applied::Done(_)) if undo => notice(&tenant, StatusCode::OK, NoticeKind::ChangeUndone),
        Ok(Applied::Done(_)) => notice(&tenant, StatusCode::OK, NoticeKind::EmailChanged),
        Ok(Applied::Invalid | Applied::Stale) => {
            notice(&tenant, StatusCode::BAD_REQUEST, NoticeKind::LinkExpired)
        }
        Ok(Applied::Taken) => notice(&tenant, StatusCode::CONFLICT, NoticeKind::AddressTaken),
        Err(e) => failure(e),
    }
}

/// `GET|POST /t/{tenant}/account/confirm-email?token=...`: confirms a new address.
#[handler]
pub async fn confirm_email_page(
    req: &Request,
    Path(slug): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    handle(req, &slug, body, state, ConfirmKind::ChangeEmail).await
}

/// `GET|POST /t/{tenant}/account/undo-email-change?token=...`: restores the old address and
/// ends every session of the account.
#[handler]
pub async fn undo_email_change_page(
    req: &Request,
    Path(slug): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    handle(req, &slug, body, state, ConfirmKind::UndoEmailChange).await
}
