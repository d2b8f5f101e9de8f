//! Transactional mail: the wording of each kind ([`MailKind`]) and the two templates
//! (`templates/mail/action.{html,txt}`) it is poured into. Plain text in; askama escapes the
//! HTML part, so a username or address can never become markup.
use askama::Template;

use crate::Error;

/// What a mail is for. The first five carry a single-use link and code; the notices do not
/// (or carry an undo link).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// Confirm the address given at registration (or asked for again).
    VerifyEmail,
    /// Choose a new password.
    ResetPassword,
    /// Confirm a new address before it replaces the old one (sent to the new address).
    ChangeEmail,
    /// Sign in without a password.
    EmailSignIn,
    /// Sent to the old address after a change, with a link that undoes it.
    UndoEmailChange,
    /// The password was changed (by a reset): no link, only a warning.
    PasswordChanged,
    /// A recovery code was used to sign in: no link, only a warning.
    RecoveryCodeUsed,
    /// An administrator removed the account's second factors.
    SecondFactorsReset,
    /// A new sign-in method (authenticator app, passkey) was added to the account.
    SignInMethodAdded,
}

/// What a mail says about its recipient and its secret.
#[derive(Debug, Clone, Copy)]
pub struct MailVars<'a> {
    /// The tenant's brand name.
    pub tenant: &'a str,
    /// `#rrggbb`.
    pub colour: &'a str,
    pub username: &'a str,
    /// The single-use link, built from the configured public URL.
    pub link: Option<&'a str>,
    pub code: Option<&'a str>,
    /// How long the link and code work.
    pub valid_minutes: u64,
    /// The other address of an email change (the new one, in [`MailKind::UndoEmailChange`]
    /// and [`MailKind::ChangeEmail`]).
    pub address: Option<&'a str>,
}

/// A rendered mail: subject, plain text and HTML.
#[derive(Debug, Clone)]
pub struct RenderedMail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A validity phrase: "30 minutes", "24 hours", "1 minute" (also offered to tenant templates).
pub fn duration(minutes: u64) -> String {
    match minutes {
        1 => "1 minute".into(),
        m if m >= 120 && m % 60 == 0 => format!("{} hours", m / 60),
        60 => "1 hour".into(),
        m => format!("{m} minutes"),
    }
}

impl MailKind {
    /// Renders the mail of this kind.
    ///
    /// # Errors
    /// A template failed to render (not expected: they are checked at compile time).
    pub fn render(self, v: &MailVars<'_>) -> Result<RenderedMail, Error> {
        let valid = duration(v.valid_minutes);
        let address = v.address.unwrap_or_default();
        let ignore = "If you did not ask for this, you can ignore this message.".to_string();
        let (subject, heading, paragraphs, label, footer): (String, &str, Vec<String>, &str, String) = match self {
            Self::VerifyEmail => (
                format!("Confirm your email address for {}", v.tenant),
                "Confirm your email address",
                vec![
                    format!("Hello {}, please confirm that this address belongs to you.", v.username),
                    format!("The link and the code work once, for {valid}."),
                ],
                "Confirm email address",
                ignore,
            ),
            Self::ResetPassword => (
                format!("Reset your {} password", v.tenant),
                "Reset your password",
                vec![
                    format!("Someone asked to reset the password of the account {}.", v.username),
                    format!("The link and the code work once, for {valid}. Your password stays as it is until you choose a new one."),
                ],
                "Choose a new password",
                ignore,
            ),
            Self::ChangeEmail => (
                format!("Confirm your new email address for {}", v.tenant),
                "Confirm your new email address",
                vec![
                    format!("Hello {}, please confirm that {address} is your new address.", v.username),
                    format!("Your address changes only when you confirm. The link and the code work once, for {valid}."),
                ],
                "Confirm new address",
                ignore,
            ),
            Self::EmailSignIn => (
                format!("Sign in to {}", v.tenant),
                "Sign in",
                vec![
                    format!("Hello {}, use this link or code to sign in.", v.username),
                    format!("They work once, for {valid}, and only in the browser where you asked for them."),
                ],
                "Sign in",
                "If you did not try to sign in, you can ignore this message; nobody can sign in without it.".into(),
            ),
            Self::UndoEmailChange => (
                format!("Your {} email address was changed", v.tenant),
                "Your email address was changed",
                vec![
                    format!("The address of the account {} was changed to {address}.", v.username),
                    format!("If you did not do this, undo the change within {valid} and change your password."),
                ],
                "Undo the change",
                "If you made this change, you can ignore this message.".into(),
            ),
            Self::PasswordChanged => (
                format!("Your {} password was changed", v.tenant),
                "Your password was changed",
                vec![format!("The password of the account {} was just changed.", v.username)],
                "",
                "If you did not do this, reset your password at once and contact your administrator.".into(),
            ),
            Self::RecoveryCodeUsed => (
                format!("A recovery code was used to sign in to {}", v.tenant),
                "A recovery code was used",
                vec![
                    format!("A recovery code of the account {} was just used to sign in.", v.username),
                    "Each code works once. If you lost your authenticator, set up a new one and get new recovery codes.".into(),
                ],
                "",
                "If you did not do this, change your password at once and contact your administrator.".into(),
            ),
            Self::SecondFactorsReset => (
                format!("Your {} second factors were removed", v.tenant),
                "Your second factors were removed",
                vec![
                    format!("An administrator removed the authenticator apps, passkeys and recovery codes of the account {}.", v.username),
                    "You may be asked to set up a second factor again at your next sign-in.".into(),
                ],
                "",
                "If you did not ask for this, contact your administrator.".into(),
            ),
            Self::SignInMethodAdded => (
                format!("A new sign-in method was added to your {} account", v.tenant),
                "A new sign-in method was added",
                vec![format!("A new authenticator app or passkey was just added to the account {}.", v.username)],
                "",
                "If you did not do this, remove it, change your password at once and contact your administrator.".into(),
            ),
        };
        let paragraphs: Vec<&str> = paragraphs.iter().map(String::as_str).collect();
        let (text, html) = Mail {
            tenant: v.tenant,
            colour: v.colour,
            subject: &subject,
            heading,
            paragraphs: &paragraphs,
            action_url: v.link,
            action_label: label,
            code: v.code,
            footer: &footer,
        }
        .render()?;
        Ok(RenderedMail { subject, text, html })
    }
}

/// The body of a transactional mail (verification, password reset, notices), rendered both as
/// HTML (auto-escaped) and as plain text, branded with the tenant's name and colour.
pub struct Mail<'a> {
    pub tenant: &'a str,
    /// `#rrggbb` (checked when the tenant is saved).
    pub colour: &'a str,
    pub subject: &'a str,
    pub heading: &'a str,
    pub paragraphs: &'a [&'a str],
    /// The link to follow, built from the configured public URL.
    pub action_url: Option<&'a str>,
    pub action_label: &'a str,
    /// A short code to type instead of following the link.
    pub code: Option<&'a str>,
    pub footer: &'a str,
}

#[derive(Template)]
#[template(path = "mail/action.html")]
struct MailHtml<'a> {
    tenant: &'a str,
    colour: &'a str,
    subject: &'a str,
    heading: &'a str,
    paragraphs: &'a [&'a str],
    action_url: Option<&'a str>,
    action_label: &'a str,
    code: Option<&'a str>,
    footer: &'a str,
}

#[derive(Template)]
#[template(path = "mail/action.txt")]
struct MailText<'a> {
    tenant: &'a str,
    heading: &'a str,
    paragraphs: &'a [&'a str],
    action_url: Option<&'a str>,
    action_label: &'a str,
    code: Option<&'a str>,
    footer: &'a str,
}

impl Mail<'_> {
    /// `(text, html)`.
    ///
    /// # Errors
    /// A template failed to render (not expected: the templates are checked at compile time).
    pub fn render(&self) -> Result<(String, String), Error> {
        let text = MailText {
            tenant: self.tenant,
            heading: self.heading,
            paragraphs: self.paragraphs,
            action_url: self.action_url,
            action_label: self.action_label,
            code: self.code,
            footer: self.footer,
        }
        .render()?;
        let html = MailHtml {
            tenant: self.tenant,
            colour: self.colour,
            subject: self.subject,
            heading: self.heading,
            paragraphs: self.paragraphs,
            action_url: self.action_url,
            action_label: self.action_label,
            code: self.code,
            footer: self.footer,
        }
        .render()?;
        Ok((text, html))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(link: Option<&'a str>, code: Option<&'a str>) -> MailVars<'a> {
        MailVars {
            tenant: "Acme <b>",
            colour: "#2b59c3",
            username: "<script>ann</script>",
            link,
            code,
            valid_minutes: 30,
            address: Some("new@example.com"),
        }
    }

    #[test]
    fn a_reset_mail_carries_the_link_and_code_in_both_parts_and_escapes_html() {
        let m = MailKind::ResetPassword
            .render(&vars(Some("https://id.example/t/acme/account/reset?token=abc&x=1"), Some("1234 5678")))
            .unwrap();
        assert_eq!(m.subject, "Reset your Acme <b> password");
        assert!(m.text.contains("https://id.example/t/acme/account/reset?token=abc&x=1"), "{}", m.text);
        assert!(m.text.contains("1234 5678") && m.text.contains("30 minutes"));
        assert!(m.html.contains("token=abc&#38;x=1") && m.html.contains("1234 5678"), "{}", m.html);
        assert!(!m.html.contains("<script>") && !m.html.contains("Acme <b>"));
    }

    #[test]
    fn a_notice_has_no_link_and_every_kind_renders() {
        let m = MailKind::PasswordChanged.render(&vars(None, None)).unwrap();
        assert!(!m.html.contains("<a ") && !m.text.contains("Or enter this code"));
        for kind in
            [MailKind::VerifyEmail, MailKind::ChangeEmail, MailKind::EmailSignIn, MailKind::UndoEmailChange]
        {
            let m = kind.render(&vars(Some("https://x/"), Some("1"))).unwrap();
            assert!(m.html.contains("https://x/") && !m.subject.is_empty(), "{kind:?}");
        }
        assert_eq!(duration(1440), "24 hours");
    }
}
