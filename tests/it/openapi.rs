//! The checked-in OpenAPI document is generated from the code; this fails when they drift.
//! Regenerate with `UPDATE_OPENAPI=1 cargo test openapi`.

#[test]
fn openapi_document_matches_the_code() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi");
    let json = metabridge::http::openapi_json();
    let yaml = metabridge::http::openapi_yaml();
    if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(dir).expect("openapi dir");
        std::fs::write(format!("{dir}/openapi.json"), format!("{json}\n")).expect("write json");
        std::fs::write(format!("{dir}/openapi.yaml"), &yaml).expect("write yaml");
    }
    let on_disk = std::fs::read_to_string(format!("{dir}/openapi.json"))
        .expect("openapi/openapi.json exists");
    assert_eq!(
        on_disk.trim_end(),
        json.trim_end(),
        "openapi/openapi.json is stale: run UPDATE_OPENAPI=1 cargo test openapi"
    );
    let on_disk = std::fs::read_to_string(format!("{dir}/openapi.yaml"))
        .expect("openapi/openapi.yaml exists");
    assert_eq!(
        on_disk, yaml,
        "openapi/openapi.yaml is stale: run UPDATE_OPENAPI=1 cargo test openapi"
    );
    let doc: serde_json::Value = serde_json::from_str(&json).expect("json");
    for op in [
        "admin.instances.create",
        "events.list",
        "events.replay",
        "admin.channels.create",
    ] {
        assert!(
            json.contains(&format!("\"operationId\": \"{op}\""))
                || json.contains(&format!("\"operationId\":\"{op}\"")),
            "{op}"
        );
    }
    assert!(doc["components"]["securitySchemes"]["InstanceJwt"].is_object());
}
