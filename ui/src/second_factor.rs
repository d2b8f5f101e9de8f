//! The pages of the hosted second step: the code prompt, enrolling an authenticator app, and
//! the recovery codes shown once after it.
use askama::Template;

use crate::Layout;

/// What every second-step form carries: the tenant, the challenge and the CSRF token.
#[derive(Debug, Clone, Copy)]
pub struct StepForm<'a> {
    pub slug: &'a str,
    /// The challenge token (`ghm_...`), a hidden field.
    pub challenge: &'a str,
    pub csrf: &'a str,
}

/// Asks for a code from the authenticator app, or a recovery code.
#[derive(Template)]
#[template(path = "second_factor.html")]
pub struct SecondFactor<'a> {
    pub layout: Layout<'a>,
    pub form: StepForm<'a>,
    /// Whether recovery codes are accepted too (the hint says so).
    pub recovery_codes: bool,
    /// Whether the code form shows (an app or recovery codes can answer).
    pub codes: bool,
    /// Whether a passkey can answer (the passkey form, revealed by its script).
    pub passkey: bool,
    /// Days a ticked "Remember this device" skips this step (0: the box is not offered).
    pub remember_days: u32,
    pub error: Option<&'a str>,
}

impl SecondFactor<'_> {
    const TITLE: &'static str = "Two-step verification";

    fn described_by(&self) -> &'static str {
        if self.error.is_some() { "code-hint error" } else { "code-hint" }
    }
}

/// Enrolling an authenticator app: the QR code, the key to type instead, and the first code.
#[derive(Template)]
#[template(path = "enrol_totp.html")]
pub struct EnrolTotp<'a> {
    pub layout: Layout<'a>,
    pub form: StepForm<'a>,
    /// The QR code as a `data:image/svg+xml` URL.
    pub qr: &'a str,
    /// The secret in base32, grouped for reading.
    pub secret: &'a str,
    /// Whether a passkey may be enrolled instead.
    pub passkey: bool,
    pub error: Option<&'a str>,
}

impl EnrolTotp<'_> {
    const TITLE: &'static str = "Set up two-step verification";

    fn described_by(&self) -> &'static str {
        if self.error.is_some() { "code-hint error" } else { "code-hint" }
    }
}

/// Enrolling a passkey where the tenant allows no authenticator app.
#[derive(Template)]
#[template(path = "enrol_passkey.html")]
pub struct EnrolPasskey<'a> {
    pub layout: Layout<'a>,
    pub form: StepForm<'a>,
    pub error: Option<&'a str>,
}

impl EnrolPasskey<'_> {
    const TITLE: &'static str = "Set up a passkey";
}

/// The new recovery codes, shown this once, and the way on.
#[derive(Template)]
#[template(path = "recovery_codes.html")]
pub struct RecoveryCodes<'a> {
    pub layout: Layout<'a>,
    pub form: StepForm<'a>,
    pub codes: &'a [String],
}

impl RecoveryCodes<'_> {
    const TITLE: &'static str = "Save your recovery codes";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Brand, render};

    const FORM: StepForm<'static> = StepForm { slug: "acme", challenge: "ghm_c", csrf: "c1" };

    fn layout() -> Layout<'static> {
        Layout { brand: Brand::default(), nonce: "n" }
    }

    #[test]
    fn the_code_prompt_is_labelled_and_describes_its_hint_and_error() {
        let html = render(&SecondFactor {
            layout: layout(),
            form: FORM,
            recovery_codes: true,
            codes: true,
            passkey: false,
            remember_days: 30,
            error: Some("<b>"),
        })
        .unwrap();
        for part in [
            r#"<form method="POST" action="/t/acme/login/second-factor">"#,
            r#"name="challenge" value="ghm_c""#,
            r#"<label for="code">Verification code</label>"#,
            r#"autocomplete="one-time-code""#,
            r#"aria-describedby="code-hint error""#,
            "recovery codes",
            "&#60;b&#62;",
            r#"<input type="checkbox" id="remember" name="remember" value="yes">"#,
            "Remember this device for 30 days",
        ] {
            assert!(html.contains(part), "{part} missing from\n{html}");
        }
    }

    #[test]
    fn enrolment_shows_the_qr_code_and_the_key_and_codes_are_listed() {
        let html = render(&EnrolTotp {
            layout: layout(),
            form: FORM,
            qr: "data:image/svg+xml;base64,PHN2Zz4=",
            secret: "ABCD EFGH",
            passkey: false,
            error: None,
        })
        .unwrap();
        assert!(html.contains(r#"<img class="qr" src="data:image/svg+xml;base64,PHN2Zz4=""#), "{html}");
        assert!(html.contains("ABCD EFGH") && html.contains(r#"action="/t/acme/login/enrol""#));
        let codes = ["abcde-fghjk".to_string()];
        let html = render(&RecoveryCodes { layout: layout(), form: FORM, codes: &codes }).unwrap();
        assert!(
            html.contains("<li><code>abcde-fghjk</code></li>")
                && html.contains(r#"action="/t/acme/login/continue""#)
        );
    }

    #[test]
    fn passkey_forms_are_hidden_until_the_script_and_carry_the_challenge() {
        let html = render(&SecondFactor {
            layout: layout(),
            form: FORM,
            recovery_codes: false,
            codes: false,
            passkey: true,
            remember_days: 0,
            error: None,
        })
        .unwrap();
        for part in [
            r#"<form method="POST" action="/t/acme/login/passkey/verify" class="passkey" data-passkey="verify" data-options="/t/acme/login/passkey/options" hidden>"#,
            r#"<input type="hidden" name="challenge" value="ghm_c">"#,
            r#"<button type="button">Use a passkey</button>"#,
            r#"<script type="module" src="/assets/passkey.js?v="#,
        ] {
            assert!(html.contains(part), "{part} missing from\n{html}");
        }
        assert!(!html.contains("Verification code"), "no code form without codes");
        let html = render(&EnrolPasskey { layout: layout(), form: FORM, error: None }).unwrap();
        assert!(html.contains(r#"data-passkey="enrol""#) && html.contains("<h1>Set up a passkey</h1>"));
    }
}
