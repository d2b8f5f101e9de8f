//! What operators copy from the repository stays complete: the production configuration example
//! and the configuration guide name every setting, and the example is a configuration the
//! service accepts. A key added to `Settings` without documentation fails here.
use std::path::Path;

use figment::{
    Figment,
    providers::{Format, Serialized, Yaml},
};
use gatehouse::config::Settings;
use serde_json::Value;

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Every setting as `section.key`, from the defaults.
fn setting_keys() -> Vec<String> {
    let Value::Object(sections) = serde_json::to_value(Settings::default()).unwrap() else { unreachable!() };
    let mut keys = Vec::new();
    for (section, fields) in sections {
        for key in fields.as_object().unwrap().keys() {
            keys.push(format!("{section}.{key}"));
        }
    }
    assert!(keys.len() > 30, "{keys:?}");
    keys
}

#[test]
fn the_production_example_names_every_setting_and_is_accepted() {
    let file = repo("config/production.example.yaml");
    let example: Value = Figment::from(Yaml::file(&file)).extract().unwrap();
    for key in setting_keys() {
        let (section, name) = key.split_once('.').unwrap();
        assert!(example[section].get(name).is_some(), "config/production.example.yaml lacks {key}");
    }
    let settings: Settings =
        Figment::from(Serialized::defaults(Settings::default())).merge(Yaml::file(&file)).extract().unwrap();
    settings.validate().unwrap();
    assert!(settings.redis.url.is_some(), "production runs more than one instance");
}

#[test]
fn the_configuration_guide_names_every_setting() {
    let guide = std::fs::read_to_string(repo("docs/configuration.md")).unwrap();
    for key in setting_keys() {
        let env = format!("GATEHOUSE__{}", key.replace('.', "__").to_uppercase());
        assert!(guide.contains(&format!("`{env}`")), "docs/configuration.md lacks `{env}`");
    }
}
