//! Pages of the mailed account actions: the "check your inbox" page of email sign-in with its
//! code form, the confirmation a mailed link opens (only its POST acts, so mail scanners that
//! fetch links change nothing), and the notices shown afterwards.
use askama::Template;

use crate::Layout;

/// After "Email me a sign-in link": the same words whether or not the address is known.
#[derive(Template)]
#[template(path = "account/email_sent.html")]
pub struct EmailSent<'a> {
    pub layout: Layout<'a>,
    pub slug: &'a str,
    pub request_id: &'a str,
    pub csrf: &'a str,
    pub email: &'a str,
    pub valid_minutes: u64,
    pub error: Option<&'a str>,
}

impl EmailSent<'_> {
    const TITLE: &'static str = "Check your inbox";
}

/// Which confirmation a mailed link opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmKind {
    EmailSignIn,
    ChangeEmail,
    UndoEmailChange,
}

/// The page a mailed link opens: one button that posts the token back.
pub struct ConfirmAction<'a> {
    pub layout: Layout<'a>,
    pub kind: ConfirmKind,
    /// Where the form posts (the link's own path).
    pub action: &'a str,
    pub token: &'a str,
    /// The address concerned (the new one of a change, the restored one of an undo).
    pub address: &'a str,
}

macro_rules! confirm_page {
    ($name:ident, $title:literal) => {
        #[derive(Template)]
        #[template(path = "account/confirm_action.html")]
        struct $name<'a> {
            layout: Layout<'a>,
            action: &'a str,
            token: &'a str,
            message: &'a str,
            button: &'a str,
        }

        impl $name<'_> {
            const TITLE: &'static str = $title;
        }
    };
}

confirm_page!(SignInPage, "Sign in");
confirm_page!(ChangePage, "Confirm your new email address");
confirm_page!(UndoPage, "Undo the email change");

impl ConfirmAction<'_> {
    /// # Errors
    /// The template failed to render.
    pub fn render(&self) -> Result<String, crate::Error> {
        let (layout, action, token) = (self.layout, self.action, self.token);
        match self.kind {
            ConfirmKind::EmailSignIn => SignInPage {
                layout,
                action,
                token,
                message: "Continue to sign in with the link from your email.",
                button: "Sign in",
            }
            .render(),
            ConfirmKind::ChangeEmail => {
                let message = format!("Use {} as the email address of your account?", self.address);
                ChangePage { layout, action, token, message: &message, button: "Confirm new address" }
                    .render()
            }
            ConfirmKind::UndoEmailChange => {
                let message = format!(
                    "Change the email address of your account back to {}? This also signs you out everywhere.",
                    self.address
                );
                UndoPage { layout, action, token, message: &message, button: "Undo the change" }.render()
            }
        }
    }
}

/// What happened, after an account action or when it cannot go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// The new address is in place.
    EmailChanged,
    /// The old address is back and every session has ended.
    ChangeUndone,
    /// The link is used, replaced or expired.
    LinkExpired,
    /// A sign-in link opened in a browser other than the one that asked for it.
    OtherBrowser,
    /// The new address now belongs to another account.
    AddressTaken,
}

macro_rules! notice_page {
    ($name:ident, $title:literal) => {
        #[derive(Template)]
        #[template(path = "account/notice.html")]
        struct $name<'a> {
            layout: Layout<'a>,
            paragraphs: &'a [&'a str],
        }

        impl $name<'_> {
            const TITLE: &'static str = $title;
        }
    };
}

notice_page!(ChangedPage, "Your email address is changed");
notice_page!(UndonePage, "The change is undone");
notice_page!(ExpiredPage, "This link does not work any more");
notice_page!(OtherBrowserPage, "Open the link where you asked for it");
notice_page!(TakenPage, "This address cannot be used");

pub struct Notice<'a> {
    pub layout: Layout<'a>,
    pub kind: NoticeKind,
}

impl Notice<'_> {
    /// # Errors
    /// The template failed to render.
    pub fn render(&self) -> Result<String, crate::Error> {
        let layout = self.layout;
        match self.kind {
            NoticeKind::EmailChanged => {
                ChangedPage { layout, paragraphs: &["Your account uses the new address from now on."] }.render()
            }
            NoticeKind::ChangeUndone => UndonePage {
                layout,
                paragraphs: &[
                    "Your account has its old email address again, and every session has ended.",
                    "If you did not change it yourself, change your password now.",
                ],
            }
            .render(),
            NoticeKind::LinkExpired => ExpiredPage {
                layout,
                paragraphs: &[
                    "The link was already used, replaced by a newer one, or has expired.",
                    "Go back to where you started and ask for a new one.",
                ],
            }
            .render(),
            NoticeKind::OtherBrowser => OtherBrowserPage {
                layout,
                paragraphs: &[
                    "For your safety, a sign-in link only works in the browser where you asked for it, and this is another one.",
                    "Open the link in that browser, or type the code from the email there.",
                ],
            }
            .render(),
            NoticeKind::AddressTaken => TakenPage {
                layout,
                paragraphs: &[
                    "Another account here uses this address now, so yours cannot change to it.",
                    "Your email address stays as it was.",
                ],
            }
            .render(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Brand;

    #[test]
    fn account_pages_escape_and_label_their_controls() {
        let layout = Layout { brand: Brand::default(), nonce: "n" };
        let html = EmailSent {
            layout,
            slug: "acme",
            request_id: "r1",
            csrf: "c1",
            email: "<b>@x",
            valid_minutes: 15,
            error: None,
        }
        .render()
        .unwrap();
        assert!(html.contains(r#"<label for="code">Code from the email</label>"#), "{html}");
        assert!(!html.contains("<b>@x"));
        let page = ConfirmAction {
            layout,
            kind: ConfirmKind::ChangeEmail,
            action: "/t/acme/account/confirm-email",
            token: "gha_x",
            address: "<i>new@x",
        };
        let html = page.render().unwrap();
        assert!(html.contains(r#"<button type="submit">Confirm new address</button>"#), "{html}");
        assert!(!html.contains("<i>new"));
        for kind in [
            NoticeKind::EmailChanged,
            NoticeKind::ChangeUndone,
            NoticeKind::LinkExpired,
            NoticeKind::OtherBrowser,
            NoticeKind::AddressTaken,
        ] {
            assert!(Notice { layout, kind }.render().unwrap().contains("<h1>"));
        }
    }
}
