//! Tenant admins' overrides of the mail templates (`account::templates`): list, save
//! (checked first: a template that does not render with sample data is refused, naming the
//! part and line), delete, and preview a kind with sample data.
use chrono::{DateTime, Utc};
use gatehouse_ui::{MailKind, RenderedMail};
use poem::http::StatusCode;
use poem_openapi::payload::Json;
use serde_json::json;

use super::{Admin, record_change};
use crate::{
    account::templates::{self, Parts, TemplateError},
    domain::valid_language_tag,
    error::{ApiError, Problem},
    state::AppState,
    store::{self, entities::mail_templates as row},
    tenancy::TenantContext,
};

fn kind_of(name: &str) -> Result<MailKind, ApiError> {
    templates::kind_named(name).ok_or_else(|| {
        let names: Vec<&str> = templates::KINDS.iter().map(|k| crate::account::mail::kind_name(*k)).collect();
        ApiError::not_found(
            "mail_kind_not_found",
            format!("no mail kind {name}; the kinds are {}", names.join(", ")),
        )
    })
}

fn locale_of(locale: &str) -> Result<(), ApiError> {
    if valid_language_tag(locale) {
        Ok(())
    } else {
        Err(ApiError::validation("locale", "must be a language tag like en, de or pt-BR"))
    }
}

/// 400 `template_invalid`, with the part as `field` and the line in the detail.
fn invalid(e: &TemplateError) -> ApiError {
    let mut p = Problem::new(StatusCode::BAD_REQUEST, "template_invalid", e.to_string());
    p.field = Some(e.part.to_string());
    ApiError::BadRequest(Json(p))
}

/// The tenant's overrides.
///
/// # Errors
/// Database failures.
pub async fn list(state: &AppState, tenant: &TenantContext) -> Result<Vec<row::Model>, ApiError> {
    Ok(store::mail_templates::list(&state.db, tenant.id).await?)
}

/// Checks and stores the override of `kind` in `locale`; audited as `mail_template.saved`.
///
/// # Errors
/// 404 for an unknown kind, 400 for a bad locale or a template that does not render.
pub async fn save(
    state: &AppState,
    admin: &Admin,
    tenant: &TenantContext,
    kind: &str,
    locale: &str,
    content: store::mail_templates::Content,
    now: DateTime<Utc>,
) -> Result<row::Model, ApiError> {
    let mail_kind = kind_of(kind)?;
    locale_of(locale)?;
    let parts = Parts { subject: &content.subject, text: &content.text, html: &content.html };
    let sample = crate::account::sample(&state.settings.public_url(), tenant, mail_kind);
    templates::validate(&parts, &sample).map_err(|e| invalid(&e))?;
    let saved = store::mail_templates::upsert(&state.db, tenant.id, kind, locale, content, now).await?;
    let target = format!("mail_template:{kind}:{locale}");
    record_change(state, admin, tenant.id, "mail_template.saved", target, None, json!({}), now).await;
    Ok(saved)
}

/// Removes an override: the built-in wording applies again.
///
/// # Errors
/// 404 when there is none.
pub async fn delete(
    state: &AppState,
    admin: &Admin,
    tenant: &TenantContext,
    kind: &str,
    locale: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    kind_of(kind)?;
    if !store::mail_templates::delete(&state.db, tenant.id, kind, locale).await? {
        return Err(ApiError::not_found("mail_template_not_found", "no override of this kind and locale"));
    }
    let target = format!("mail_template:{kind}:{locale}");
    record_change(state, admin, tenant.id, "mail_template.deleted", target, None, json!({}), now).await;
    Ok(())
}

/// Where a preview came from.
pub enum Source {
    /// The template sent with the request.
    Draft,
    /// The stored override of this locale.
    Override,
    /// The built-in wording.
    Default,
}

/// Renders `kind` with sample data: `draft` if given, else the override a mail in `locale`
/// (default: the tenant's) would use, else the built-in wording.
///
/// # Errors
/// 404 for an unknown kind, 400 for a bad locale or a draft that does not render.
pub async fn preview(
    state: &AppState,
    tenant: &TenantContext,
    kind: &str,
    locale: Option<&str>,
    draft: Option<Parts<'_>>,
) -> Result<(RenderedMail, Source), ApiError> {
    let mail_kind = kind_of(kind)?;
    let sample = crate::account::sample(&state.settings.public_url(), tenant, mail_kind);
    if let Some(parts) = draft {
        let rendered = templates::render(&parts, &sample.vars()).map_err(|e| invalid(&e))?;
        return Ok((rendered, Source::Draft));
    }
    let candidates = match locale {
        Some(l) => {
            locale_of(l)?;
            vec![l.to_string(), "en".to_string()]
        }
        None => templates::locales(tenant),
    };
    for l in candidates {
        if let Some(found) = store::mail_templates::find(&state.db, tenant.id, kind, &l).await? {
            let parts = Parts { subject: &found.subject, text: &found.body_text, html: &found.body_html };
            let rendered = templates::render(&parts, &sample.vars()).map_err(|e| invalid(&e))?;
            return Ok((rendered, Source::Override));
        }
    }
    let rendered = mail_kind.render(&sample.vars()).map_err(ApiError::internal)?;
    Ok((rendered, Source::Default))
}
