//! Gatehouse's HTML pages: askama templates (auto-escaping, checked at compile time) on one
//! layout (`templates/base.html`) and one stylesheet (`static/gatehouse.css`). Plain data in,
//! HTML out: this crate knows nothing of the service, so a template edit rebuilds only it.
use askama::Template;

pub use askama::Error;

mod account;
mod mail;
pub use account::{
    CheckInbox, ConfirmEmail, EmailVerified, ForgotPassword, LinkInvalid, PasswordChanged, ResetPassword,
};
pub use mail::{Mail, MailKind, MailVars, RenderedMail, duration as validity_phrase};
mod second_factor;
pub use second_factor::{EnrolPasskey, EnrolTotp, RecoveryCodes, SecondFactor, StepForm};
mod email_pages;
pub use email_pages::{ConfirmAction, ConfirmKind, EmailSent, Notice, NoticeKind};
mod panel;
pub use panel::{Block, Cell, Field, Form, Link, Panel, Section};

/// The shared stylesheet, served by the web face at [`STYLESHEET_PATH`].
pub const STYLESHEET: &str = include_str!("../static/gatehouse.css");

/// Where pages link the stylesheet; a same-origin URL, so the CSP needs only `style-src 'self'`.
pub const STYLESHEET_PATH: &str = "/assets/gatehouse.css";

/// A hash of the stylesheet, added to its URL so browsers fetch it again after it changes.
pub const STYLESHEET_VERSION: u64 = fnv1a(STYLESHEET.as_bytes());

/// The one script of the hosted pages: passkeys (WebAuthn), a progressive enhancement. Served
/// from [`PASSKEY_SCRIPT_PATH`] under `script-src 'self'`; no page has inline script.
pub const PASSKEY_SCRIPT: &str = include_str!("../static/passkey.js");

/// Where pages load the passkey script.
pub const PASSKEY_SCRIPT_PATH: &str = "/assets/passkey.js";

/// A hash of the script for its URL, as for the stylesheet.
pub const PASSKEY_SCRIPT_VERSION: u64 = fnv1a(PASSKEY_SCRIPT.as_bytes());

const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

/// How a page presents the tenant (or Gatehouse itself when there is none).
#[derive(Debug, Clone, Copy)]
pub struct Brand<'a> {
    pub name: &'a str,
    /// An https URL or a small `data:image/...;base64,` URL (checked when the tenant is saved).
    pub logo_url: Option<&'a str>,
    /// `#rrggbb` (checked when the tenant is saved); set as the `--brand` custom property.
    pub colour: &'a str,
}

/// The page's own text colour, for focus rings on brand colours too light to see.
const PAGE_TEXT: &str = "#1d1f23";

impl Brand<'_> {
    /// The text colour on the brand colour (`--brand-text`, the buttons): white where it
    /// reaches the WCAG AA contrast of 4.5:1, else black, which then always does.
    pub fn text_colour(&self) -> &'static str {
        let brand = luminance(self.colour).unwrap_or(0.0);
        if contrast(1.0, brand) >= 4.5 { "#ffffff" } else { "#000000" }
    }

    /// The focus ring (`--brand-ring`): the brand colour where it has the 3:1 contrast WCAG asks
    /// of user-interface components against the white card, else the page's text colour.
    pub fn ring_colour(&self) -> &str {
        match luminance(self.colour) {
            Some(brand) if contrast(1.0, brand) >= 3.0 => self.colour,
            _ => PAGE_TEXT,
        }
    }
}

/// WCAG relative luminance of `#rrggbb`.
fn luminance(colour: &str) -> Option<f64> {
    let hex = colour.strip_prefix('#').filter(|h| h.len() == 6)?;
    let channel = |i: usize| -> Option<f64> {
        let c = f64::from(u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()?) / 255.0;
        Some(if c <= 0.039_28 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) })
    };
    Some(0.2126 * channel(0)? + 0.7152 * channel(2)? + 0.0722 * channel(4)?)
}

/// WCAG contrast ratio of two relative luminances.
fn contrast(a: f64, b: f64) -> f64 {
    (a.max(b) + 0.05) / (a.min(b) + 0.05)
}

impl Default for Brand<'_> {
    fn default() -> Self {
        Self { name: "Gatehouse", logo_url: None, colour: DEFAULT_COLOUR }
    }
}

/// The brand colour when a tenant sets none.
pub const DEFAULT_COLOUR: &str = "#2b59c3";

/// What the layout needs besides the page: the brand and this response's CSP nonce, which
/// admits the one `<style>` element that carries the brand colour.
#[derive(Debug, Clone, Copy)]
pub struct Layout<'a> {
    pub brand: Brand<'a>,
    pub nonce: &'a str,
}

/// A link to an external provider on the sign-in page.
#[derive(Debug, Clone)]
pub struct ProviderButton {
    pub href: String,
    pub label: String,
}

/// The hosted sign-in form.
#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignIn<'a> {
    pub layout: Layout<'a>,
    pub slug: &'a str,
    pub request_id: &'a str,
    pub csrf: &'a str,
    /// Echoed back after a failed attempt.
    pub username: &'a str,
    pub error: Option<&'a str>,
    pub providers: &'a [ProviderButton],
    /// Offer "Email me a sign-in link" (the tenant enabled the `email` strategy).
    pub email_sign_in: bool,
    /// Whether the tenant allows passkeys: the username field offers them as autofill
    /// (`autocomplete="username webauthn"`) and a passkey button is revealed by its script.
    pub passkey: bool,
}

impl SignIn<'_> {
    const TITLE: &'static str = "Sign in";

    fn username_autocomplete(&self) -> &'static str {
        if self.passkey { "username webauthn" } else { "username" }
    }

    /// The fields point at the error message, when there is one.
    fn described_by(&self) -> &'static str {
        if self.error.is_some() { "error" } else { "" }
    }
}

/// An error that must not be sent back to the client app (its redirect URI is not trusted).
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub layout: Layout<'a>,
    pub message: &'a str,
}

impl ErrorPage<'_> {
    const TITLE: &'static str = "Something went wrong";
}

/// An error in the middle of a sign-in, with a link back to where the user can try again.
#[derive(Template)]
#[template(path = "sign_in_error.html")]
pub struct SignInError<'a> {
    pub layout: Layout<'a>,
    pub message: &'a str,
    pub back: Option<&'a str>,
}

impl SignInError<'_> {
    const TITLE: &'static str = "Sign-in did not work";
}

/// A confirmation after linking an external account.
#[derive(Template)]
#[template(path = "linked.html")]
pub struct Linked<'a> {
    pub layout: Layout<'a>,
    pub provider: &'a str,
}

impl Linked<'_> {
    const TITLE: &'static str = "Account linked";
}

/// Asks before signing out when the request carries no proof it came from the app.
#[derive(Template)]
#[template(path = "confirm_sign_out.html")]
pub struct ConfirmSignOut<'a> {
    pub layout: Layout<'a>,
    pub slug: &'a str,
    /// Parameters carried through the confirmation, as hidden fields.
    pub keep: &'a [(&'a str, &'a str)],
}

impl ConfirmSignOut<'_> {
    const TITLE: &'static str = "Sign out?";
}

/// After a sign-out with no registered place to return to.
#[derive(Template)]
#[template(path = "signed_out.html")]
pub struct SignedOut<'a> {
    pub layout: Layout<'a>,
}

impl SignedOut<'_> {
    const TITLE: &'static str = "You are signed out";
}

/// What `/` shows a browser: what this server is and where to start.
#[derive(Template)]
#[template(path = "landing.html")]
pub struct Landing<'a> {
    pub layout: Layout<'a>,
    pub default_tenant: &'a str,
    /// The default tenant's discovery document (a same-origin path).
    pub discovery: &'a str,
    pub jwks: &'a str,
}

impl Landing<'_> {
    const TITLE: &'static str = "Gatehouse is running";
}

/// Renders a page to a string.
///
/// # Errors
/// Only if writing a value fails, which plain strings never do.
pub fn render(page: &impl Template) -> Result<String, Error> {
    page.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = r#"<script>"x"&'y'</script>"#;

    fn layout(brand: Brand<'_>) -> Layout<'_> {
        Layout { brand, nonce: "n0nce" }
    }

    fn sign_in<'a>(error: Option<&'a str>, providers: &'a [ProviderButton]) -> SignIn<'a> {
        SignIn {
            layout: layout(Brand::default()),
            slug: "acme",
            request_id: "r1",
            csrf: "c1",
            username: "ann",
            error,
            providers,
            email_sign_in: false,
            passkey: false,
        }
    }

    #[test]
    fn markup_in_values_is_escaped() {
        let buttons = [ProviderButton { href: HOSTILE.into(), label: HOSTILE.into() }];
        let brand = Brand { name: HOSTILE, logo_url: Some(HOSTILE), colour: HOSTILE };
        let page = SignIn { layout: layout(brand), username: HOSTILE, ..sign_in(Some(HOSTILE), &buttons) };
        let html = render(&page).unwrap();
        assert!(!html.contains("<script>") && !html.contains(r#""x""#), "{html}");
        assert!(html.contains("&#60;script&#62;&#34;x&#34;&#38;&#39;y&#39;&#60;/script&#62;"), "{html}");
        let keep = [(HOSTILE, HOSTILE)];
        let confirm = ConfirmSignOut { layout: layout(Brand::default()), slug: HOSTILE, keep: &keep };
        let linked = Linked { layout: layout(Brand::default()), provider: HOSTILE };
        let error = SignInError { layout: layout(Brand::default()), message: HOSTILE, back: Some(HOSTILE) };
        for html in [render(&confirm), render(&linked), render(&error)] {
            assert!(!html.unwrap().contains("<script>"));
        }
    }

    #[test]
    fn the_sign_in_form_keeps_its_names_and_labels() {
        let buttons =
            [ProviderButton { href: "/t/acme/auth/corp/start?request=r1".into(), label: "Corp".into() }];
        let html = render(&sign_in(None, &buttons)).unwrap();
        for part in [
            "<title>Sign in · Gatehouse</title>",
            r#"<form method="POST" action="/t/acme/login">"#,
            r#"name="request" value="r1""#,
            r#"name="csrf" value="c1""#,
            r#"<label for="username">Username</label>"#,
            r#"<input type="text" id="username" name="username" value="ann" autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus>"#,
            r#"<input type="password" id="password" name="password" autocomplete="current-password" required>"#,
            r#"<button type="submit">Sign in</button>"#,
            r#"<a class="button provider" href="/t/acme/auth/corp/start?request=r1">Continue with Corp</a>"#,
        ] {
            assert!(html.contains(part), "{part} missing from\n{html}");
        }
        assert!(!html.contains("role=\"alert\"") && !html.contains("aria-describedby"));
        assert!(!html.contains("<script"), "no script without passkeys");
        let html = render(&SignIn { passkey: true, ..sign_in(None, &buttons) }).unwrap();
        assert!(html.contains(r#"autocomplete="username webauthn""#), "{html}");
        assert!(html.contains(r#"action="/t/acme/login/passkey" class="passkey" data-passkey="sign-in""#));
        assert!(html.contains(r#"<input type="hidden" name="request" value="r1">"#));
    }

    #[test]
    fn an_error_is_announced_and_described() {
        let html = render(&sign_in(Some("Invalid username or password."), &[])).unwrap();
        assert!(
            html.contains(r#"<p class="error" role="alert" id="error">Invalid username or password.</p>"#)
        );
        assert_eq!(html.matches(r#"aria-describedby="error""#).count(), 2, "{html}");
    }

    #[test]
    fn the_brand_reaches_the_layout_through_the_nonce_style_only() {
        let brand = Brand { name: "Acme", logo_url: Some("https://acme.example/l.png"), colour: "#0a0b0c" };
        let html = render(&SignedOut { layout: layout(brand) }).unwrap();
        assert!(
            html.contains(r#"<style nonce="n0nce">:root{--brand:#0a0b0c;--brand-text:#ffffff;--brand-ring:#0a0b0c}</style>"#),
            "{html}"
        );
        assert!(html.contains(
            r#"<img class="logo" src="https://acme.example/l.png" alt="" width="48" height="48"><p>Acme</p>"#
        ));
        assert!(html.contains(&format!(
            r#"<link rel="stylesheet" href="/assets/gatehouse.css?v={STYLESHEET_VERSION}">"#
        )));
        assert!(!html.contains(" style="), "no inline style attributes");
    }

    #[test]
    fn text_on_the_brand_colour_is_black_or_white_whichever_reads() {
        fn brand(colour: &str) -> Brand<'_> {
            Brand { colour, ..Brand::default() }
        }
        for (colour, text, ring) in [
            ("#2b59c3", "#ffffff", "#2b59c3"),
            ("#ffe14d", "#000000", PAGE_TEXT),
            ("#ffffff", "#000000", PAGE_TEXT),
            ("#000000", "#ffffff", "#000000"),
            // Mid grey: white gives 3.9:1, black 5.3:1.
            ("#808080", "#000000", "#808080"),
        ] {
            assert_eq!((brand(colour).text_colour(), brand(colour).ring_colour()), (text, ring), "{colour}");
        }
        let chosen = |c: &str| if brand(c).text_colour() == "#ffffff" { 1.0 } else { 0.0 };
        for c in ["#767676", "#777777", "#ff0000", "#00ff00", "#0000ff", "#e0e0e0"] {
            let ratio = contrast(chosen(c), luminance(c).unwrap());
            assert!(ratio >= 4.5, "{c}: {ratio}");
        }
    }

    #[test]
    fn every_page_renders_its_title() {
        let l = layout(Brand::default());
        let keep = [("state", "s9")];
        for (html, title) in [
            (render(&ErrorPage { layout: l, message: "m" }), "Something went wrong"),
            (render(&SignInError { layout: l, message: "m", back: None }), "Sign-in did not work"),
            (render(&Linked { layout: l, provider: "Corp" }), "Account linked"),
            (render(&ConfirmSignOut { layout: l, slug: "acme", keep: &keep }), "Sign out?"),
            (render(&SignedOut { layout: l }), "You are signed out"),
            (
                render(&Landing { layout: l, default_tenant: "default", discovery: "/d", jwks: "/j" }),
                "Gatehouse is running",
            ),
        ] {
            let html = html.unwrap();
            assert!(html.contains(&format!("<title>{title} · Gatehouse</title>")), "{html}");
            assert!(html.contains(&format!("<h1>{title}</h1>")), "{html}");
        }
    }
}
