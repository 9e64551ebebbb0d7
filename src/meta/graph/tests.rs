use super::*;
use poem::http::StatusCode as PoemStatus;
use poem::listener::{Acceptor, TcpAcceptor};
use poem::{Body, Request, Response, Server};
use std::sync::{Arc, Mutex};
use std::time::Instant;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/meta/");
const TOKEN: &str = "EAAGsecretTOKEN123";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}{name}")).unwrap()
}

fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

// ---- classification ---------------------------------------------------------------

use ErrorClass::*;

#[test]
fn subcode_reasons() {
    let mut e = parse_error(400, &fixture("graph-error-10-2534022-ig-window.json")).unwrap();
    assert!(e.reason().contains("Instagram messaging window"));
    e.subcode = Some(2_018_278);
    assert!(e.reason().contains("Messenger"));
    e.subcode = None;
    assert!(e.reason().starts_with("Permission denied"));
}

// ---- error parsing ----------------------------------------------------------------

#[test]
fn fixtures_parse_and_classify() {
    /// (file, code, subcode, class, fbtrace_id)
    type Case = (
        &'static str,
        i64,
        Option<i64>,
        ErrorClass,
        Option<&'static str>,
    );
    let cases: &[Case] = &[
        (
            "graph-error-10-2534022-ig-window.json",
            10,
            Some(2_534_022),
            WindowClosed,
            Some("H8i9J0k1"),
        ),
        (
            "graph-error-100-invalid-param.json",
            100,
            None,
            Permanent,
            Some("C3d4E5f6"),
        ),
        (
            "graph-error-130429-throughput.json",
            130_429,
            None,
            Retry,
            Some("D4e5F6g7"),
        ),
        (
            "graph-error-131047-window.json",
            131_047,
            None,
            WindowClosed,
            Some("E5f6G7h8"),
        ),
        (
            "graph-error-131056-pair-rate.json",
            131_056,
            None,
            RetryPair,
            Some("F6g7H8i9"),
        ),
        (
            "graph-error-132001-template.json",
            132_001,
            None,
            Permanent,
            Some("G7h8I9j0"),
        ),
        (
            "graph-error-190-463.json",
            190,
            Some(463),
            TokenSuspect,
            Some("A1b2C3d4E5f6G7h8"),
        ),
        (
            "graph-error-2-transient.json",
            2,
            None,
            Retry,
            Some("I9j0K1l2"),
        ),
        (
            "graph-error-368-policy-block.json",
            368,
            None,
            PauseSends,
            Some("J0k1L2m3"),
        ),
        (
            "graph-error-4-app-rate-limit.json",
            4,
            None,
            Retry,
            Some("B2c3D4e5F6g7"),
        ),
    ];
    let mut seen = 0;
    for entry in std::fs::read_dir(FIXTURES).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.starts_with("graph-error-") {
            assert!(
                cases.iter().any(|c| c.0 == name),
                "fixture {name} not covered"
            );
            seen += 1;
        }
    }
    assert_eq!(seen, cases.len());
    for &(name, code, sub, class, trace) in cases {
        let e = parse_error(400, &fixture(name)).unwrap_or_else(|| panic!("{name}"));
        assert_eq!((e.code, e.subcode), (code, sub), "{name}");
        assert_eq!(e.class(), class, "{name}");
        assert_eq!(e.fbtrace_id.as_deref(), trace, "{name}");
        assert_eq!(e.http_status, 400);
        assert!(!e.message.is_empty(), "{name}");
    }
    let e = parse_error(400, &fixture("graph-error-131047-window.json")).unwrap();
    assert_eq!(
        e.details.as_deref(),
        Some("Message not sent: the customer last wrote more than 24 hours ago.")
    );
    assert_eq!(e.message, "(#131047) Re-engagement message");
    // Non-error fixtures are not envelopes.
    assert!(parse_error(200, &fixture("wa-send-response.json")).is_none());
    assert!(parse_error(200, &fixture("ig-send-response.json")).is_none());
}

#[test]
fn lenient_error_parsing() {
    let e = parse_error(
            401,
            br#"{"error":{"code":"190","error_subcode":"460","error_user_title":"T","error_user_msg":"U"}}"#,
        )
        .unwrap();
    assert_eq!((e.code, e.subcode), (190, Some(460)));
    assert_eq!(e.title.as_deref(), Some("T"));
    assert_eq!(e.details.as_deref(), Some("U"));
    assert_eq!(e.message, "");
    assert_eq!(e.fbtrace_id, None);
    assert_eq!(e.http_status, 401);
    // error_data as a JSON string; webhook-style `title`; `subcode` as in debug_token.
    let e = parse_error(
            400,
            br#"{"error":{"code":131026.0,"subcode":7,"title":"Undeliverable","error_data":"{\"details\":\"x\"}"}}"#,
        )
        .unwrap();
    assert_eq!((e.code, e.subcode), (131_026, Some(7)));
    assert_eq!(e.title.as_deref(), Some("Undeliverable"));
    assert_eq!(e.details.as_deref(), Some("x"));
    // Not envelopes.
    for body in [
        &b""[..],
        b"<html>502 Bad Gateway</html>",
        b"{}",
        br#"{"error":"invalid_request"}"#,
        br#"{"error":{"message":"no code"}}"#,
        br#"{"error":{"code":"abc"}}"#,
        b"[1,2]",
    ] {
        assert!(
            parse_error(500, body).is_none(),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    // Display carries code, subcode, status, message, trace.
    let e = parse_error(401, &fixture("graph-error-190-463.json")).unwrap();
    let shown = e.to_string();
    assert!(
        shown.starts_with("Graph error 190/463 (HTTP 401): Error validating"),
        "{shown}"
    );
    assert!(shown.contains("fbtrace_id A1b2C3d4E5f6G7h8"));
    // Huge texts are cut.
    let long = "x".repeat(5000);
    let body = format!(r#"{{"error":{{"code":1,"message":"{long}"}}}}"#);
    assert!(parse_error(500, body.as_bytes()).unwrap().message.len() <= MAX_TEXT + 4);
}

// ---- headers ------------------------------------------------------------------------

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.append(*k, v.parse().unwrap());
    }
    map
}

#[test]
fn regain_after_headers() {
    assert_eq!(regain_after(&HeaderMap::new()), None);
    let buc = r#"{"105000000000001":[{"type":"pages","call_count":100,"total_cputime":10,"total_time":20,"estimated_time_to_regain_access":5}],"102000000000001":[{"type":"whatsapp_business_management","call_count":1,"estimated_time_to_regain_access":"12"},{"type":"x","estimated_time_to_regain_access":0}]}"#;
    assert_eq!(
        regain_after(&headers(&[("x-business-use-case-usage", buc)])),
        Some(Duration::from_secs(12 * 60))
    );
    // X-App-Usage alone (no regain time) asks for nothing.
    let app = r#"{"call_count":100,"total_cputime":25,"total_time":25}"#;
    assert_eq!(regain_after(&headers(&[("x-app-usage", app)])), None);
    // Retry-After seconds; the largest wins.
    assert_eq!(
        regain_after(&headers(&[("retry-after", " 30 ")])),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        regain_after(&headers(&[
            ("retry-after", "900"),
            ("x-business-use-case-usage", buc)
        ])),
        Some(Duration::from_secs(900))
    );
    assert_eq!(
        regain_after(&headers(&[
            ("x-app-usage", r#"{"estimated_time_to_regain_access":2}"#),
            ("retry-after", "60")
        ])),
        Some(Duration::from_secs(120))
    );
    // Garbage and zeros are ignored.
    assert_eq!(
        regain_after(&headers(&[
            ("x-business-use-case-usage", "not json"),
            ("x-app-usage", r#"{"estimated_time_to_regain_access":-3}"#),
            ("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT"),
            ("retry-after", "0"),
        ])),
        None
    );
}

// ---- pure helpers -------------------------------------------------------------------

#[test]
fn safe_segments() {
    for ok in [
        "106000000000001",
        "me",
        "wamid.HBgL=",
        "v25.0",
        "a.b",
        "x:y",
    ] {
        assert_eq!(safe_segment(ok), Some(ok));
    }
    let long = "1".repeat(MAX_SEGMENT + 1);
    for bad in [
        "",
        ".",
        "..",
        "../x",
        "a/b",
        "a\\b",
        "..%2f",
        "a?b",
        "a#b",
        "a b",
        "a\tb",
        "a\nb",
        "a\u{0}b",
        "a..b",
        "%2e%2e",
        "\u{a0}",
        long.as_str(),
    ] {
        assert_eq!(safe_segment(bad), None, "{bad:?}");
    }
}

#[test]
fn endpoint_building() {
    init();
    let t = Duration::from_secs(5);
    let c = GraphClient::new("https://graph.facebook.com", "v25.0", t);
    assert_eq!(
        c.endpoint(&["106", "messages"]).unwrap().as_str(),
        "https://graph.facebook.com/v25.0/106/messages"
    );
    let c = GraphClient::new("http://127.0.0.1:1234/prefix/", "", t);
    assert_eq!(
        c.endpoint(&["106", "media"]).unwrap().as_str(),
        "http://127.0.0.1:1234/prefix/106/media"
    );
    assert!(matches!(
        c.endpoint(&[".."]),
        Err(GraphCallError::Invalid(_))
    ));
    assert!(GraphClient::try_new("ftp://x", "v1", t).is_err());
    assert!(GraphClient::try_new("not a url", "v1", t).is_err());
    assert!(GraphClient::try_new("https://h/?a=b", "v1", t).is_err());
    assert!(GraphClient::try_new("https://u:p@h/", "v1", t).is_err());
    assert!(GraphClient::try_new("https://h", "../v1", t).is_err());
}

#[test]
fn accepted_shapes() {
    let wa: Value = serde_json::from_slice(&fixture("wa-send-response.json")).unwrap();
    assert_eq!(
        accepted_from(&wa),
        Some(SendOutcome::Accepted {
            message_id: Some("wamid.HBgLMTU1NTAwMDEyMzRPVVQwMTA=".into()),
            recipient_wa_id: Some("15550001234".into()),
            message_status: Some("accepted".into()),
        })
    );
    let ig: Value = serde_json::from_slice(&fixture("ig-send-response.json")).unwrap();
    match accepted_from(&ig) {
        Some(SendOutcome::Accepted {
            message_id: Some(mid),
            recipient_wa_id: Some(rid),
            message_status: None,
        }) => {
            assert!(mid.starts_with("aWdfZAG1"));
            assert_eq!(rid, "6120000000000001");
        }
        other => panic!("{other:?}"),
    }
    let none = SendOutcome::Accepted {
        message_id: None,
        recipient_wa_id: None,
        message_status: None,
    };
    assert_eq!(
        accepted_from(&serde_json::json!({"success": true})),
        Some(none)
    );
    assert!(matches!(
        accepted_from(&serde_json::json!({"recipient_id": "7010000000000001"})),
        Some(SendOutcome::Accepted {
            message_id: None,
            recipient_wa_id: Some(_),
            ..
        })
    ));
    for v in [
        serde_json::json!({}),
        serde_json::json!({"success": false}),
        serde_json::json!({"messages": []}),
        serde_json::json!({"messages": [{"message_status": "accepted"}]}),
        serde_json::json!([1]),
    ] {
        assert_eq!(accepted_from(&v), None, "{v}");
    }
}

#[test]
fn send_outcome_rules() {
    let ok = |b: &[u8]| Ok::<_, BodyError>(b.to_vec());
    let s = |c: u16| StatusCode::from_u16(c).unwrap();
    assert!(matches!(
        send_outcome(s(200), None, ok(b"{}"), TOKEN),
        SendOutcome::Ambiguous { .. }
    ));
    assert!(matches!(
        send_outcome(s(200), None, ok(b"<html>"), TOKEN),
        SendOutcome::Ambiguous { .. }
    ));
    assert!(matches!(
        send_outcome(s(302), None, ok(b""), TOKEN),
        SendOutcome::Ambiguous { .. }
    ));
    for c in [500, 502, 503, 504] {
        assert!(
            matches!(
                send_outcome(s(c), None, ok(b""), TOKEN),
                SendOutcome::Ambiguous { .. }
            ),
            "{c}"
        );
    }
    for c in [400, 404, 413, 429] {
        assert!(
            matches!(
                send_outcome(s(c), None, ok(b"nope"), TOKEN),
                SendOutcome::NotSent { .. }
            ),
            "{c}"
        );
    }
    let transient = fixture("graph-error-2-transient.json");
    assert!(matches!(
        send_outcome(s(503), None, ok(&transient), TOKEN),
        SendOutcome::Rejected { class: Retry, .. }
    ));
    let fail = || Err(BodyError::Failed(format!("reset while reading {TOKEN}")));
    match send_outcome(s(200), None, fail(), TOKEN) {
        SendOutcome::Ambiguous { reason } => assert!(!reason.contains(TOKEN), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        send_outcome(s(400), None, fail(), TOKEN),
        SendOutcome::NotSent { .. }
    ));
    assert!(matches!(
        send_outcome(s(200), None, Err(BodyError::TooLarge), TOKEN),
        SendOutcome::Ambiguous { .. }
    ));
}

#[test]
fn media_and_token_decoding() {
    let meta: Value = serde_json::from_slice(&fixture("wa-media-metadata.json")).unwrap();
    let info = media_info_from(&meta, "x").unwrap();
    assert_eq!(info.file_size, Some(61_901));
    assert_eq!(info.mime_type, "image/jpeg");
    assert_eq!(info.id, "1480000000000001");
    assert!(info.sha256.as_deref().is_some_and(|h| h.len() == 64));
    assert!(info.url.starts_with("https://lookaside.fbsbx.com/"));
    assert!(matches!(
        media_info_from(&serde_json::json!({"id": "1"}), "1"),
        Err(GraphCallError::Decode(_))
    ));

    let dt: Value = serde_json::from_slice(&fixture("debug-token-response.json")).unwrap();
    let info = token_info_from(&dt).unwrap();
    assert!(info.is_valid);
    assert_eq!(info.expires_at, Some(0));
    assert_eq!(
        info.scopes,
        [
            "whatsapp_business_management",
            "whatsapp_business_messaging",
            "public_profile"
        ]
    );
    assert_eq!(info.error_code, None);
    assert_eq!(info.app_id.as_deref(), Some("236400000000001"));
    assert_eq!(info.granular_scopes.len(), 2);
    assert_eq!(info.granular_scopes[1].target_ids, ["102000000000001"]);
    let invalid = serde_json::json!({"data": {"is_valid": false, "expires_at": "1763380800",
            "error": {"code": 190, "message": "expired", "subcode": 463}, "scopes": []}});
    let info = token_info_from(&invalid).unwrap();
    assert!(!info.is_valid);
    assert_eq!(info.expires_at, Some(1_763_380_800));
    assert_eq!(info.error_code, Some(190));
    assert!(matches!(
        token_info_from(&serde_json::json!({})),
        Err(GraphCallError::Decode(_))
    ));
}

#[test]
fn filenames_are_cleaned() {
    assert_eq!(clean_filename("../../etc/passwd"), ".._.._etc_passwd");
    assert_eq!(clean_filename("a\"b\r\n.pdf"), "a_b__.pdf");
    assert_eq!(clean_filename(" "), "file");
    assert_eq!(clean_filename(".."), "file");
    assert_eq!(clean_filename("relatório.pdf"), "relatório.pdf");
}

// ---- fake Graph server ----------------------------------------------------------------

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: Option<String>,
    auth: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

enum ReplyBody {
    Bytes(Vec<u8>),
    /// First part, pause, second part.
    Slow(Vec<u8>, Duration, Vec<u8>),
}

struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    delay: Duration,
    body: ReplyBody,
}

fn reply(status: u16, body: impl Into<Vec<u8>>) -> Reply {
    Reply {
        status,
        headers: vec![("content-type", "application/json".into())],
        delay: Duration::ZERO,
        body: ReplyBody::Bytes(body.into()),
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// Serves `route` on 127.0.0.1:<random>; returns the base URL and the request log.
async fn serve<F>(route: F) -> (String, Log)
where
    F: Fn(&Seen) -> Reply + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TcpAcceptor::from_tokio(listener).unwrap();
    assert!(!acceptor.local_addr().is_empty());
    let log: Log = Arc::default();
    let route = Arc::new(route);
    let log2 = log.clone();
    let endpoint = poem::endpoint::make(move |mut req: Request| {
        let route = route.clone();
        let log = log2.clone();
        async move {
            let header = |name: &str| {
                req.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let mut seen = Seen {
                method: req.method().to_string(),
                path: req.uri().path().to_owned(),
                query: req.uri().query().map(str::to_owned),
                auth: header("authorization"),
                content_type: header("content-type"),
                body: Vec::new(),
            };
            seen.body = req.take_body().into_vec().await.unwrap_or_default();
            let r = route(&seen);
            log.lock().unwrap().push(seen);
            if !r.delay.is_zero() {
                tokio::time::sleep(r.delay).await;
            }
            let mut builder = Response::builder().status(PoemStatus::from_u16(r.status).unwrap());
            for (k, v) in r.headers {
                builder = builder.header(k, v);
            }
            match r.body {
                ReplyBody::Bytes(b) => builder.body(b),
                ReplyBody::Slow(first, pause, second) => {
                    let (mut tx, rx) = tokio::io::duplex(64 * 1024);
                    tokio::spawn(async move {
                        use tokio::io::AsyncWriteExt;
                        let _ = tx.write_all(&first).await;
                        let _ = tx.flush().await;
                        tokio::time::sleep(pause).await;
                        let _ = tx.write_all(&second).await;
                    });
                    builder.body(Body::from_async_read(rx))
                }
            }
        }
    });
    tokio::spawn(Server::new_with_acceptor(acceptor).run(endpoint));
    (format!("http://{addr}"), log)
}

fn client(base: &str, timeout_ms: u64) -> GraphClient {
    init();
    GraphClient::new(base, "v25.0", Duration::from_millis(timeout_ms))
}

fn text_body() -> Value {
    serde_json::json!({"messaging_product":"whatsapp","to":"15550001234","type":"text","text":{"body":"hi"}})
}

fn assert_no_token_in_url(seen: &Seen) {
    assert!(!seen.path.contains(TOKEN), "{seen:?}");
    assert!(
        !seen.query.as_deref().unwrap_or("").contains(TOKEN),
        "{seen:?}"
    );
    assert_eq!(
        seen.auth.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
}

#[tokio::test]
async fn send_accepted_shapes_and_bearer() {
    let wa = fixture("wa-send-response.json");
    let ig = fixture("ig-send-response.json");
    let (base, log) = serve(move |seen| match seen.path.as_str() {
        "/v25.0/106000000000001/messages" => reply(200, wa.clone()),
        "/v25.0/17841400000000001/messages" => reply(200, ig.clone()),
        "/v25.0/105000000000001/messages" => reply(200, r#"{"recipient_id":"7010000000000001"}"#),
        "/v25.0/106000000000002/messages" => reply(200, r#"{"success":true}"#),
        _ => reply(404, "no route"),
    })
    .await;
    let c = client(&base, 5_000);
    let out = c.send_message(TOKEN, "106000000000001", &text_body()).await;
    assert_eq!(
        out,
        SendOutcome::Accepted {
            message_id: Some("wamid.HBgLMTU1NTAwMDEyMzRPVVQwMTA=".into()),
            recipient_wa_id: Some("15550001234".into()),
            message_status: Some("accepted".into()),
        }
    );
    let out = c
        .send_message(TOKEN, "17841400000000001", &text_body())
        .await;
    assert!(
        matches!(out, SendOutcome::Accepted { message_id: Some(_), recipient_wa_id: Some(ref r), .. } if r == "6120000000000001")
    );
    let action =
        serde_json::json!({"recipient":{"id":"7010000000000001"},"sender_action":"typing_on"});
    let out = c.send_message(TOKEN, "105000000000001", &action).await;
    assert!(matches!(
        out,
        SendOutcome::Accepted {
            message_id: None,
            recipient_wa_id: Some(_),
            ..
        }
    ));
    let read =
        serde_json::json!({"messaging_product":"whatsapp","status":"read","message_id":"wamid.x"});
    let out = c.send_message(TOKEN, "106000000000002", &read).await;
    assert!(matches!(
        out,
        SendOutcome::Accepted {
            message_id: None,
            recipient_wa_id: None,
            message_status: None
        }
    ));

    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), 4);
    for s in &seen {
        assert_eq!(s.method, "POST");
        assert_no_token_in_url(s);
        assert_eq!(s.query, None);
        assert_eq!(s.content_type.as_deref(), Some("application/json"));
    }
    let sent: Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(sent, text_body());
}

#[tokio::test]
async fn send_rejections_and_statuses() {
    let e400 = fixture("graph-error-131047-window.json");
    let e401 = fixture("graph-error-190-463.json");
    let e429 = fixture("graph-error-4-app-rate-limit.json");
    let (base, _log) = serve(move |seen| {
            let id = seen.path.split('/').nth(2).unwrap_or("").to_owned();
            match id.as_str() {
                "400" => reply(400, e400.clone()),
                "401" => reply(401, e401.clone()),
                "429" => {
                    let mut r = reply(400, e429.clone());
                    r.headers.push((
                        "x-business-use-case-usage",
                        r#"{"1":[{"type":"whatsapp_business_messaging","estimated_time_to_regain_access":3}]}"#.into(),
                    ));
                    r
                }
                "500" => reply(500, Vec::new()),
                "503" => reply(503, Vec::new()),
                "502html" => reply(502, "<html>bad gateway</html>"),
                "404html" => reply(404, "<html>not found</html>"),
                "200junk" => reply(200, "not json"),
                _ => reply(418, ""),
            }
        })
        .await;
    let c = client(&base, 5_000);
    let body = text_body();
    match c.send_message(TOKEN, "400", &body).await {
        SendOutcome::Rejected {
            error,
            class,
            retry_after,
        } => {
            assert_eq!((error.code, error.http_status), (131_047, 400));
            assert_eq!(class, WindowClosed);
            assert_eq!(retry_after, None);
        }
        other => panic!("{other:?}"),
    }
    match c.send_message(TOKEN, "401", &body).await {
        SendOutcome::Rejected { error, class, .. } => {
            assert_eq!(
                (error.code, error.subcode, error.http_status),
                (190, Some(463), 401)
            );
            assert_eq!(class, TokenSuspect);
            assert!(!format!("{error:?}").contains(TOKEN));
        }
        other => panic!("{other:?}"),
    }
    match c.send_message(TOKEN, "429", &body).await {
        SendOutcome::Rejected {
            class, retry_after, ..
        } => {
            assert_eq!(class, Retry);
            assert_eq!(retry_after, Some(Duration::from_secs(180)));
        }
        other => panic!("{other:?}"),
    }
    for id in ["500", "503", "502html", "200junk"] {
        match c.send_message(TOKEN, id, &body).await {
            SendOutcome::Ambiguous { reason } => {
                assert!(
                    !reason.contains("html") && !reason.contains("not json"),
                    "{reason}"
                );
                assert!(!reason.contains(TOKEN));
            }
            other => panic!("{id}: {other:?}"),
        }
    }
    assert!(matches!(
        c.send_message(TOKEN, "404html", &body).await,
        SendOutcome::NotSent { .. }
    ));
}

#[tokio::test]
async fn send_timeout_is_ambiguous() {
    let (base, log) = serve(|_| {
        let mut r = reply(200, r#"{"recipient_id":"1","message_id":"m"}"#);
        r.delay = Duration::from_millis(1_500);
        r
    })
    .await;
    let c = client(&base, 300);
    let started = Instant::now();
    match c.send_message(TOKEN, "106000000000001", &text_body()).await {
        SendOutcome::Ambiguous { reason } => {
            assert!(reason.contains("timed out"), "{reason}");
            assert!(
                !reason.contains(TOKEN) && !reason.contains("127.0.0.1"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_millis(1_400));
    // The request did reach the server: that is exactly why it is ambiguous.
    assert_eq!(log.lock().unwrap().len(), 1);
}

fn refused_base() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test]
async fn connection_refused_is_not_sent() {
    let c = client(&refused_base(), 2_000);
    match c.send_message(TOKEN, "106000000000001", &text_body()).await {
        SendOutcome::NotSent { reason } => {
            assert!(reason.starts_with("connect failed"), "{reason}");
            assert!(!reason.contains(TOKEN));
        }
        other => panic!("{other:?}"),
    }
    // Reads report a transport error free of secrets (debug_token has a token in its URL).
    let input = "EAAinputTOKEN456";
    let err = c.debug_token(TOKEN, input).await.unwrap_err();
    assert!(matches!(err, GraphCallError::Transport(_)));
    assert!(err.is_retryable());
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(!shown.contains(TOKEN) && !shown.contains(input), "{shown}");
    }
}

#[tokio::test]
async fn connect_timeout_is_not_sent() {
    // A listener whose accept queue is full drops further SYNs, so connecting hangs.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    let mut full = false;
    for _ in 0..8 {
        let attempt = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        )
        .await;
        match attempt {
            Ok(Ok(stream)) => fillers.push(stream),
            _ => {
                full = true; // the queue is full
                break;
            }
        }
    }
    if !full {
        eprintln!("accept queue never filled on this kernel; connect-timeout case skipped");
        return;
    }
    let c = client(&format!("http://{addr}"), 1_000);
    match c.send_message(TOKEN, "106000000000001", &text_body()).await {
        SendOutcome::NotSent { reason } => {
            assert!(reason.starts_with("connect timed out"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    drop(listener);
}

#[tokio::test]
async fn unsafe_ids_are_refused_before_any_request() {
    let (base, log) = serve(|_| reply(200, "{}")).await;
    let c = client(&base, 2_000);
    for id in ["../106", "106/../../x", "a?b", "a#b", "a b", ".."] {
        assert!(
            matches!(
                c.send_message(TOKEN, id, &text_body()).await,
                SendOutcome::NotSent { .. }
            ),
            "{id}"
        );
        assert!(
            matches!(
                c.media_info(TOKEN, id, None).await,
                Err(GraphCallError::Invalid(_))
            ),
            "{id}"
        );
        assert!(matches!(
            c.upload_media(
                TOKEN,
                id,
                "image/png",
                "a.png",
                vec![1u8],
                1,
                Duration::ZERO
            )
            .await,
            Err(GraphCallError::Invalid(_))
        ));
    }
    assert!(matches!(
        c.media_info(TOKEN, "1", Some("../2")).await,
        Err(GraphCallError::Invalid(_))
    ));
    // Token only goes to https or to the configured origin.
    for url in [
        "http://example.invalid/file",
        "ftp://x/y",
        "nonsense",
        "https://u:p@h/x",
    ] {
        assert!(
            matches!(
                c.download(TOKEN, url).await,
                Err(GraphCallError::Invalid(_))
            ),
            "{url}"
        );
    }
    assert!(log.lock().unwrap().is_empty());
}

#[tokio::test]
async fn media_info_lenient_and_errors() {
    let (base, log) = serve(|seen| match seen.path.as_str() {
            "/v25.0/1480000000000001" => reply(
                200,
                r#"{"messaging_product":"whatsapp","url":"https://lookaside.fbsbx.com/x?mid=1","mime_type":"audio/ogg","sha256":"ab","file_size":"61901","id":"1480000000000001"}"#,
            ),
            "/v25.0/gone" => reply(404, fixture("graph-error-100-invalid-param.json")),
            "/v25.0/flaky" => reply(503, ""),
            "/v25.0/junk" => reply(200, "[]"),
            _ => reply(404, ""),
        })
        .await;
    let c = client(&base, 5_000);
    let info = c
        .media_info(TOKEN, "1480000000000001", Some("106000000000001"))
        .await
        .unwrap();
    assert_eq!(info.file_size, Some(61_901));
    assert_eq!(info.mime_type, "audio/ogg");
    assert_eq!(info.sha256.as_deref(), Some("ab"));
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(seen.method, "GET");
    assert_eq!(
        seen.query.as_deref(),
        Some("phone_number_id=106000000000001")
    );
    assert_no_token_in_url(&seen);

    match c.media_info(TOKEN, "gone", None).await {
        Err(GraphCallError::Graph { error, class }) => {
            assert_eq!(
                (error.code, error.http_status, class),
                (100, 404, Permanent)
            );
        }
        other => panic!("{other:?}"),
    }
    let err = c.media_info(TOKEN, "flaky", None).await.unwrap_err();
    assert_eq!(err, GraphCallError::Status { status: 503 });
    assert!(err.is_retryable());
    assert!(matches!(
        c.media_info(TOKEN, "junk", None).await,
        Err(GraphCallError::Decode(_))
    ));
}

#[tokio::test]
async fn download_streams_and_follows_redirects() {
    let first = vec![7u8; 1000];
    let second = vec![9u8; 2000];
    let (f2, s2) = (first.clone(), second.clone());
    let (base, log) = serve(move |seen| match seen.path.as_str() {
        "/media/redirect" => {
            let mut r = reply(302, "");
            r.headers.push(("location", "/media/file?hash=abc".into()));
            r
        }
        "/media/file" => Reply {
            status: 200,
            headers: vec![("content-type", "image/jpeg".into())],
            delay: Duration::ZERO,
            body: ReplyBody::Slow(f2.clone(), Duration::from_millis(600), s2.clone()),
        },
        "/media/expired" => reply(404, "<html>gone</html>"),
        _ => reply(401, fixture("graph-error-190-463.json")),
    })
    .await;
    let c = client(&base, 3_000);
    let started = Instant::now();
    let mut resp = c
        .download(TOKEN, &format!("{base}/media/redirect"))
        .await
        .unwrap();
    // Headers arrive before the whole body: nothing was buffered.
    assert!(
        started.elapsed() < Duration::from_millis(550),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("image/jpeg")
    );
    let mut got = Vec::new();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        got.extend_from_slice(&chunk);
    }
    assert!(started.elapsed() >= Duration::from_millis(550));
    assert_eq!(got.len(), first.len() + second.len());
    assert_eq!(&got[..1000], &first[..]);
    assert_eq!(&got[1000..], &second[..]);

    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].query.as_deref(), Some("hash=abc"));
    for s in &seen {
        assert_no_token_in_url(s);
    }

    assert_eq!(
        c.download(TOKEN, &format!("{base}/media/expired"))
            .await
            .unwrap_err(),
        GraphCallError::Status { status: 404 }
    );
    match c.download(TOKEN, &format!("{base}/media/other")).await {
        Err(GraphCallError::Graph { class, .. }) => assert_eq!(class, TokenSuspect),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn upload_media_multipart() {
    let (base, log) = serve(|seen| {
        if seen.path == "/v25.0/106000000000001/media" {
            reply(200, r#"{"id":"1490000000000001"}"#)
        } else {
            reply(400, fixture("graph-error-100-invalid-param.json"))
        }
    })
    .await;
    let c = client(&base, 5_000);
    let data = bytes::Bytes::from_static(b"\x89PNG fake image bytes");
    let len = data.len() as u64;
    let id = c
        .upload_media(
            TOKEN,
            "106000000000001",
            "image/png",
            "photo \"1\".png",
            data,
            len,
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert_eq!(id, "1490000000000001");
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(seen.method, "POST");
    assert_no_token_in_url(&seen);
    assert!(
        seen.content_type
            .as_deref()
            .unwrap()
            .starts_with("multipart/form-data; boundary=")
    );
    let body = String::from_utf8_lossy(&seen.body);
    assert!(
        body.contains("name=\"messaging_product\"\r\n\r\nwhatsapp\r\n"),
        "{body}"
    );
    assert!(
        body.contains("name=\"type\"\r\n\r\nimage/png\r\n"),
        "{body}"
    );
    assert!(body.contains("name=\"file\"; filename=\""), "{body}");
    assert!(body.contains("Content-Type: image/png"), "{body}");
    assert!(body.contains("PNG fake image bytes"), "{body}");

    assert!(matches!(
        c.upload_media(
            TOKEN,
            "106000000000001",
            "not a mime",
            "a",
            vec![1u8],
            1,
            Duration::ZERO
        )
        .await,
        Err(GraphCallError::Invalid(_))
    ));
    match c
        .upload_media(
            TOKEN,
            "106000000000009",
            "image/png",
            "a.png",
            vec![1u8],
            1,
            Duration::ZERO,
        )
        .await
    {
        Err(GraphCallError::Graph { error, .. }) => assert_eq!(error.code, 100),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn debug_token_call() {
    let dt = fixture("debug-token-response.json");
    let (base, log) = serve(move |seen| {
        if seen.path == "/v25.0/debug_token" {
            reply(200, dt.clone())
        } else {
            reply(404, "")
        }
    })
    .await;
    let c = client(&base, 5_000);
    let input = "EAAinput+TOKEN/456";
    let info = c.debug_token(TOKEN, input).await.unwrap();
    assert!(info.is_valid);
    assert_eq!(info.expires_at, Some(0));
    assert_eq!(info.scopes.len(), 3);
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(
        seen.auth.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert!(!seen.query.as_deref().unwrap_or("").contains(TOKEN));
    // The input token is form-encoded in the query (the one documented exception).
    assert_eq!(
        seen.query.as_deref(),
        Some("input_token=EAAinput%2BTOKEN%2F456")
    );
}
