//! The committed spec is the contract: it must equal what the code generates.

#[test]
fn the_committed_spec_matches_the_code() {
    let generated = gatehouse::api::api_service("http://127.0.0.1:8080").spec_yaml();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.yaml");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        generated == committed,
        "openapi/openapi.yaml is out of date: run `cargo run -- openapi > openapi/openapi.yaml`"
    );
}

#[test]
fn every_operation_has_an_id_a_tag_and_documented_errors() {
    let spec: serde_json::Value =
        serde_json::from_str(&gatehouse::api::api_service("http://127.0.0.1:8080").spec()).unwrap();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(op["operationId"].is_string(), "{method} {path} has no operationId");
            assert!(op["tags"].as_array().is_some_and(|t| !t.is_empty()), "{method} {path} has no tag");
            let responses = op["responses"].as_object().unwrap();
            if path.starts_with("/t/") {
                assert!(responses.contains_key("400") && responses.contains_key("503"), "{method} {path}");
            }
        }
    }
}
