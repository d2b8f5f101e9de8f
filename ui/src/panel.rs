//! The account page and the console: one wide page built from plain blocks (facts, tables,
//! forms, lists), so every control of both faces is labelled the same way and every form
//! carries its CSRF token without each page repeating the markup.
use askama::Template;

use crate::Layout;

/// A link in the page's navigation or in a list.
#[derive(Debug, Clone, Default)]
pub struct Link {
    pub href: String,
    pub label: String,
    /// The page being shown (`aria-current="page"`).
    pub current: bool,
}

impl Link {
    pub fn new(href: impl Into<String>, label: impl Into<String>) -> Self {
        Self { href: href.into(), label: label.into(), current: false }
    }
}

/// A control of a form. Ids are `{form id}-{name}`, so a page may repeat a form.
#[derive(Debug, Clone)]
pub enum Field {
    Hidden {
        name: String,
        value: String,
    },
    /// `kind`: `text`, `email`, `password`, `url`, `search`, `number`.
    Input {
        name: String,
        label: String,
        kind: String,
        value: String,
        required: bool,
        autocomplete: String,
        hint: String,
    },
    Checkbox {
        name: String,
        label: String,
        checked: bool,
    },
    /// Options as (value, label).
    Select {
        name: String,
        label: String,
        options: Vec<(String, String)>,
        selected: String,
    },
    /// One value a line.
    Textarea {
        name: String,
        label: String,
        value: String,
        hint: String,
    },
}

impl Field {
    pub fn hidden(name: &str, value: impl Into<String>) -> Self {
        Self::Hidden { name: name.into(), value: value.into() }
    }

    pub fn input(name: &str, label: &str, kind: &str, value: impl Into<String>, required: bool) -> Self {
        let autocomplete = if kind == "password" { "new-password" } else { "off" };
        Self::Input {
            name: name.into(),
            label: label.into(),
            kind: kind.into(),
            value: value.into(),
            required,
            autocomplete: autocomplete.into(),
            hint: String::new(),
        }
    }

    /// The same field with `autocomplete` (for `current-password`, `username`, ...).
    #[must_use]
    pub fn autocomplete(mut self, value: &str) -> Self {
        if let Self::Input { autocomplete, .. } = &mut self {
            *autocomplete = value.into();
        }
        self
    }

    /// The same field with a hint under its label.
    #[must_use]
    pub fn hint(mut self, text: &str) -> Self {
        if let Self::Input { hint, .. } | Self::Textarea { hint, .. } = &mut self {
            *hint = text.into();
        }
        self
    }

    pub fn checkbox(name: &str, label: &str, checked: bool) -> Self {
        Self::Checkbox { name: name.into(), label: label.into(), checked }
    }

    pub fn select(name: &str, label: &str, options: &[(&str, &str)], selected: &str) -> Self {
        Self::Select {
            name: name.into(),
            label: label.into(),
            options: options.iter().map(|(v, l)| ((*v).into(), (*l).into())).collect(),
            selected: selected.into(),
        }
    }

    pub fn textarea(name: &str, label: &str, value: impl Into<String>) -> Self {
        Self::Textarea { name: name.into(), label: label.into(), value: value.into(), hint: String::new() }
    }
}

/// A form: POST (with the CSRF token) or GET (a search, bookmarkable, no token).
#[derive(Debug, Clone, Default)]
pub struct Form {
    /// Prefix of the controls' ids; unique on the page.
    pub id: String,
    pub action: String,
    pub get: bool,
    pub csrf: String,
    pub fields: Vec<Field>,
    pub submit: String,
    /// The button's accessible name when its text alone is ambiguous (a row's "Sign out").
    pub submit_label: String,
    /// Destructive: styled as such.
    pub danger: bool,
}

impl Form {
    pub fn post(id: &str, action: impl Into<String>, csrf: &str, submit: &str) -> Self {
        Self {
            id: id.into(),
            action: action.into(),
            csrf: csrf.into(),
            submit: submit.into(),
            ..Self::default()
        }
    }

    pub fn get(id: &str, action: impl Into<String>, submit: &str) -> Self {
        Self { id: id.into(), action: action.into(), get: true, submit: submit.into(), ..Self::default() }
    }

    #[must_use]
    pub fn field(mut self, f: Field) -> Self {
        self.fields.push(f);
        self
    }

    #[must_use]
    pub fn danger(mut self) -> Self {
        self.danger = true;
        self
    }

    #[must_use]
    pub fn named(mut self, label: impl Into<String>) -> Self {
        self.submit_label = label.into();
        self
    }
}

/// A table cell.
#[derive(Debug, Clone)]
pub enum Cell {
    Text(String),
    Link(Link),
    /// Buttons acting on the row.
    Forms(Vec<Form>),
}

/// One piece of a section.
#[derive(Debug, Clone)]
pub enum Block {
    Text(String),
    /// Term and description pairs.
    Facts(Vec<(String, String)>),
    Table {
        caption: String,
        headers: Vec<String>,
        rows: Vec<Vec<Cell>>,
    },
    Form(Form),
    /// Secrets shown once (recovery codes, a client secret), in `<code>`.
    Codes {
        label: String,
        codes: Vec<String>,
    },
    /// An image (a QR code as a `data:` URL).
    Image {
        src: String,
        alt: String,
    },
    Links(Vec<Link>),
}

/// A titled part of the page (`<section>` with an `<h2>`).
#[derive(Debug, Clone)]
pub struct Section {
    pub heading: String,
    pub blocks: Vec<Block>,
}

impl Section {
    pub fn new(heading: impl Into<String>, blocks: Vec<Block>) -> Self {
        Self { heading: heading.into(), blocks }
    }
}

/// A page of the account page or the console.
#[derive(Template)]
#[template(path = "panel.html")]
pub struct Panel<'a> {
    pub layout: Layout<'a>,
    pub title: &'a str,
    /// The face's navigation; empty for none.
    pub nav: &'a [Link],
    /// The result of the last action, announced politely.
    pub notice: Option<&'a str>,
    /// Announced at once.
    pub error: Option<&'a str>,
    pub sections: &'a [Section],
}

impl Panel<'_> {
    /// The header of column `i`, repeated on each cell for the stacked layout on phones.
    fn label<'h>(&self, headers: &'h [String], i: &usize) -> &'h str {
        headers.get(*i).map_or("", String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Brand, render};

    #[test]
    fn forms_carry_the_token_and_labels_and_values_are_escaped() {
        let form = Form::post("pw", "/t/acme/account/password", "tok", "Change password")
            .field(
                Field::input("current", "Current password", "password", "", true)
                    .autocomplete("current-password"),
            )
            .field(Field::checkbox("end_others", "Sign out my other sessions", true));
        let sections =
            [Section::new("Password <b>", vec![Block::Form(form), Block::Text("<script>x</script>".into())])];
        let nav = [Link { href: "/console".into(), label: "Tenants".into(), current: true }];
        let page = Panel {
            layout: Layout { brand: Brand::default(), nonce: "n" },
            title: "Your account",
            nav: &nav,
            notice: Some("Saved."),
            error: None,
            sections: &sections,
        };
        let html = render(&page).unwrap();
        for part in [
            "<title>Your account · Gatehouse</title>",
            "<h1>Your account</h1>",
            r#"<main class="wide">"#,
            r#"<a href="/console" aria-current="page">Tenants</a>"#,
            r#"<p class="notice" role="status">Saved.</p>"#,
            r#"<form method="POST" action="/t/acme/account/password">"#,
            r#"<input type="hidden" name="csrf" value="tok">"#,
            r#"<label for="pw-current">Current password</label>"#,
            r#"<input type="password" id="pw-current" name="current" autocomplete="current-password" required>"#,
            r#"<input type="checkbox" id="pw-end_others" name="end_others" value="on" checked>"#,
            "Password &#60;b&#62;",
            "&#60;script&#62;x&#60;/script&#62;",
        ] {
            assert!(html.contains(part), "{part} missing from\n{html}");
        }
        assert!(!html.contains(" style="));
    }
}
