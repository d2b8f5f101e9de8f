//! A tenant's mail templates: overrides of the subject, plain text and HTML of each mail kind
//! per locale, and previews.
use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};

use super::AdminAuth;
use crate::{
    account::templates::Parts,
    admin::{self, mail_templates::Source},
    api::ApiTags,
    error::ApiError,
    state::AppState,
    store::{self, entities::mail_templates as row},
};

pub struct AdminMailTemplatesApi;

/// A template override. The parts are minijinja templates (Jinja syntax) rendered in a
/// sandbox; they see `tenant`, `colour`, `username`, `link`, `code`, `valid_for` (e.g.
/// `30 minutes`), `valid_minutes` and `address`. The HTML part is auto-escaped.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct MailTemplateInput {
    /// One line once rendered (line breaks become spaces); at most 1000 bytes.
    #[oai(validator(max_length = 1000))]
    pub subject: String,
    /// The plain-text part; at most 32 KiB.
    #[oai(validator(max_length = 32768))]
    pub text: String,
    /// The HTML part; at most 32 KiB.
    #[oai(validator(max_length = 32768))]
    pub html: String,
}

#[derive(Object)]
pub struct MailTemplateView {
    /// `verify_email`, `reset_password`, `change_email`, `email_sign_in`,
    /// `undo_email_change`, `password_changed`, `recovery_code_used`, `second_factors_reset` or
    /// `sign_in_method_added`.
    pub kind: String,
    pub locale: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub updated_at: DateTime<Utc>,
}

impl From<row::Model> for MailTemplateView {
    fn from(r: row::Model) -> Self {
        Self {
            kind: r.kind,
            locale: r.locale,
            subject: r.subject,
            text: r.body_text,
            html: r.body_html,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Object)]
pub struct MailTemplateList {
    pub items: Vec<MailTemplateView>,
}

/// A preview request: a draft to try, or nothing to see what mails use now.
#[derive(Object, Default)]
#[oai(deny_unknown_fields)]
pub struct MailPreviewRequest {
    /// Whose override to show (default: the tenant's locale, then `en`).
    #[oai(validator(max_length = 35))]
    pub locale: Option<String>,
    /// A template to render instead of the stored one.
    pub draft: Option<MailTemplateInput>,
}

#[derive(Object)]
pub struct MailPreview {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// `draft`, `override` or `default` (the built-in wording).
    pub source: String,
}

#[derive(ApiResponse)]
pub enum MailTemplateListOk {
    #[oai(status = 200)]
    Ok(Json<MailTemplateList>),
}

#[derive(ApiResponse)]
pub enum MailTemplateOk {
    #[oai(status = 200)]
    Ok(Json<MailTemplateView>),
}

#[derive(ApiResponse)]
pub enum MailTemplateDeleted {
    /// The override is gone; the built-in wording applies.
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
pub enum MailPreviewOk {
    #[oai(status = 200)]
    Ok(Json<MailPreview>),
}

#[OpenApi(tag = "ApiTags::AdminTenants")]
impl AdminMailTemplatesApi {
    /// List mail template overrides
    ///
    /// Kinds without an override use the built-in wording.
    #[oai(
        path = "/admin/v1/tenants/:tenant/mail-templates",
        method = "get",
        operation_id = "adminListMailTemplates"
    )]
    async fn list_mail_templates(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
    ) -> Result<MailTemplateListOk, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        let items = admin::mail_templates::list(state, &t).await?.into_iter().map(Into::into).collect();
        Ok(MailTemplateListOk::Ok(Json(MailTemplateList { items })))
    }

    /// Set a mail template override
    ///
    /// Replaces the subject, text and HTML of one mail kind in one locale. The template is
    /// checked first: it must render with sample data and, for mails that carry a link, show
    /// `{{ link }}` in both bodies; otherwise 400 `template_invalid` with the part in `field`
    /// and the line in `detail`. Mails queued from now on use it. Audited.
    #[oai(
        path = "/admin/v1/tenants/:tenant/mail-templates/:kind/:locale",
        method = "put",
        operation_id = "adminPutMailTemplate"
    )]
    async fn put_mail_template(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        #[oai(validator(max_length = 32))] kind: Path<String>,
        #[oai(validator(max_length = 35))] locale: Path<String>,
        body: Json<MailTemplateInput>,
    ) -> Result<MailTemplateOk, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        let b = body.0;
        let content = store::mail_templates::Content { subject: b.subject, text: b.text, html: b.html };
        let saved =
            admin::mail_templates::save(state, &auth.0, &t, &kind, &locale, content, Utc::now()).await?;
        Ok(MailTemplateOk::Ok(Json(saved.into())))
    }

    /// Remove a mail template override
    #[oai(
        path = "/admin/v1/tenants/:tenant/mail-templates/:kind/:locale",
        method = "delete",
        operation_id = "adminDeleteMailTemplate"
    )]
    async fn delete_mail_template(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        #[oai(validator(max_length = 32))] kind: Path<String>,
        #[oai(validator(max_length = 35))] locale: Path<String>,
    ) -> Result<MailTemplateDeleted, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        admin::mail_templates::delete(state, &auth.0, &t, &kind, &locale, Utc::now()).await?;
        Ok(MailTemplateDeleted::NoContent)
    }

    /// Preview a mail
    ///
    /// Renders a kind with sample data (user `ann`, a link that leads nowhere, code
    /// `1234-5678`) in the tenant's branding: the `draft` sent, else the override mails in
    /// `locale` would use, else the built-in wording. Sends nothing.
    #[oai(
        path = "/admin/v1/tenants/:tenant/mail-templates/:kind/preview",
        method = "post",
        operation_id = "adminPreviewMail"
    )]
    async fn preview_mail(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        #[oai(validator(max_length = 32))] kind: Path<String>,
        body: Json<MailPreviewRequest>,
    ) -> Result<MailPreviewOk, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        let req = body.0;
        let draft = req.draft.as_ref().map(|d| Parts { subject: &d.subject, text: &d.text, html: &d.html });
        let (m, source) =
            admin::mail_templates::preview(state, &t, &kind, req.locale.as_deref(), draft).await?;
        let source = match source {
            Source::Draft => "draft",
            Source::Override => "override",
            Source::Default => "default",
        };
        Ok(MailPreviewOk::Ok(Json(MailPreview {
            subject: m.subject,
            text: m.text,
            html: m.html,
            source: source.into(),
        })))
    }
}
