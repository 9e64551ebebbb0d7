//! The checked-in OpenAPI document is generated from the code; this fails when they drift.
//! Regenerate with `UPDATE_OPENAPI=1 cargo test openapi`.

#[test]
fn openapi_document_matches_the_code() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi");
    let json = metabridge::http::openapi::openapi_json();
    let yaml = metabridge::http::openapi::openapi_yaml();
    if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        // CI checks the committed document; regenerating it there would hide the drift.
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
        assert!(
            !ci,
            "UPDATE_OPENAPI=1 is refused when CI is set: regenerate locally and commit the result"
        );
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

    // The events: one webhook per type under `x-webhooks` (3.0 has no `webhooks`), each
    // naming its envelope schema, with the receiver's guide.
    assert!(doc.get("webhooks").is_none(), "`webhooks` is OpenAPI 3.1");
    assert!(!yaml.contains("\nwebhooks:\n") && yaml.contains("\nx-webhooks:\n"));
    let hooks = doc["x-webhooks"].as_object().expect("x-webhooks");
    let names = metabridge::events::schema::event_schema_names();
    assert_eq!(hooks.len(), names.len());
    for (event_type, schema) in names {
        let op = &hooks[event_type]["post"];
        assert_eq!(
            op["operationId"],
            format!("events.{}", event_type.replace('.', "_")),
            "{event_type}"
        );
        assert_eq!(
            op["requestBody"]["content"]["application/json; charset=utf-8"]["schema"]["$ref"],
            format!("#/components/schemas/{schema}"),
            "{event_type}"
        );
        assert!(
            op["description"]
                .as_str()
                .is_some_and(|d| d.contains("jwks.json"))
        );
        let data = &doc["components"]["schemas"][schema]["properties"]["data"];
        assert!(data["$ref"].is_string(), "{event_type}: {data}");
        assert!(doc["components"]["schemas"][schema]["example"].is_object());
    }
}

/// The served document is the same 3.0-valid one, for the configured public URL; the Swagger
/// UI still answers.
#[tokio::test]
async fn served_document_has_the_events_under_x_webhooks() {
    use crate::helpers::*;
    let app = spawn_app(Db::Sqlite).await;
    let resp = app
        .http
        .get(format!("{}/openapi.json", app.url))
        .send()
        .await
        .expect("openapi.json");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"))
    );
    let doc: serde_json::Value = resp.json().await.expect("json");
    assert!(doc.get("webhooks").is_none());
    assert!(doc["x-webhooks"]["message.received"]["post"].is_object());
    assert_eq!(
        doc["servers"][0]["url"],
        app.state.config.public_url.as_str()
    );
    let docs = app
        .http
        .get(format!("{}/docs/", app.url))
        .send()
        .await
        .expect("docs");
    assert_eq!(docs.status().as_u16(), 200);
    assert!(docs.text().await.expect("html").contains("SwaggerUIBundle"));
    app.shutdown.cancel();
}
