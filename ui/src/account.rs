//! The account-recovery pages: forgot password, the reset form (from a link or with a code),
//! email confirmation, and "check your inbox" when a tenant requires a verified address.
use askama::Template;

use crate::Layout;

/// Asks for the address to send a reset link to.
#[derive(Template)]
#[template(path = "forgot_password.html")]
pub struct ForgotPassword<'a> {
    pub layout: Layout<'a>,
    pub slug: &'a str,
    pub csrf: &'a str,
    /// The pending sign-in to return to, or empty.
    pub request: &'a str,
    pub email: &'a str,
    pub error: Option<&'a str>,
}

impl ForgotPassword<'_> {
    const TITLE: &'static str = "Forgot your password?";

    fn described_by(&self) -> &'static str {
        if self.error.is_some() { "error" } else { "" }
    }
}

/// The new-password form: with the link's token (hidden), or asking for the address and code.
#[derive(Template)]
#[template(path = "reset_password.html")]
pub struct ResetPassword<'a> {
    pub layout: Layout<'a>,
    pub slug: &'a str,
    pub csrf: &'a str,
    pub request: &'a str,
    pub token: Option<&'a str>,
    pub email: &'a str,
    /// Just after asking for a mail: say that one may be on its way.
    pub sent: bool,
    pub error: Option<&'a str>,
}

impl ResetPassword<'_> {
    const TITLE: &'static str = "Choose a new password";

    fn described_by(&self) -> &'static str {
        if self.error.is_some() { "error" } else { "" }
    }
}

#[derive(Template)]
#[template(path = "password_changed.html")]
pub struct PasswordChanged<'a> {
    pub layout: Layout<'a>,
    pub sessions_ended: bool,
    /// The sign-in form to return to.
    pub back: Option<&'a str>,
}

impl PasswordChanged<'_> {
    const TITLE: &'static str = "Password changed";
}

/// What a verification link opens: a button, so that fetching the link spends nothing.
#[derive(Template)]
#[template(path = "confirm_email.html")]
pub struct ConfirmEmail<'a> {
    pub layout: Layout<'a>,
    pub slug: &'a str,
    pub csrf: &'a str,
    pub token: &'a str,
}

impl ConfirmEmail<'_> {
    const TITLE: &'static str = "Confirm your email address";
}

/// The tenant requires a verified address: enter the code, or ask for a new mail.
#[derive(Template)]
#[template(path = "check_inbox.html")]
pub struct CheckInbox<'a> {
    pub layout: Layout<'a>,
    pub slug: &'a str,
    pub csrf: &'a str,
    /// The pending sign-in (enables "Send a new email"), or empty.
    pub request: &'a str,
    pub notice: &'a str,
    pub error: Option<&'a str>,
}

impl CheckInbox<'_> {
    const TITLE: &'static str = "Check your inbox";

    fn described_by(&self) -> &'static str {
        if self.error.is_some() { "error" } else { "" }
    }
}

#[derive(Template)]
#[template(path = "email_verified.html")]
pub struct EmailVerified<'a> {
    pub layout: Layout<'a>,
    pub back: Option<&'a str>,
}

impl EmailVerified<'_> {
    const TITLE: &'static str = "Email address confirmed";
}

/// A link that is unknown, expired, used or replaced, with the way to a new one.
#[derive(Template)]
#[template(path = "link_invalid.html")]
pub struct LinkInvalid<'a> {
    pub layout: Layout<'a>,
    pub message: &'a str,
    pub again: &'a str,
    pub again_label: &'a str,
}

impl LinkInvalid<'_> {
    const TITLE: &'static str = "This link does not work";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Brand, render};

    fn layout() -> Layout<'static> {
        Layout { brand: Brand::default(), nonce: "n" }
    }

    #[test]
    fn a_reset_link_page_keeps_the_token_hidden_and_asks_only_for_the_password() {
        let page = ResetPassword {
            layout: layout(),
            slug: "acme",
            csrf: "c1",
            request: "",
            token: Some("gha_<x>"),
            email: "",
            sent: false,
            error: None,
        };
        let html = render(&page).unwrap();
        assert!(html.contains(r#"<input type="hidden" name="token" value="gha_&#60;x&#62;">"#), "{html}");
        assert!(html.contains(r#"<label for="password">New password</label>"#));
        assert!(html.contains(r#"autocomplete="new-password""#));
        assert!(!html.contains(r#"name="code""#));
    }

    #[test]
    fn the_code_form_asks_for_address_and_code() {
        let page = ResetPassword {
            layout: layout(),
            slug: "acme",
            csrf: "c1",
            request: "r1",
            token: None,
            email: "ann@example.com",
            sent: true,
            error: None,
        };
        let html = render(&page).unwrap();
        assert!(html.contains(r#"value="ann@example.com""#) && html.contains(r#"role="status""#));
        assert!(html.contains(r#"<label for="code">Code from the email</label>"#));
    }

    #[test]
    fn every_account_page_renders_its_title() {
        let l = layout();
        for (html, title) in [
            (
                render(&ForgotPassword {
                    layout: l,
                    slug: "a",
                    csrf: "c",
                    request: "r",
                    email: "",
                    error: None,
                }),
                "Forgot your password?",
            ),
            (render(&PasswordChanged { layout: l, sessions_ended: true, back: None }), "Password changed"),
            (
                render(&ConfirmEmail { layout: l, slug: "a", csrf: "c", token: "t" }),
                "Confirm your email address",
            ),
            (
                render(&CheckInbox {
                    layout: l,
                    slug: "a",
                    csrf: "c",
                    request: "r",
                    notice: "n",
                    error: None,
                }),
                "Check your inbox",
            ),
            (render(&EmailVerified { layout: l, back: Some("/b") }), "Email address confirmed"),
            (
                render(&LinkInvalid { layout: l, message: "m", again: "/a", again_label: "Again" }),
                "This link does not work",
            ),
        ] {
            let html = html.unwrap();
            assert!(html.contains(&format!("<h1>{title}</h1>")), "{html}");
        }
    }
}
