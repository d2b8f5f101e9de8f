//! Tenant overrides of the mail templates, per kind and locale, rendered in a sandbox:
//! minijinja with no loader and no `include`/`import`/`extends` (built without
//! `multi_template`), no macros, strict undefined variables, HTML auto-escaping for the HTML
//! part, a fuel limit on the work of one render and size limits on the source and the
//! output. An override is checked when saved ([`validate`]: it must compile, render with
//! sample data, and still show the link where the mail carries one), with errors naming the
//! part and the line. The built-in mails stay the askama templates of `gatehouse_ui`.
use std::collections::BTreeMap;

use gatehouse_ui::{MailKind, MailVars, RenderedMail};
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior, Value};

use super::mail::{self as account_mail};
use crate::tenancy::TenantContext;

/// Every kind a tenant may override.
pub const KINDS: [MailKind; 9] = [
    MailKind::VerifyEmail,
    MailKind::ResetPassword,
    MailKind::ChangeEmail,
    MailKind::EmailSignIn,
    MailKind::UndoEmailChange,
    MailKind::PasswordChanged,
    MailKind::RecoveryCodeUsed,
    MailKind::SecondFactorsReset,
    MailKind::SignInMethodAdded,
];

/// The variables a template sees.
pub const VARIABLES: [&str; 8] =
    ["tenant", "colour", "username", "link", "code", "valid_for", "valid_minutes", "address"];

const MAX_SUBJECT: usize = 1000;
const MAX_BODY: usize = 32 * 1024;
const MAX_OUTPUT: usize = 256 * 1024;
/// Instructions one part may run: far more than any mail needs, far less than a runaway loop.
const FUEL: u64 = 50_000;

/// The kind of an outbox kind name (`email_sign_in`, ...).
pub fn kind_named(name: &str) -> Option<MailKind> {
    KINDS.into_iter().find(|k| account_mail::kind_name(*k) == name)
}

/// An override's three parts.
#[derive(Debug, Clone, Copy)]
pub struct Parts<'a> {
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
}

/// Why an override cannot be used: the part (`subject`, `text`, `html`), the line if known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub part: &'static str,
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}: line {line}: {}", self.part, self.message),
            None => write!(f, "{}: {}", self.part, self.message),
        }
    }
}

fn error(part: &'static str, line: Option<usize>, message: impl Into<String>) -> TemplateError {
    TemplateError { part, line, message: message.into() }
}

fn from_engine(part: &'static str, e: &minijinja::Error) -> TemplateError {
    let message = match e.kind() {
        ErrorKind::OutOfFuel => "the template does too much work (a loop that runs too long?)".to_string(),
        ErrorKind::UndefinedError => format!(
            "{} (the variables are {})",
            e.detail().unwrap_or("an undefined variable"),
            VARIABLES.join(", ")
        ),
        kind => e.detail().map_or_else(|| kind.to_string(), |d| format!("{kind}: {d}")),
    };
    error(part, e.line(), message)
}

fn sandbox() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Templates are named after their part, so only the HTML part is escaped.
    env.set_auto_escape_callback(|name| if name == "html" { AutoEscape::Html } else { AutoEscape::None });
    env
}

fn context(v: &MailVars<'_>) -> Value {
    let text = |s: Option<&str>| Value::from(s.unwrap_or_default().to_string());
    let map: BTreeMap<Value, Value> = [
        ("tenant", Value::from(v.tenant.to_string())),
        ("colour", Value::from(v.colour.to_string())),
        ("username", Value::from(v.username.to_string())),
        ("link", text(v.link)),
        ("code", text(v.code)),
        ("valid_for", Value::from(gatehouse_ui::validity_phrase(v.valid_minutes))),
        ("valid_minutes", Value::from(v.valid_minutes)),
        ("address", text(v.address)),
    ]
    .into_iter()
    .map(|(k, v)| (Value::from(k), v))
    .collect();
    Value::from(map)
}

/// Renders an override with `vars`.
///
/// # Errors
/// The part and line that failed: syntax, an unknown variable, too much work, too large.
pub fn render(parts: &Parts<'_>, vars: &MailVars<'_>) -> Result<RenderedMail, TemplateError> {
    if parts.subject.len() > MAX_SUBJECT {
        return Err(error("subject", None, format!("must be at most {MAX_SUBJECT} bytes")));
    }
    for (part, source) in [("text", parts.text), ("html", parts.html)] {
        if source.len() > MAX_BODY {
            return Err(error(part, None, format!("must be at most {} KiB", MAX_BODY / 1024)));
        }
    }
    let env = sandbox();
    let ctx = context(vars);
    let mut out = Vec::with_capacity(3);
    for (part, source) in [("subject", parts.subject), ("text", parts.text), ("html", parts.html)] {
        let rendered = env.render_named_str(part, source, ctx.clone()).map_err(|e| from_engine(part, &e))?;
        if rendered.len() > MAX_OUTPUT {
            return Err(error(part, None, format!("renders to more than {} KiB", MAX_OUTPUT / 1024)));
        }
        out.push(rendered);
    }
    let html = out.pop().unwrap_or_default();
    let text = out.pop().unwrap_or_default();
    // One line: a subject is a header.
    let subject = out.pop().unwrap_or_default().split_whitespace().collect::<Vec<_>>().join(" ");
    if subject.is_empty() {
        return Err(error("subject", None, "renders empty"));
    }
    Ok(RenderedMail { subject, text, html })
}

/// Values to preview and check templates with: the tenant's brand, made-up user data, and a
/// link to the kind's page that leads nowhere.
pub struct Sample {
    tenant: String,
    colour: String,
    link: Option<String>,
}

impl Sample {
    /// `page`: the page the kind's link leads to (`account::sample` knows it), if it has one.
    pub fn new(public_url: &str, tenant: &TenantContext, page: Option<&str>) -> Self {
        let (name, colour) = account_mail::brand(tenant);
        let link = page.map(|p| format!("{public_url}/t/{}/{p}?token=gha_SAMPLE", tenant.slug));
        Self { tenant: name.to_string(), colour: colour.to_string(), link }
    }

    pub fn vars(&self) -> MailVars<'_> {
        MailVars {
            tenant: &self.tenant,
            colour: &self.colour,
            username: "ann",
            link: self.link.as_deref(),
            code: self.link.as_ref().map(|_| "1234-5678"),
            valid_minutes: 30,
            address: Some("new-address@example.com"),
        }
    }
}

/// Checks an override before it is stored: it renders with sample data, and where the mail
/// carries a link, both bodies show it (else the mail would be useless).
///
/// # Errors
/// The part and line at fault.
pub fn validate(parts: &Parts<'_>, sample: &Sample) -> Result<(), TemplateError> {
    let rendered = render(parts, &sample.vars())?;
    if let Some(link) = &sample.link {
        // As the HTML part shows it: escaped (`/` becomes `&#x2f;`), which browsers read back.
        let escaped = sandbox()
            .render_named_str("html", "{{ link }}", context(&sample.vars()))
            .map_err(|e| from_engine("html", &e))?;
        for (part, body, shown) in [("text", &rendered.text, link), ("html", &rendered.html, &escaped)] {
            if !body.contains(shown.as_str()) {
                return Err(error(part, None, "must show the link: add {{ link }}"));
            }
        }
    }
    Ok(())
}

/// The locales to look for an override in, best first: the tenant's default locale, its
/// language without the region, then `en`. (Users have no stored locale yet; theirs will come
/// first when they do.)
pub fn locales(tenant: &TenantContext) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(l) = tenant.settings.email.locale.as_deref() {
        out.push(l.to_string());
        if let Some((lang, _)) = l.split_once('-') {
            out.push(lang.to_string());
        }
    }
    out.push("en".into());
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> MailVars<'static> {
        MailVars {
            tenant: "Acme",
            colour: "#000000",
            username: "<b>ann</b>",
            link: Some("https://id.example/t/acme/account/x?token=gha_1&a=b"),
            code: Some("1234-5678"),
            valid_minutes: 30,
            address: None,
        }
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let parts = Parts {
            subject: "Hi\n{{ username }}",
            text: "{{ username }} {{ link }} {{ valid_for }}",
            html: "<p>{{ username }}</p><a href=\"{{ link }}\">go</a>",
        };
        let m = render(&parts, &vars()).unwrap();
        assert_eq!(m.subject, "Hi <b>ann</b>");
        assert_eq!(m.text, "<b>ann</b> https://id.example/t/acme/account/x?token=gha_1&a=b 30 minutes");
        assert!(
            m.html.contains("<p>&lt;b&gt;ann&lt;&#x2f;b&gt;</p>") && m.html.contains("token=gha_1&amp;a=b"),
            "{}",
            m.html
        );
    }

    #[test]
    fn errors_name_the_part_and_line() {
        let parts = Parts { subject: "s", text: "ok", html: "<p>\n{% if link %}\nno end" };
        let e = render(&parts, &vars()).unwrap_err();
        assert_eq!((e.part, e.line), ("html", Some(2)), "{e}");
        let unknown = Parts { subject: "s", text: "line one\n{{ passwd }}", html: "" };
        let e = render(&unknown, &vars()).unwrap_err();
        assert_eq!((e.part, e.line), ("text", Some(2)));
        assert!(e.to_string().contains("the variables are tenant"), "{e}");
    }

    #[test]
    fn nothing_outside_the_template_is_reachable_and_runaway_loops_stop() {
        for source in ["{% include 'x' %}", "{% extends 'base.html' %}", "{% import 'm' as m %}"] {
            let parts = Parts { subject: "s", text: source, html: "" };
            assert_eq!(render(&parts, &vars()).unwrap_err().part, "text", "{source}");
        }
        let spin = Parts {
            subject: "s",
            text: "{% for a in range(10000) %}{% for b in range(10000) %}x{% endfor %}{% endfor %}",
            html: "",
        };
        assert!(render(&spin, &vars()).unwrap_err().message.contains("too much work"));
    }
}
