//! Server-rendered pages: the hosted login form, errors and logout. Plain HTML that works
//! without JavaScript, with a strict Content-Security-Policy and no framing.
use poem::{Response, http::StatusCode};

use crate::tenancy::TenantContext;

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Headers every HTML response carries.
pub fn html(status: StatusCode, body: String, nonce: &str) -> Response {
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .header(
            "Content-Security-Policy",
            format!(
                "default-src 'none'; style-src 'nonce-{nonce}'; img-src https: data:; \
                 frame-ancestors 'none'; base-uri 'none'"
            ),
        )
        .header("X-Frame-Options", "DENY")
        .header("X-Content-Type-Options", "nosniff")
        .header("Referrer-Policy", "no-referrer")
        .header("Cache-Control", "no-store")
        .body(body)
}

fn layout(tenant: Option<&TenantContext>, title: &str, main: &str, nonce: &str) -> String {
    let (name, logo, colour) = match tenant {
        Some(t) => (
            t.settings.branding.name.clone().unwrap_or_else(|| t.display_name.clone()),
            t.settings.branding.logo_url.clone(),
            t.settings.branding.primary_color.clone().unwrap_or_else(|| "#2b59c3".into()),
        ),
        None => ("Gatehouse".into(), None, "#2b59c3".into()),
    };
    let logo = logo
        .map(|l| format!(r#"<img class="logo" src="{}" alt="" width="48" height="48">"#, escape(&l)))
        .unwrap_or_default();
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · {name}</title>
<style nonce="{nonce}">
body{{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f4f5f7;color:#1d1f23;margin:0}}
main{{max-width:24rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:.75rem;box-shadow:0 1px 4px rgba(0,0,0,.12)}}
h1{{font-size:1.4rem;margin:.5rem 0 1.5rem}}
label{{display:block;font-weight:600;margin:1rem 0 .35rem}}
input[type=text],input[type=password]{{box-sizing:border-box;width:100%;padding:.7rem;font-size:1rem;border:1px solid #8a8f98;border-radius:.4rem}}
input:focus,button:focus,a:focus{{outline:3px solid {colour};outline-offset:2px}}
button,.button{{display:block;box-sizing:border-box;width:100%;margin-top:1.5rem;padding:.8rem;font-size:1rem;font-weight:600;border:0;border-radius:.4rem;background:{colour};color:#fff;text-align:center;text-decoration:none;cursor:pointer}}
.provider{{background:#fff;color:#1d1f23;border:1px solid #8a8f98;margin-top:.75rem}}
.error{{background:#fdecea;color:#8a1c14;padding:.75rem;border-radius:.4rem}}
.logo{{display:block}}
@media (max-width:30rem){{main{{margin:0;border-radius:0;box-shadow:none;min-height:100vh}}}}
</style>
</head>
<body>
<main>
{logo}<p>{name}</p>
<h1>{title}</h1>
{main}
</main>
</body>
</html>
"#,
        title = escape(title),
        name = escape(&name),
        colour = escape(&colour),
    )
}

/// A link to an external provider on the login page.
pub struct ProviderButton {
    pub href: String,
    pub label: String,
}

pub struct LoginForm<'a> {
    pub tenant: &'a TenantContext,
    pub request_id: &'a str,
    pub csrf: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
    pub providers: &'a [ProviderButton],
}

pub fn login(form: &LoginForm<'_>, nonce: &str) -> String {
    let error = form
        .error
        .map(|e| format!(r#"<p class="error" role="alert" id="error">{}</p>"#, escape(e)))
        .unwrap_or_default();
    let described = if form.error.is_some() { r#" aria-describedby="error""# } else { "" };
    let buttons: String = form
        .providers
        .iter()
        .map(|p| {
            format!(
                r#"<a class="button provider" href="{}">Continue with {}</a>"#,
                escape(&p.href),
                escape(&p.label)
            )
        })
        .collect();
    let main = format!(
        r#"{error}
<form method="POST" action="/t/{slug}/login">
<input type="hidden" name="request" value="{request}">
<input type="hidden" name="csrf" value="{csrf}">
<label for="username">Username</label>
<input type="text" id="username" name="username" value="{username}" autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus{described}>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required{described}>
<button type="submit">Sign in</button>
</form>
{buttons}"#,
        slug = escape(&form.tenant.slug),
        request = escape(form.request_id),
        csrf = escape(form.csrf),
        username = escape(form.username),
    );
    layout(Some(form.tenant), "Sign in", &main, nonce)
}

/// An error that must not be sent back to the client app (its redirect URI is not trusted).
pub fn error(tenant: Option<&TenantContext>, message: &str, nonce: &str) -> String {
    let main = format!(
        r#"<p class="error" role="alert">{}</p><p>Return to the application you came from and try again.</p>"#,
        escape(message)
    );
    layout(tenant, "Something went wrong", &main, nonce)
}

/// An error in the middle of a sign-in, with a link back to where the user can try again.
pub fn error_with_back(tenant: &TenantContext, message: &str, back: Option<&str>, nonce: &str) -> String {
    let back = match back {
        Some(href) => format!(r#"<a class="button" href="{}">Back to sign-in</a>"#, escape(href)),
        None => "<p>Return to the application you came from and try again.</p>".into(),
    };
    let main = format!(r#"<p class="error" role="alert">{}</p>{back}"#, escape(message));
    layout(Some(tenant), "Sign-in did not work", &main, nonce)
}

/// A confirmation after linking an external account.
pub fn linked(tenant: &TenantContext, provider: &str, nonce: &str) -> String {
    let main = format!("<p>Your {} account is now linked. You can close this window.</p>", escape(provider));
    layout(Some(tenant), "Account linked", &main, nonce)
}

/// Asks before signing out when the request carries no proof it came from the app.
pub fn confirm_logout(tenant: &TenantContext, form: &str, nonce: &str) -> String {
    layout(Some(tenant), "Sign out?", &format!("<p>Do you want to sign out?</p>{form}"), nonce)
}

pub fn logged_out(tenant: &TenantContext, nonce: &str) -> String {
    layout(Some(tenant), "You are signed out", "<p>You can close this window.</p>", nonce)
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_in_values_is_escaped() {
        assert_eq!(
            escape(r#"<script>"x"&'y'</script>"#),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;"
        );
    }
}
