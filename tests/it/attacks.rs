//! The attack catalogue (issue 6): hostile or broken requests against every way in. Each
//! case asserts what the caller sees (the status and the machine-readable `code`) and that
//! nothing was stored. The figures of a run are in `docs/reliability.md` ("Attacks").

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::StreamExt;
use metabridge::crypto::signature;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    webhook_signature_attacks_are_401_and_store_nothing,
    oversized_bodies_are_413_and_store_nothing,
    nested_invalid_and_mistyped_bodies_are_refused_and_store_nothing,
    slow_headers_are_cut_off_after_the_header_timeout,
    slow_bodies_get_408_after_the_body_timeout_and_store_nothing,
    thousands_of_idle_connections_neither_block_service_nor_stay_open,
    jwt_attacks_on_a_send_are_401_and_queue_nothing,
    sql_and_control_characters_are_stored_verbatim_or_refused,
    path_traversal_in_media_ids_and_path_parameters_is_refused,
    private_callback_urls_are_refused_unless_allowed,
    callback_host_resolving_to_a_private_address_is_refused_at_delivery,
    malformed_idempotency_keys_are_400_and_queue_nothing,
);

const WA: &str = "106000000000001";
const CUSTOMER: &str = "15550001234";

/// SQL metacharacters, control and bidi characters, LIKE wildcards, backslashes, quotes.
const NASTY: &[&str] = &[
    "'; DROP TABLE events;--",
    "\" OR 1=1 --",
    "Robert'); DELETE FROM messages; --",
    "a\u{0}b",
    "\u{0}",
    "line1\nline2",
    "cr\rlf",
    "tab\there",
    "\u{202e}evil\u{202c}",
    "100%",
    "%_%",
    "a_b",
    "back\\slash\\\\",
    "$1",
    "?",
    "\u{7f}",
    "\u{feff}bom",
    "😀 ação",
];

/// Counts of every table a request could write to.
async fn stored(app: &TestApp) -> [i64; 6] {
    [
        app.count("SELECT COUNT(*) FROM webhook_log").await,
        app.count("SELECT COUNT(*) FROM events").await,
        app.count("SELECT COUNT(*) FROM malformed_webhooks").await,
        app.count("SELECT COUNT(*) FROM messages").await,
        app.count("SELECT COUNT(*) FROM instances").await,
        app.count("SELECT COUNT(*) FROM channels").await,
    ]
}

/// Percent-encodes every byte except unreserved letters and digits (a path segment or a
/// query value that reaches the server exactly as given).
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'~' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn json_of(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A `/v1` request with the tenant's token and an optional JSON body.
async fn v1_json(
    app: &TestApp,
    t: &Tenant,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .http
        .request(method, format!("{}{path}", app.url))
        .bearer_auth(app.jwt(t));
    if let Some(b) = body {
        req = req.json(&b);
    }
    json_of(req.send().await.expect("v1 request")).await
}

/// Posts raw bytes with a content type (and a JWT when given).
async fn post_raw(
    app: &TestApp,
    path: &str,
    content_type: Option<&str>,
    bearer: Option<&str>,
    body: Vec<u8>,
) -> (u16, Value) {
    let mut req = app.http.post(format!("{}{path}", app.url)).body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    json_of(req.send().await.expect("post")).await
}

fn text_message(channel: &str) -> Value {
    json!({"channel_id": channel, "to": CUSTOMER, "ignore_window": true,
           "message": {"type": "text", "body": "olá"}})
}

/// A tenant with the fixtures' WhatsApp number; returns it and the channel id.
async fn wa_tenant(app: &TestApp) -> (Tenant, String) {
    let t = app.tenant("Loja Ana", None).await;
    let ch = app
        .channel(&t, "whatsapp", WA, Some("102000000000001"))
        .await;
    (t, ch)
}

async fn webhook_signature_attacks_are_401_and_store_nothing(db: Db) {
    let app = spawn_app(db).await;
    app.fixture_tenant().await;
    let before = stored(&app).await;
    let body = fixture("wa-text.json");
    let good = signature::sign(APP_SECRET, &body);
    let hex = &good["sha256=".len()..];
    let other_body = signature::sign(APP_SECRET, b"{\"object\":\"page\",\"entry\":[]}");
    let wrong_secret = signature::sign("not-the-app-secret", &body);
    let mut flipped = hex.as_bytes().to_vec();
    flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
    let flipped = format!("sha256={}", String::from_utf8(flipped).expect("hex"));
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("no header", None, "signature_missing"),
        ("empty header", Some(String::new()), "signature_malformed"),
        (
            "signature of a different body",
            Some(other_body),
            "signature_invalid",
        ),
        (
            "signed with another secret",
            Some(wrong_secret.clone()),
            "signature_invalid",
        ),
        ("one hex digit changed", Some(flipped), "signature_invalid"),
        (
            "sha1= prefix",
            Some(format!("sha1={hex}")),
            "signature_malformed",
        ),
        (
            "uppercase prefix",
            Some(format!("SHA256={hex}")),
            "signature_malformed",
        ),
        ("no prefix", Some(hex.to_string()), "signature_malformed"),
        (
            "truncated",
            Some(good[..good.len() - 1].to_string()),
            "signature_malformed",
        ),
        ("too long", Some(format!("{good}00")), "signature_malformed"),
        (
            "not hex",
            Some(format!("sha256={}", "z".repeat(64))),
            "signature_malformed",
        ),
        (
            "two in one header",
            Some(format!("{good},{wrong_secret}")),
            "signature_malformed",
        ),
        (
            "two in one header, good last",
            Some(format!("{wrong_secret},{good}")),
            "signature_malformed",
        ),
        (
            "uppercase hex of a wrong signature",
            Some(
                wrong_secret
                    .to_ascii_uppercase()
                    .replacen("SHA256", "sha256", 1),
            ),
            "signature_invalid",
        ),
    ];
    for (what, sig, code) in &cases {
        let mut req = app
            .http
            .post(format!("{}/webhooks/meta", app.url))
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(s) = sig {
            req = req.header("x-hub-signature-256", s);
        }
        let (s, v) = json_of(req.send().await.expect("post")).await;
        assert_eq!((s, v["code"].as_str()), (401, Some(*code)), "{what}: {v}");
    }
    // Two signature headers, the good one first or last: refused, whichever a proxy keeps.
    for order in [[&good, &wrong_secret], [&wrong_secret, &good]] {
        let (s, v) = json_of(
            app.http
                .post(format!("{}/webhooks/meta", app.url))
                .header("x-hub-signature-256", order[0].as_str())
                .header("x-hub-signature-256", order[1].as_str())
                .body(body.clone())
                .send()
                .await
                .expect("post"),
        )
        .await;
        assert_eq!(
            (s, v["code"].as_str()),
            (401, Some("signature_malformed")),
            "two headers: {v}"
        );
    }
    // A header that is not ASCII at all.
    let (s, v) = json_of(
        app.http
            .post(format!("{}/webhooks/meta", app.url))
            .header(
                "x-hub-signature-256",
                reqwest::header::HeaderValue::from_bytes("sha256=ção".as_bytes()).expect("bytes"),
            )
            .body(body.clone())
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (401, Some("signature_malformed")),
        "{v}"
    );
    // The good signature over the body with one byte appended.
    let mut tampered = body.clone();
    tampered.push(b' ');
    assert_eq!(app.post_webhook_signed(&tampered, Some(&good)).await, 401);
    let refused = cases.len() as f64 + 4.0;
    assert_eq!(stored(&app).await, before, "nothing stored");
    assert_eq!(
        app.metric("metabridge_webhooks_rejected_total").await,
        refused
    );
    // Control: the same body with its own signature (uppercase hex is the same digest).
    let upper = format!("sha256={}", hex.to_ascii_uppercase());
    assert_eq!(app.post_webhook_signed(&body, Some(&upper)).await, 200);
    assert_eq!(app.count("SELECT COUNT(*) FROM webhook_log").await, 1);
    app.stop().await;
}

async fn oversized_bodies_are_413_and_store_nothing(db: Db) {
    let app = spawn_app_with(db, |c| c.max_body_bytes = 64 * 1024).await;
    let (t, ch) = wa_tenant(&app).await;
    let before = stored(&app).await;
    // A fresh connection per request: a refused body is left unread and the server closes.
    let fresh = || {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client")
    };
    let chunked = |total: usize| {
        futures_util::stream::iter(
            (0..total / 4096).map(|_| Ok::<_, std::io::Error>(vec![b' '; 4096])),
        )
    };
    // Webhooks, correctly signed: declared over the limit, then streamed over it.
    let mut big = br#"{"object":"whatsapp_business_account","entry":[],"pad":""#.to_vec();
    big.extend(std::iter::repeat_n(b'x', 70 * 1024));
    big.extend(br#""}"#);
    let sig = signature::sign(APP_SECRET, &big);
    let (s, v) = json_of(
        fresh()
            .post(format!("{}/webhooks/meta", app.url))
            .header("x-hub-signature-256", &sig)
            .body(big.clone())
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (413, Some("payload_too_large")),
        "{v}"
    );
    let streamed = fresh()
        .post(format!("{}/webhooks/meta", app.url))
        .header("x-hub-signature-256", &sig)
        .body(reqwest::Body::wrap_stream(chunked(1024 * 1024)))
        .send()
        .await;
    // The server may answer and close before the client has sent everything: the client
    // then sees the connection closed instead of the answer, which is just as good.
    if let Ok(r) = streamed {
        let (s, v) = json_of(r).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (413, Some("payload_too_large")),
            "{v}"
        );
    }
    // /v1 and admin JSON bodies, both ways.
    let mut msg = text_message(&ch);
    msg["message"]["body"] = json!("a".repeat(70 * 1024));
    let msg = serde_json::to_vec(&msg).expect("json");
    for (path, bearer) in [
        ("/v1/messages", app.jwt(&t)),
        ("/admin/v1/instances", ADMIN.to_string()),
    ] {
        let (s, v) = json_of(
            fresh()
                .post(format!("{}{path}", app.url))
                .bearer_auth(&bearer)
                .header("content-type", "application/json")
                .body(msg.clone())
                .send()
                .await
                .expect("post"),
        )
        .await;
        assert_eq!(
            (s, v["code"].as_str()),
            (413, Some("payload_too_large")),
            "{path} declared: {v}"
        );
        let streamed = fresh()
            .post(format!("{}{path}", app.url))
            .bearer_auth(&bearer)
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(chunked(1024 * 1024)))
            .send()
            .await;
        if let Ok(r) = streamed {
            let (s, v) = json_of(r).await;
            assert_eq!(
                (s, v["code"].as_str()),
                (413, Some("payload_too_large")),
                "{path} streamed: {v}"
            );
        }
    }
    assert_eq!(stored(&app).await, before, "nothing stored");
    wait_until(
        Duration::from_secs(5),
        "webhook rejections counted",
        || async { app.metric("metabridge_webhooks_rejected_total").await == 2.0 },
    )
    .await;
    app.stop().await;
}

async fn nested_invalid_and_mistyped_bodies_are_refused_and_store_nothing(db: Db) {
    let app = spawn_app(db).await;
    let (t, ch) = wa_tenant(&app).await;
    let before = stored(&app).await;
    let deep = vec![b'['; 100_000];
    let deep_inside = {
        let mut b = br#"{"object":"page","entry":"#.to_vec();
        b.extend(std::iter::repeat_n(b'[', 100_000));
        b.extend(std::iter::repeat_n(b']', 100_000));
        b.push(b'}');
        b
    };
    let invalid_utf8 = b"{\"object\":\"page\",\"entry\":[\"\xff\xfe\xc3\x28\"]}".to_vec();
    // Unsigned: refused before anything reads them.
    for (what, body, ct) in [
        ("100k [", deep.clone(), "application/json"),
        (
            "nested inside a valid object",
            deep_inside.clone(),
            "application/json",
        ),
        ("invalid UTF-8", invalid_utf8.clone(), "application/json"),
        ("text/plain", fixture("wa-text.json"), "text/plain"),
        (
            "form",
            b"object=page&entry=1".to_vec(),
            "application/x-www-form-urlencoded",
        ),
        (
            "multipart",
            b"--x\r\n\r\n--x--".to_vec(),
            "multipart/form-data; boundary=x",
        ),
    ] {
        let (s, v) = post_raw(&app, "/webhooks/meta", Some(ct), None, body).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (401, Some("signature_missing")),
            "{what}: {v}"
        );
    }
    assert_eq!(stored(&app).await, before);
    // Signed by Meta but unparseable: acknowledged (Meta would retry it forever), recorded as
    // malformed (digest and reason only), no event, no idempotency key. No stack overflow.
    for body in [&deep, &deep_inside, &invalid_utf8] {
        assert_eq!(app.post_webhook(body).await, 200);
    }
    let [log, events, malformed, ..] = stored(&app).await;
    assert_eq!((log, events, malformed), (0, 0, 3));
    // /v1 and admin JSON: 400 invalid_request, nothing queued or created.
    let token = app.jwt(&t);
    let mut wrapped = text_message(&ch).to_string().into_bytes();
    wrapped.pop();
    wrapped.extend(br#","extra":"#);
    wrapped.extend(std::iter::repeat_n(b'[', 100_000));
    wrapped.extend(std::iter::repeat_n(b']', 100_000));
    wrapped.push(b'}');
    let mut bad_utf8 = text_message(&ch).to_string().into_bytes();
    let at = bad_utf8.len() - 3;
    bad_utf8.splice(at..at, [0xff, 0xfe]);
    let good = text_message(&ch).to_string().into_bytes();
    for (path, bearer) in [
        ("/v1/messages", token.as_str()),
        ("/admin/v1/instances", ADMIN),
    ] {
        for (what, body, ct) in [
            ("100k [", deep.clone(), Some("application/json")),
            ("nested field", wrapped.clone(), Some("application/json")),
            ("invalid UTF-8", bad_utf8.clone(), Some("application/json")),
            ("text/plain", good.clone(), Some("text/plain")),
            (
                "form",
                b"channel_id=x".to_vec(),
                Some("application/x-www-form-urlencoded"),
            ),
            ("xml", b"<message/>".to_vec(), Some("application/xml")),
            ("no content type", good.clone(), None),
            ("empty", Vec::new(), Some("application/json")),
            ("json null", b"null".to_vec(), Some("application/json")),
            ("json array", b"[]".to_vec(), Some("application/json")),
        ] {
            let (s, v) = post_raw(&app, path, ct, Some(bearer), body).await;
            assert_eq!(
                (s, v["code"].as_str()),
                (400, Some("invalid_request")),
                "{path} {what}: {v}"
            );
        }
    }
    let after = stored(&app).await;
    assert_eq!(
        (after[3], after[4], after[5]),
        (before[3], before[4], before[5])
    );
    app.stop().await;
}

/// Reads until the server closes the connection (or `limit` passes); what it sent, and when
/// it closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Option<Duration>) {
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        match tokio::time::timeout(limit - started.elapsed(), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (
                    String::from_utf8_lossy(&seen).into(),
                    Some(started.elapsed()),
                );
            }
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    (String::from_utf8_lossy(&seen).into(), None)
}

/// Sends `head` one byte every `every` until the server closes the connection; how long that
/// took and what it answered.
async fn trickle(
    stream: &mut TcpStream,
    head: &[u8],
    every: Duration,
    limit: Duration,
) -> (String, Option<Duration>) {
    let started = Instant::now();
    for b in head.iter().cycle() {
        if started.elapsed() > limit {
            return (String::new(), None);
        }
        if stream.write_all(&[*b]).await.is_err() {
            break;
        }
        // Did the server answer or close meanwhile?
        let mut buf = [0u8; 1024];
        match tokio::time::timeout(every, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                let (rest, _) = read_until_closed(stream, Duration::from_secs(2)).await;
                return (
                    format!("{}{rest}", String::from_utf8_lossy(&buf[..n])),
                    Some(started.elapsed()),
                );
            }
            Err(_) => {}
        }
    }
    (String::new(), Some(started.elapsed()))
}

fn addr(app: &TestApp) -> String {
    app.url.trim_start_matches("http://").to_string()
}

/// Slack of the slow-client bounds. Lower: the client's clock starts when `connect` returns,
/// the server's may have started a little before (accept); 100 ms covers it, so "never cut
/// off before the timeout" holds. Upper: how late the server's cut may be observed on a loaded
/// 2-core machine (debug build, the whole suite in parallel: timer wake-ups and the client's
/// reads are delayed by scheduling); 4 s. A server that never cuts is caught by the 10 s
/// limit of `trickle` / `read_until_closed`.
const CLOCK_SKEW: Duration = Duration::from_millis(100);
const LOADED_MARGIN: Duration = Duration::from_secs(4);

/// The peer has not closed `s` (no EOF, no error, nothing to read right now).
fn still_open(s: &TcpStream) -> bool {
    let mut buf = [0u8; 1];
    matches!(s.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

async fn slow_headers_are_cut_off_after_the_header_timeout(db: Db) {
    let header = Duration::from_millis(1_000);
    let app = spawn_app_with(db, |c| c.http_timeouts.header = header).await;
    let before = stored(&app).await;
    let head = b"POST /webhooks/meta HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: sha256=00\r\nX-Pad-0123456789: 0123456789012345678901234567890123456789\r\n";
    // 1. A request head sent one byte every 300 ms: cut off after the header timeout.
    let mut slow = TcpStream::connect(addr(&app)).await.expect("connect");
    let (answer, closed) = trickle(
        &mut slow,
        head,
        Duration::from_millis(300),
        Duration::from_secs(10),
    )
    .await;
    let closed = closed.expect("the server closed the slow client");
    eprintln!("slow head: closed after {closed:?}");
    assert!(
        closed >= header - CLOCK_SKEW && closed < header + LOADED_MARGIN,
        "closed after {closed:?}"
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer:?}"
    );
    // 2. A connection that never sends a byte: closed after the header timeout too.
    let mut silent = TcpStream::connect(addr(&app)).await.expect("connect");
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(10)).await;
    let closed = closed.expect("the server closed the silent client");
    eprintln!("silent: closed after {closed:?}");
    assert!(
        closed >= header - CLOCK_SKEW && closed < header + LOADED_MARGIN,
        "{closed:?}"
    );
    // 3. A keep-alive connection whose second request head trickles: the same.
    let mut kept = TcpStream::connect(addr(&app)).await.expect("connect");
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 1024];
    let n = kept.read(&mut buf).await.expect("read");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let (_, closed) = trickle(
        &mut kept,
        head,
        Duration::from_millis(300),
        Duration::from_secs(10),
    )
    .await;
    let closed = closed.expect("the server closed the slow keep-alive client");
    eprintln!("slow keep-alive head: closed after {closed:?}");
    assert!(closed < header + LOADED_MARGIN, "{closed:?}");
    // Afterwards the service answers (that it answers while idle clients hold connections is
    // `thousands_of_idle_connections…`, checked without a clock).
    let r = app
        .http
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(stored(&app).await, before, "nothing stored");
    app.stop().await;
}

async fn slow_bodies_get_408_after_the_body_timeout_and_store_nothing(db: Db) {
    let app = spawn_app_with(db, |c| {
        c.http_timeouts.header = Duration::from_secs(5);
        c.http_timeouts.body = Duration::from_millis(1_000);
    })
    .await;
    let (t, ch) = wa_tenant(&app).await;
    let before = stored(&app).await;
    let webhook = fixture("wa-text.json");
    let sig = signature::sign(APP_SECRET, &webhook);
    let message = text_message(&ch).to_string().into_bytes();
    let token = app.jwt(&t);
    let cases: Vec<(&str, String, Vec<u8>)> = vec![
        (
            "webhook, Content-Length",
            format!(
                "POST /webhooks/meta HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Hub-Signature-256: {sig}\r\nContent-Length: {}\r\n\r\n",
                webhook.len()
            ),
            webhook.clone(),
        ),
        (
            "webhook, chunked",
            format!(
                "POST /webhooks/meta HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: {sig}\r\nTransfer-Encoding: chunked\r\n\r\n"
            ),
            // One 1-byte chunk at a time.
            webhook
                .iter()
                .flat_map(|b| [b'1', b'\r', b'\n', *b, b'\r', b'\n'])
                .collect(),
        ),
        (
            "/v1/messages",
            format!(
                "POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                message.len()
            ),
            message.clone(),
        ),
    ];
    for (what, head, body) in cases {
        let mut conn = TcpStream::connect(addr(&app)).await.expect("connect");
        conn.write_all(head.as_bytes()).await.expect("head");
        let started = Instant::now();
        let (answer, closed) = trickle(
            &mut conn,
            &body,
            Duration::from_millis(200),
            Duration::from_secs(10),
        )
        .await;
        let closed = closed.expect("answered and closed");
        eprintln!("{what}: 408 after {closed:?}");
        assert!(answer.starts_with("HTTP/1.1 408"), "{what}: {answer:?}");
        assert!(
            answer.contains(r#""code":"request_timeout""#),
            "{what}: {answer:?}"
        );
        assert!(
            started.elapsed() >= Duration::from_millis(1_000) - CLOCK_SKEW
                && closed < Duration::from_millis(1_000) + LOADED_MARGIN,
            "{what}: answered after {closed:?}"
        );
    }
    assert_eq!(stored(&app).await, before, "nothing stored");
    assert_eq!(app.metric("metabridge_webhooks_rejected_total").await, 2.0);
    // A body sent in time is fine.
    assert_eq!(app.post_webhook(&webhook).await, 200);
    app.stop().await;
}

async fn thousands_of_idle_connections_neither_block_service_nor_stay_open(db: Db) {
    const IDLE: usize = 2_000;
    // Long enough that opening the connections and the checks finish well inside it on a
    // loaded machine (opening took under 1 s here); whether they did is checked, not timed.
    let header = Duration::from_secs(10);
    let app = spawn_app_with(db, |c| c.http_timeouts.header = header).await;
    let (t, _) = wa_tenant(&app).await;
    let target = addr(&app);
    let opened = Instant::now();
    let mut idle: Vec<TcpStream> = futures_util::stream::iter(0..IDLE)
        .map(|_| {
            let target = target.clone();
            async move { TcpStream::connect(target).await.expect("connect") }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let open_took = opened.elapsed();
    // While they are open: health, a webhook and a /v1 call answer promptly.
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let started = Instant::now();
        let r = app
            .http
            .get(format!("{}/healthz", app.url))
            .send()
            .await
            .expect("healthz");
        assert_eq!(r.status().as_u16(), 200);
        slowest = slowest.max(started.elapsed());
    }
    let started = Instant::now();
    assert_eq!(app.post_webhook(&fixture("wa-text.json")).await, 200);
    let webhook_took = started.elapsed();
    let started = Instant::now();
    let (s, _) = app.v1(&t, reqwest::Method::GET, "/v1/channels").await;
    assert_eq!(s, 200);
    let v1_took = started.elapsed();
    // The idle ones were all still open while the service answered: it did not need them
    // gone to serve (counted, not timed).
    let open_now = idle.iter().filter(|s| still_open(s)).count();
    assert_eq!(
        open_now, IDLE,
        "idle connections still open after the checks (healthz {slowest:?}, webhook {webhook_took:?}, /v1 {v1_took:?})"
    );
    // …and all are closed by the server after the header timeout.
    let reading = Instant::now();
    let closed: Vec<Option<Duration>> = futures_util::stream::iter(idle.iter_mut())
        .map(|s| async move { read_until_closed(s, header + LOADED_MARGIN * 2).await.1 })
        .buffer_unordered(IDLE)
        .collect()
        .await;
    let open_left = closed.iter().filter(|c| c.is_none()).count();
    assert_eq!(open_left, 0, "connections the server never closed");
    let all_closed = opened.elapsed();
    // None before its header timeout (each was opened after `opened`).
    let first_closed =
        (reading - opened) + closed.iter().flatten().min().copied().unwrap_or_default();
    assert!(
        first_closed >= header - CLOCK_SKEW,
        "an idle connection closed after {first_closed:?}, before the header timeout"
    );
    eprintln!(
        "{IDLE} idle connections opened in {open_took:?}; healthz ≤ {slowest:?}, webhook {webhook_took:?}, /v1 {v1_took:?}; all closed {all_closed:?} after opening"
    );
    app.stop().await;
}

async fn jwt_attacks_on_a_send_are_401_and_queue_nothing(db: Db) {
    // The full set (RS256 / EdDSA keys, algorithm confusion, kid games) is `jwt::*`; this is
    // the catalogue's view: the same attacks on the operation that writes, nothing queued.
    let app = spawn_app(db).await;
    let (t, ch) = wa_tenant(&app).await;
    let other = app.tenant("Outra", None).await;
    let now = chrono::Utc::now().timestamp();
    let hs = |alg, claims: Value, secret: &str| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(alg),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("jwt")
    };
    use jsonwebtoken::Algorithm::{HS256, HS384};
    let id = &t.instance_id;
    let good = json!({"iss": id, "aud": "metabridge", "iat": now, "exp": now + 300});
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(good.to_string())
    );
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("no token", None, "token_missing"),
        ("garbage", Some("garbage".into()), "token_invalid"),
        ("alg none", Some(none), "token_invalid"),
        (
            "wrong secret",
            Some(hs(HS256, good.clone(), "guess")),
            "token_invalid",
        ),
        (
            "HS384 with the right secret",
            Some(hs(HS384, good.clone(), &t.secret)),
            "token_invalid",
        ),
        (
            "expired",
            Some(hs(
                HS256,
                json!({"iss": id, "aud": "metabridge", "iat": now - 900, "exp": now - 600}),
                &t.secret,
            )),
            "token_expired",
        ),
        (
            "wrong audience",
            Some(hs(
                HS256,
                json!({"iss": id, "aud": "other", "exp": now + 60}),
                &t.secret,
            )),
            "token_invalid",
        ),
        (
            "no audience",
            Some(hs(HS256, json!({"iss": id, "exp": now + 60}), &t.secret)),
            "token_invalid",
        ),
        (
            "unknown issuer",
            Some(hs(
                HS256,
                json!({"iss": "ins_0000", "aud": "metabridge", "exp": now + 60}),
                &t.secret,
            )),
            "token_invalid",
        ),
        (
            "other instance as issuer, this secret",
            Some(hs(
                HS256,
                json!({"iss": other.instance_id, "aud": "metabridge", "exp": now + 60}),
                &t.secret,
            )),
            "token_invalid",
        ),
        (
            "no expiry",
            Some(hs(
                HS256,
                json!({"iss": id, "aud": "metabridge"}),
                &t.secret,
            )),
            "token_invalid",
        ),
        (
            "lifetime over the cap",
            Some(hs(
                HS256,
                json!({"iss": id, "aud": "metabridge", "iat": now, "exp": now + 86_400}),
                &t.secret,
            )),
            "token_invalid",
        ),
    ];
    for (what, token, code) in &cases {
        let mut req = app
            .http
            .post(format!("{}/v1/messages", app.url))
            .json(&text_message(&ch));
        if let Some(tok) = token {
            req = req.bearer_auth(tok);
        }
        let (s, v) = json_of(req.send().await.expect("post")).await;
        assert_eq!((s, v["code"].as_str()), (401, Some(*code)), "{what}: {v}");
        assert!(!v.to_string().contains(&t.secret));
    }
    // Another instance's valid token on this instance's channel: no such channel for it.
    let (s, v) = v1_json(
        &app,
        &other,
        reqwest::Method::POST,
        "/v1/messages",
        Some(text_message(&ch)),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (404, Some("channel_not_found")),
        "{v}"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM messages").await, 0);
    // Control: the right token queues it.
    let (s, v) = v1_json(
        &app,
        &t,
        reqwest::Method::POST,
        "/v1/messages",
        Some(text_message(&ch)),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    app.stop().await;
}

/// The outcomes of the hostile strings: each one stored and read back byte-identical (a 2xx
/// without a read-back is a failure), or refused with a 4xx that names a code; never a 5xx.
/// A lookup by a hostile string ([`Tally::lookup`]) may answer 2xx only with nothing found. Every deviation is collected, so one
/// run reports them all.
#[derive(Default)]
struct Tally {
    stored: usize,
    refused: usize,
    failures: Vec<String>,
}

impl Tally {
    fn check(
        &mut self,
        what: &str,
        payload: &str,
        (s, v): &(u16, Value),
        read_back: Option<&Value>,
    ) {
        if (200..300).contains(s) {
            self.stored += 1;
            match read_back {
                Some(back) if back.as_str() == Some(payload) => {}
                Some(back) => self
                    .failures
                    .push(format!("{what} {payload:?}: read back as {back}")),
                None => self
                    .failures
                    .push(format!("{what} {payload:?}: {s} {v}, but not read back")),
            }
        } else if matches!(*s, 400 | 404 | 409 | 422)
            && v["code"].as_str().is_some_and(|c| !c.is_empty())
        {
            self.refused += 1;
        } else {
            self.failures.push(format!("{what} {payload:?}: {s} {v}"));
        }
    }

    /// A query, path lookup or action naming a hostile string: nothing has that id or value,
    /// so a 2xx must find or touch nothing (an empty `items` list, or a count of 0).
    fn lookup(&mut self, what: &str, payload: &str, (s, v): &(u16, Value)) {
        if (200..300).contains(s) {
            // A list answer (`items`, `events`, `messages`) that is empty, or a count of 0.
            let lists: Vec<&Vec<Value>> = v
                .as_object()
                .map(|o| o.values().filter_map(Value::as_array).collect())
                .unwrap_or_default();
            let nothing = (!lists.is_empty() && lists.iter().all(|l| l.is_empty()))
                || ["replayed", "deleted", "count"]
                    .iter()
                    .any(|k| v[*k].as_u64() == Some(0));
            if nothing {
                self.refused += 1;
            } else {
                self.failures.push(format!(
                    "{what} {payload:?}: {s} {v}: found or touched something"
                ));
            }
        } else {
            self.check(what, payload, &(*s, v.clone()), None);
        }
    }
}

/// A channel's access token as stored (decrypted with the service's own vault).
async fn stored_token(app: &TestApp, channel: &str) -> Value {
    let enc: Option<String> = sqlx::query_scalar("SELECT token_enc FROM channels WHERE id = $1")
        .bind(channel)
        .fetch_one(app.state.store.pool())
        .await
        .expect("token_enc");
    enc.and_then(|e| app.state.vault.decrypt(&e).ok())
        .map_or(Value::Null, Value::String)
}

/// A queued message's stored request body.
async fn stored_body(app: &TestApp, id: &str) -> Value {
    let body: String = sqlx::query_scalar("SELECT body FROM messages WHERE id = $1")
        .bind(id)
        .fetch_one(app.state.store.pool())
        .await
        .expect("stored body");
    serde_json::from_str(&body).expect("json body")
}

/// `v` holds the string `s` somewhere.
fn contains_string(v: &Value, s: &str) -> bool {
    match v {
        Value::String(x) => x == s,
        Value::Array(a) => a.iter().any(|x| contains_string(x, s)),
        Value::Object(o) => o.values().any(|x| contains_string(x, s)),
        _ => false,
    }
}

async fn sql_and_control_characters_are_stored_verbatim_or_refused(db: Db) {
    let app = spawn_app_with(db, |c| c.connect.app_id = Some("1234567890".into())).await;
    let (t, ch) = wa_tenant(&app).await;
    let get = reqwest::Method::GET;
    let mut tally = Tally::default();
    for p in NASTY {
        // Admin: instance name on create and update, channel name, key id, token.
        let r = app
            .admin(
                reqwest::Method::POST,
                "/admin/v1/instances",
                Some(json!({"name": p, "callback_url": app.receiver.url()})),
            )
            .await;
        let back = if r.0 == 201 {
            let id = r.1["instance"]["id"].as_str().expect("id");
            Some(
                app.admin(get.clone(), &format!("/admin/v1/instances/{id}"), None)
                    .await
                    .1["name"]
                    .clone(),
            )
        } else {
            None
        };
        tally.check("instance name", p, &r, back.as_ref());
        let path = format!("/admin/v1/instances/{}", t.instance_id);
        let r = app
            .admin(reqwest::Method::PATCH, &path, Some(json!({"name": p})))
            .await;
        let back = app.admin(get.clone(), &path, None).await.1["name"].clone();
        tally.check("instance rename", p, &r, Some(&back));
        let r = app
            .admin(reqwest::Method::POST, "/admin/v1/channels",
                Some(json!({"instance_id": t.instance_id, "kind": "messenger", "external_id": "105000000000009",
                            "access_token": "EAAG-token", "name": p})))
            .await;
        let back = if r.0 == 201 {
            let id = r.1["id"].as_str().expect("id").to_string();
            let back = v1_json(&app, &t, get.clone(), &format!("/v1/channels/{id}"), None)
                .await
                .1["name"]
                .clone();
            let (s, _) = app
                .admin(
                    reqwest::Method::DELETE,
                    &format!("/admin/v1/channels/{id}"),
                    None,
                )
                .await;
            assert_eq!(s, 204);
            Some(back)
        } else {
            None
        };
        tally.check("channel name", p, &r, back.as_ref());
        for (field, body) in [
            (
                "instance_id",
                json!({"instance_id": p, "kind": "messenger", "external_id": "105000000000008", "access_token": "t"}),
            ),
            (
                "external_id",
                json!({"instance_id": t.instance_id, "kind": "messenger", "external_id": p, "access_token": "t"}),
            ),
            (
                "waba_id",
                json!({"instance_id": t.instance_id, "kind": "whatsapp", "external_id": "106000000000008", "waba_id": p, "access_token": "t"}),
            ),
            (
                "access_token",
                json!({"instance_id": t.instance_id, "kind": "messenger", "external_id": "105000000000008", "access_token": p}),
            ),
        ] {
            let r = app
                .admin(
                    reqwest::Method::POST,
                    "/admin/v1/channels",
                    Some(body.clone()),
                )
                .await;
            let back = if r.0 == 201 {
                let id = r.1["id"].as_str().expect("id").to_string();
                let back = if field == "access_token" {
                    stored_token(&app, &id).await
                } else {
                    app.admin(get.clone(), &format!("/admin/v1/channels/{id}"), None)
                        .await
                        .1[field]
                        .clone()
                };
                app.admin(
                    reqwest::Method::DELETE,
                    &format!("/admin/v1/channels/{id}"),
                    None,
                )
                .await;
                Some(back)
            } else {
                None
            };
            tally.check(&format!("channel {field}"), p, &r, back.as_ref());
        }
        let r = app
            .admin(
                reqwest::Method::POST,
                &format!("/admin/v1/instances/{}/keys", t.instance_id),
                Some(json!({"kid": p, "alg": "EdDSA", "public_key": p})),
            )
            .await;
        tally.check("key", p, &r, None);
        let r = app
            .admin(
                reqwest::Method::PUT,
                &format!("/admin/v1/channels/{ch}/token"),
                Some(json!({"access_token": p})),
            )
            .await;
        let back = (r.0 == 200).then_some(());
        let back = match back {
            Some(()) => Some(stored_token(&app, &ch).await),
            None => None,
        };
        tally.check("token", p, &r, back.as_ref());
        // /v1: every string of a send; the text and the reference are kept as given.
        let mut msg = text_message(&ch);
        msg["client_reference"] = json!(p);
        let r = v1_json(&app, &t, reqwest::Method::POST, "/v1/messages", Some(msg)).await;
        let back = if r.0 == 202 {
            let id = r.1["id"].as_str().expect("id");
            Some(
                v1_json(&app, &t, get.clone(), &format!("/v1/messages/{id}"), None)
                    .await
                    .1["client_reference"]
                    .clone(),
            )
        } else {
            None
        };
        tally.check("client_reference", p, &r, back.as_ref());
        let mut msg = text_message(&ch);
        msg["message"]["body"] = json!(p);
        let r = v1_json(&app, &t, reqwest::Method::POST, "/v1/messages", Some(msg)).await;
        let back = if r.0 == 202 {
            let id = r.1["id"].as_str().expect("id");
            let body: String = sqlx::query_scalar("SELECT body FROM messages WHERE id = $1")
                .bind(id)
                .fetch_one(app.state.store.pool())
                .await
                .expect("stored body");
            let body: Value = serde_json::from_str(&body).expect("json body");
            Some(body["text"]["body"].clone())
        } else {
            None
        };
        tally.check("message text", p, &r, back.as_ref());
        for field in ["to", "channel_id", "reply_to"] {
            let mut msg = text_message(&ch);
            msg[field] = json!(p);
            let r = v1_json(&app, &t, reqwest::Method::POST, "/v1/messages", Some(msg)).await;
            // Accepted, the string is in the stored request as given (`to` and `reply_to`
            // end up in Meta's `to` and `context.message_id`).
            let back = if r.0 == 202 {
                let id = r.1["id"].as_str().expect("id");
                let body = stored_body(&app, id).await;
                Some(if contains_string(&body, p) {
                    json!(p)
                } else {
                    body
                })
            } else {
                None
            };
            tally.check(field, p, &r, back.as_ref());
        }
        let r = v1_json(
            &app,
            &t,
            reqwest::Method::PATCH,
            &format!("/v1/channels/{ch}"),
            Some(json!({"name": p})),
        )
        .await;
        let back = v1_json(&app, &t, get.clone(), &format!("/v1/channels/{ch}"), None)
            .await
            .1["name"]
            .clone();
        tally.check("channel rename", p, &r, Some(&back));
        for body in [
            json!({"kind": "messenger", "return_url": p}),
            json!({"kind": "messenger", "return_url": app.receiver.url(), "locale": p}),
        ] {
            let r = v1_json(
                &app,
                &t,
                reqwest::Method::POST,
                "/v1/connect-sessions",
                Some(body),
            )
            .await;
            let back = if r.0 == 201 {
                let id = r.1["id"].as_str().expect("id");
                let (_, s) = v1_json(
                    &app,
                    &t,
                    get.clone(),
                    &format!("/v1/connect-sessions/{id}"),
                    None,
                )
                .await;
                Some(if s["locale"] == *p || s["return_url"] == *p {
                    json!(p)
                } else {
                    s
                })
            } else {
                None
            };
            tally.check("connect session", p, &r, back.as_ref());
        }
        // Query and path parameters.
        let e = enc(p);
        for path in [
            format!("/v1/events?type={e}"),
            format!("/v1/events?cursor={e}"),
            format!("/v1/events?state={e}"),
            format!("/v1/messages?channel_id={e}"),
            format!("/v1/messages?cursor={e}"),
            format!("/v1/messages/{e}"),
            format!("/v1/events/{e}"),
            format!("/v1/channels/{e}"),
            format!("/v1/channels/{ch}/contacts/{e}"),
            format!("/v1/channels/{ch}/media/{e}"),
            format!("/v1/connect-sessions/{e}"),
        ] {
            let r = v1_json(&app, &t, get.clone(), &path, None).await;
            if path.contains("/contacts/") && r.0 == 200 {
                // A contact's window: the contact as given, no window open (never wrote).
                let ok = r.1["contact"] == *p && r.1["window_open"] == false;
                let seen = if ok { json!(p) } else { r.1.clone() };
                tally.check(&path, p, &r, Some(&seen));
            } else {
                tally.lookup(&path, p, &r);
            }
        }
        for (method, path) in [
            (
                get.clone(),
                format!("/admin/v1/events?instance_id={e}&type={e}"),
            ),
            (get.clone(), format!("/admin/v1/events?cursor={e}")),
            (get.clone(), format!("/admin/v1/audit?instance_id={e}")),
            (get.clone(), format!("/admin/v1/instances/{e}")),
            (get.clone(), format!("/admin/v1/channels/{e}")),
            (get.clone(), format!("/admin/v1/events/{e}")),
            (
                reqwest::Method::POST,
                format!("/admin/v1/events/{e}/replay"),
            ),
            (
                reqwest::Method::POST,
                format!("/admin/v1/dead-letters/replay?instance_id={e}"),
            ),
            (
                reqwest::Method::DELETE,
                format!("/admin/v1/instances/{}/keys/{e}", t.instance_id),
            ),
            (reqwest::Method::DELETE, format!("/admin/v1/instances/{e}")),
            (reqwest::Method::DELETE, format!("/admin/v1/channels/{e}")),
        ] {
            let r = app.admin(method, &path, None).await;
            tally.lookup(&path, p, &r);
        }
    }
    eprintln!(
        "hostile strings: {} stored verbatim, {} refused",
        tally.stored, tally.refused
    );
    assert!(tally.failures.is_empty(), "{}", tally.failures.join("\n"));
    // The tables are all still there, with the tenant's data.
    for sql in [
        "SELECT COUNT(*) FROM events",
        "SELECT COUNT(*) FROM messages",
        "SELECT COUNT(*) FROM webhook_log",
        "SELECT COUNT(*) FROM delivery_attempts",
    ] {
        app.count(sql).await;
    }
    assert!(app.count("SELECT COUNT(*) FROM instances").await >= 1);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM channels WHERE status = 'active'")
            .await,
        1
    );
    // And the pipeline still works.
    assert_eq!(app.post_webhook(&fixture("wa-text.json")).await, 200);
    assert_eq!(app.count("SELECT COUNT(*) FROM webhook_log").await, 1);
    app.stop().await;
}

const TRAVERSALS: &[&str] = &[
    "../../me",
    "..",
    "%2e%2e%2f",
    "..%2F..%2Fme",
    "/",
    "1/messages",
    "1?fields=access_token",
    "1#x",
    "1%3Ffields%3Dx",
    "me",
    "1\\..\\2",
    "１２３",
    "123 ",
    "0x1f",
];

async fn path_traversal_in_media_ids_and_path_parameters_is_refused(db: Db) {
    // The Graph API is a closed port: had the bridge called it, the answers would be 502.
    let app = spawn_app(db).await;
    let (t, ch) = wa_tenant(&app).await;
    let post = reqwest::Method::POST;
    for id in TRAVERSALS {
        for (message, field) in [
            (json!({"type": "image", "media_id": id}), "message.media_id"),
            (
                json!({"type": "document", "media_id": id, "filename": "a.pdf"}),
                "message.media_id",
            ),
            (
                json!({"type": "buttons", "body": "b", "header": {"type": "image", "media_id": id},
                       "buttons": [{"id": "a", "title": "A"}]}),
                "message.header.media_id",
            ),
        ] {
            let body = json!({"channel_id": ch, "to": CUSTOMER, "ignore_window": true, "message": message});
            let (s, v) = v1_json(&app, &t, post.clone(), "/v1/messages", Some(body)).await;
            assert_eq!(
                (s, v["code"].as_str(), v["field"].as_str()),
                (422, Some("validation_failed"), Some(field)),
                "{id:?}: {v}"
            );
        }
        // The download route's path parameter, percent-encoded, and raw for the ids shaped
        // as paths. (Raw, the client's URL parser turns `1?x`, `1#x`, `1\..\2` and `123 `
        // into requests for media `1`, `2` or `123`: not attacks on the server's path.)
        let mut paths = vec![format!("/v1/channels/{ch}/media/{}", enc(id))];
        if id.contains(['/', '%']) || *id == ".." {
            paths.push(format!("/v1/channels/{ch}/media/{id}"));
        }
        for path in paths {
            let (s, v) = v1_json(&app, &t, reqwest::Method::GET, &path, None).await;
            // Raw, a `/` or `..` changes the route the client sends (the URL is normalised):
            // another route's 404. Never a Graph call (502) or a success.
            let refused = (s, v["code"].as_str(), v["field"].as_str())
                == (422, Some("validation_failed"), Some("media_id"));
            assert!(refused || s == 404, "{path}: {s} {v}");
            // Percent-encoded, the id reaches the route intact (422), except what poem's
            // router itself turns away (`%2E%2E`: no such endpoint).
            if path.ends_with(&enc(id)) {
                assert!(refused || v["code"] == "not_found", "{path}: {s} {v}");
            }
        }
        // Message, channel and event ids in paths: an id of ours has one shape (`msg_` + 32
        // hex digits…), so these are "no such object" (404, the code naming the object) —
        // or, for `%2E%2E`, no such endpoint at poem's router. Never a Graph call.
        let e = enc(id);
        for (path, code) in [
            (format!("/v1/messages/{e}"), "message_not_found"),
            (format!("/v1/channels/{e}"), "channel_not_found"),
            (
                format!("/v1/channels/{e}/media/1480000000000001"),
                "channel_not_found",
            ),
            (format!("/v1/events/{e}"), "event_not_found"),
        ] {
            let (s, v) = v1_json(&app, &t, reqwest::Method::GET, &path, None).await;
            assert!(
                s == 404 && (v["code"] == code || v["code"] == "not_found"),
                "{path}: {s} {v}"
            );
        }
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM messages").await, 0);
    app.stop().await;
}

const PRIVATE_CALLBACKS: &[&str] = &[
    "https://127.0.0.1/hook",
    "https://127.0.0.1:8443/hook",
    "https://[::1]/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://10.0.0.5/hook",
    "https://172.16.0.1/hook",
    "https://192.168.1.1/hook",
    "https://100.64.0.1/hook",
    "https://0.0.0.0/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:a9fe:a9fe]/hook",
    "https://[fd00::1]/hook",
    "https://[fe80::1]/hook",
    "https://2130706433/hook",
    "https://0x7f000001/hook",
    "https://0177.0.0.1/hook",
    "https://127.1/hook",
    "https://localhost/hook",
    "https://LOCALHOST./hook",
    "https://api.localhost/hook",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://printer.local/hook",
    "http://dsk.example.com/hook",
    "https://user:pass@dsk.example.com/hook",
    "file:///etc/passwd",
    "gopher://dsk.example.com/",
];

async fn private_callback_urls_are_refused_unless_allowed(db: Db) {
    let app = spawn_app_with(db, |c| c.allow_private_callbacks = false).await;
    let (s, v) = app
        .admin(
            reqwest::Method::POST,
            "/admin/v1/instances",
            Some(json!({"name": "Public", "callback_url": "https://dsk.example.com/hook"})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["instance"]["id"].as_str().expect("id").to_string();
    let path = format!("/admin/v1/instances/{id}");
    for url in PRIVATE_CALLBACKS {
        let (s, v) = app
            .admin(
                reqwest::Method::POST,
                "/admin/v1/instances",
                Some(json!({"name": "SSRF", "callback_url": url})),
            )
            .await;
        assert_eq!(
            (s, v["code"].as_str(), v["field"].as_str()),
            (422, Some("validation_failed"), Some("callback_url")),
            "create {url}: {v}"
        );
        let (s, v) = app
            .admin(
                reqwest::Method::PATCH,
                &path,
                Some(json!({"callback_url": url})),
            )
            .await;
        assert_eq!(
            (s, v["field"].as_str()),
            (422, Some("callback_url")),
            "update {url}: {v}"
        );
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM instances").await, 1);
    let (_, v) = app.admin(reqwest::Method::GET, &path, None).await;
    assert_eq!(v["callback_url"], "https://dsk.example.com/hook");
    app.stop().await;
    // With METABRIDGE_ALLOW_PRIVATE_CALLBACKS (dev mode, tests) the same URLs are accepted.
    let app = spawn_app(db).await;
    let (s, v) = app
        .admin(
            reqwest::Method::POST,
            "/admin/v1/instances",
            Some(json!({"name": "Local", "callback_url": "http://127.0.0.1:9/hook"})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    app.stop().await;
}

async fn callback_host_resolving_to_a_private_address_is_refused_at_delivery(db: Db) {
    // `dsk.rebind.test` looks public when the instance is created, and later resolves to
    // 127.0.0.1 (DNS rebinding): the delivery client's resolver drops the private address.
    let app = spawn_app_with(db, |c| {
        c.allow_private_callbacks = false;
        c.callback_dns_overrides =
            vec![("dsk.rebind.test".into(), "127.0.0.1".parse().expect("ip"))];
    })
    .await;
    let port = app
        .receiver
        .url()
        .rsplit(':')
        .next()
        .and_then(|p| p.split('/').next())
        .unwrap_or("80")
        .to_string();
    let (s, v) = app
        .admin(reqwest::Method::POST, "/admin/v1/instances",
            Some(json!({"name": "Rebind", "callback_url": format!("https://dsk.rebind.test:{port}/hook")})))
        .await;
    assert_eq!(s, 201, "accepted when stored: {v}");
    let t = Tenant {
        instance_id: v["instance"]["id"].as_str().expect("id").into(),
        secret: v["signing_secret"].as_str().expect("secret").into(),
    };
    app.channel(&t, "whatsapp", WA, Some("102000000000001"))
        .await;
    assert_eq!(app.post_webhook(&fixture("wa-text.json")).await, 200);
    let store = &app.state.store;
    wait_until(Duration::from_secs(10), "two refused attempts", || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM delivery_attempts")
            .fetch_one(store.pool())
            .await
            .is_ok_and(|n| n >= 2)
    })
    .await;
    let errors: Vec<Option<String>> = sqlx::query_scalar("SELECT error FROM delivery_attempts")
        .fetch_all(store.pool())
        .await
        .expect("attempts");
    assert!(
        errors
            .iter()
            .all(|e| e.as_deref() == Some("callback host resolves to a private address")),
        "{errors:?}"
    );
    let (s, v) = app
        .admin(reqwest::Method::GET, "/admin/v1/events", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["events"][0]["state"], "pending", "retried as usual: {v}");
    assert!(
        app.receiver.state.received().is_empty(),
        "nothing reached 127.0.0.1"
    );
    app.stop().await;
}

async fn malformed_idempotency_keys_are_400_and_queue_nothing(db: Db) {
    let app = spawn_app(db).await;
    let (t, ch) = wa_tenant(&app).await;
    let send = |keys: Vec<reqwest::header::HeaderValue>| {
        let mut req = app
            .http
            .post(format!("{}/v1/messages", app.url))
            .bearer_auth(app.jwt(&t))
            .json(&text_message(&ch));
        for k in keys {
            req = req.header("idempotency-key", k);
        }
        async move { json_of(req.send().await.expect("post")).await }
    };
    let hv = |s: &str| reqwest::header::HeaderValue::from_str(s).expect("header");
    let cases: Vec<(&str, Vec<reqwest::header::HeaderValue>)> = vec![
        ("256 characters", vec![hv(&"k".repeat(256))]),
        ("4,000 characters", vec![hv(&"k".repeat(4_000))]),
        ("empty", vec![hv("")]),
        ("a space", vec![hv("key with space")]),
        ("a tab", vec![hv("key\twith-tab")]),
        (
            "UTF-8",
            vec![reqwest::header::HeaderValue::from_bytes("chavé-😀".as_bytes()).expect("bytes")],
        ),
        (
            "Latin-1 byte",
            vec![reqwest::header::HeaderValue::from_bytes(b"key-\xe9").expect("bytes")],
        ),
        ("two headers", vec![hv("first"), hv("second")]),
    ];
    for (what, keys) in cases {
        let (s, v) = send(keys).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (400, Some("idempotency_key_invalid")),
            "{what}: {v}"
        );
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM messages").await, 0);
    // Control: 255 visible characters are a key; the retry returns the same message.
    let key = "k".repeat(254) + "!";
    let (s, first) = send(vec![hv(&key)]).await;
    assert_eq!(s, 202, "{first}");
    let (s, again) = send(vec![hv(&key)]).await;
    assert_eq!((s, &again["id"]), (200, &first["id"]));
    assert_eq!(app.count("SELECT COUNT(*) FROM messages").await, 1);
    app.stop().await;
}

both_backends!(metrics_token_guards_the_metrics_when_set);

/// `/metrics` tells who sends how much (counts per reason, backlog ages): with
/// `METABRIDGE_METRICS_TOKEN` set, only a scraper with that bearer token reads it (issue 17
/// item 11); without one, `401 token_missing`, with another `401 token_invalid`, and neither
/// answer holds a metric. Unset, it stays open (the other tests read it so).
async fn metrics_token_guards_the_metrics_when_set(db: Db) {
    const TOKEN: &str = "scrape-token-0123456789";
    let app = spawn_app_with(db, |c| {
        c.metrics_token = Some(metabridge::config::Secret::new(TOKEN));
    })
    .await;
    let get = |token: Option<&'static str>| {
        let mut req = app.http.get(format!("{}/metrics", app.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let r = req.send().await.expect("metrics");
            let status = r.status().as_u16();
            (status, r.text().await.expect("text"))
        }
    };
    let (status, body) = get(None).await;
    assert_eq!(status, 401, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("an error body");
    assert_eq!(v["code"], "token_missing");
    let (status, body) = get(Some("scrape-token-wrong-000000")).await;
    assert_eq!(status, 401, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("an error body");
    assert_eq!(v["code"], "token_invalid");
    assert!(!body.contains("metabridge_"), "no metric in a refusal");
    let (status, body) = get(Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("metabridge_webhooks_received_total"),
        "{body}"
    );
    app.stop().await;
}

both_backends!(failed_admin_tokens_are_limited_per_client_address);

/// Guessing the admin token (issue 17 item 8): after ten failed attempts from one address in a
/// minute, every admin request from it is `429 rate_limited` with `Retry-After` — the right
/// token too, since it is no longer compared — while another address (127.0.0.2 here, same
/// loopback) is unaffected.
async fn failed_admin_tokens_are_limited_per_client_address(db: Db) {
    let app = spawn_app(db).await;
    let list = |client: &reqwest::Client, token: &'static str| {
        let req = client
            .get(format!("{}/admin/v1/instances", app.url))
            .bearer_auth(token);
        async move {
            let r = req.send().await.expect("admin request");
            let retry = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            (status, retry, body)
        }
    };
    let (status, _, _) = list(&app.http, ADMIN).await;
    assert_eq!(status, 200, "the right token, before any failure");
    for i in 0..10 {
        let (status, _, body) = list(&app.http, "admin-token-guess-000000").await;
        assert_eq!(status, 401, "guess {i}: {body}");
    }
    let (status, retry, body) = list(&app.http, "admin-token-guess-000000").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "rate_limited");
    assert!(retry.is_some_and(|s| (1..=60).contains(&s)), "{retry:?}");
    let (status, _, _) = list(&app.http, ADMIN).await;
    assert_eq!(
        status, 429,
        "the right token is not compared from that address"
    );
    let other = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .expect("client");
    let (status, _, _) = list(&other, ADMIN).await;
    assert_eq!(status, 200, "another address");
    app.stop().await;
}

both_backends!(unknown_instance_ids_are_refused_from_memory_after_one_read);

/// Probing with tokens that name an instance that does not exist (issue 17 item 8): the
/// first request with such an id reads the database once; the same id again is refused from
/// memory (`metabridge_unknown_instance_tokens_total{answered_by="cache"}`), for a made-up id
/// and for a deleted instance's id alike, while real instances are unaffected. Every refusal
/// is the same `401 token_invalid` as before. Before, every request read the database
/// (the counter did not exist).
async fn unknown_instance_ids_are_refused_from_memory_after_one_read(db: Db) {
    let app = spawn_app(db).await;
    let real = app.tenant("Real", None).await;
    let made_up = Tenant {
        instance_id: format!("ins_{}", uuid::Uuid::now_v7().simple()),
        secret: "a-secret-nobody-registered".to_string(),
    };
    let by = |how| {
        app.metric_with(
            "metabridge_unknown_instance_tokens_total",
            "answered_by",
            how,
        )
    };
    for i in 0..20 {
        let (status, body) = app.v1(&made_up, reqwest::Method::GET, "/v1/events").await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("token_invalid")),
            "probe {i}: {body}"
        );
    }
    assert_eq!((by("database").await, by("cache").await), (1.0, 19.0));
    // A real instance from the same address: answered as usual.
    let (status, body) = app.v1(&real, reqwest::Method::GET, "/v1/events").await;
    assert_eq!(status, 200, "{body}");
    // A deleted instance's id: one read, then memory.
    let gone = app.tenant("Gone", None).await;
    let (status, _) = app.v1(&gone, reqwest::Method::GET, "/v1/events").await;
    assert_eq!(status, 200);
    let (status, _) = app
        .admin(
            reqwest::Method::DELETE,
            &format!("/admin/v1/instances/{}", gone.instance_id),
            None,
        )
        .await;
    assert!(matches!(status, 200 | 204), "delete: {status}");
    for _ in 0..5 {
        let (status, body) = app.v1(&gone, reqwest::Method::GET, "/v1/events").await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("token_invalid"))
        );
    }
    assert_eq!((by("database").await, by("cache").await), (2.0, 23.0));
    let (status, _) = app.v1(&real, reqwest::Method::GET, "/v1/events").await;
    assert_eq!(status, 200);
    app.stop().await;
}

// --- Unbounded export (issue 17 item 7a) ------------------------------------------------------

/// Creation times of the seeded rows (2023-11-14), far from anything the service writes.
const SEED_BASE_MS: i64 = 1_700_000_000_000;

/// `1..=n` as rows of `s(i)`, in order, on both backends.
fn series(n: usize) -> String {
    format!("WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) ")
}

/// `i` zero-padded to six digits, on both backends (SQLite has no `lpad`, PostgreSQL no `printf`).
const PADDED_I: &str = "substr(CAST(1000000 + i AS TEXT), 2)";

/// Writes `sql` (seed data of this test; the ids in it are the service's own).
async fn seed(pool: &sqlx::AnyPool, sql: String) {
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(pool)
        .await
        .expect("seed rows");
}

/// A seeded channel's id: a permutation of `i` (7919 is prime to 10,007), so that among rows
/// with the same `created_at` the id order differs from the insertion order.
fn seeded_channel_id(i: usize) -> String {
    format!("ch_t{:06}", (i * 7919) % 10_007)
}

fn seeded_session_id(i: usize) -> String {
    format!("cs_t{:06}", (i * 7919) % 10_007)
}

/// Rows of instance `a` interleaved with rows of `b` (every fifth row is `b`'s) in every
/// table the export reads: `channels` channels and `sessions` connect sessions (seven, resp.
/// five, share each `created_at`), `events` events (states cycling pending, enriching, dead,
/// delivered) and `messages` messages, all in insertion order.
async fn seed_export_rows(
    pool: &sqlx::AnyPool,
    (a, b): (&str, &str),
    (channels, sessions, events, messages): (usize, usize, usize, usize),
) {
    let owner = format!("CASE WHEN i % 5 = 0 THEN '{b}' ELSE '{a}' END");
    seed(
        pool,
        format!(
            "{series} INSERT INTO channels (id, instance_id, kind, external_id, name, token_enc, status, created_at, updated_at) \
             SELECT 'ch_t' || substr(CAST(1000000 + ((i * 7919) % 10007) AS TEXT), 2), {owner}, 'whatsapp', 'ext' || {PADDED_I}, \
             'n' || {PADDED_I}, CASE WHEN i % 2 = 0 THEN 'not-a-token' END, 'active', {SEED_BASE_MS} + i / 7, {SEED_BASE_MS} + i \
             FROM s ORDER BY i",
            series = series(channels)
        ),
    )
    .await;
    seed(
        pool,
        format!(
            "{series} INSERT INTO connect_sessions (id, instance_id, kind, flow, link_hash, return_url, state, channel_ids, \
             created_at, updated_at, expires_at, finished_at) \
             SELECT 'cs_t' || substr(CAST(1000000 + ((i * 7919) % 10007) AS TEXT), 2), {owner}, 'whatsapp', 'embedded_signup', \
             'lh' || {PADDED_I}, 'https://dsk.example.com/back', 'completed', '[\"ch_x\"]', {SEED_BASE_MS} + i / 5, \
             {SEED_BASE_MS} + i, {SEED_BASE_MS} + 3600000, {SEED_BASE_MS} + i FROM s ORDER BY i",
            series = series(sessions)
        ),
    )
    .await;
    seed(
        pool,
        format!(
            "{series} INSERT INTO events (id, instance_id, channel_id, channel_external_id, route, conversation, conversation_id, \
             type, idempotency_key, received_at, state, attempts, next_attempt_at, deadline_at) \
             SELECT 'evt_t' || {PADDED_I}, {owner}, 'ch_x', 'ext', 'none', 'conv' || i, 'cv', 'message.received', 'key' || i, \
             {SEED_BASE_MS} + i, CASE i % 4 WHEN 0 THEN 'pending' WHEN 1 THEN 'enriching' WHEN 2 THEN 'dead' ELSE 'delivered' END, \
             i % 3, 9000000000000, 9000000000000 FROM s ORDER BY i",
            series = series(events)
        ),
    )
    .await;
    seed_messages(pool, &owner, messages).await;
}

/// `n` final (`delivered`) messages owned by the SQL expression `owner` (of `i`).
async fn seed_messages(pool: &sqlx::AnyPool, owner: &str, n: usize) {
    seed(
        pool,
        format!(
            "{series} INSERT INTO messages (id, instance_id, channel_id, recipient, type, body, expects_message_id, \
             client_reference, request_hash, state, meta_message_id, attempts, next_attempt_at, created_at, updated_at) \
             SELECT 'msg_t' || {PADDED_I}, {owner}, 'ch_x', '15550001234', 'text', 'secret body ' || i, 1, 'ref' || i, 'h', \
             'delivered', 'wamid.t' || i, i % 3, 0, {SEED_BASE_MS} + i, {SEED_BASE_MS} + i + 1 FROM s ORDER BY i",
            series = series(n)
        ),
    )
    .await;
}

/// The ids of the lines of `record`, in order.
fn ids_of(export: &ExportBody, record: &str) -> Vec<String> {
    export
        .of(record)
        .iter()
        .map(|l| l["id"].as_str().expect("id").to_string())
        .collect()
}

both_backends!(export_of_many_pages_has_every_row_once_in_order_and_nothing_of_another_instance);

/// An instance with more rows than one page (500) of every paged kind — 1,000 channels and 800
/// connect sessions (several per creation time, so pages split ties), 1,100 events (three
/// quarters exportable) and 1,234 messages — interleaved with another instance's (every fifth
/// row). Its export is `application/x-ndjson`, arrives in several chunks, starts with the
/// instance and ends with `end`, and holds each of its rows exactly once in the documented
/// order (channels and sessions by creation time then id, events and messages as inserted),
/// with today's fields and no body, and none of the other instance's rows; the other instance's
/// export the converse. Expected lists are computed here from the seeding formulas, not read
/// back from the database.
async fn export_of_many_pages_has_every_row_once_in_order_and_nothing_of_another_instance(db: Db) {
    const CHANNELS: usize = 1_000;
    const SESSIONS: usize = 800;
    const EVENTS: usize = 1_100;
    const MESSAGES: usize = 1_234;
    let app = spawn_app_with(db, |c| c.run_workers = false).await;
    let a = app.tenant("Export A", None).await;
    let b = app.tenant("Export B", None).await;
    seed_export_rows(
        app.state.store.pool(),
        (&a.instance_id, &b.instance_id),
        (CHANNELS, SESSIONS, EVENTS, MESSAGES),
    )
    .await;
    // Every fifth row is B's.
    let owned = |i: &usize, of_a: bool| i.is_multiple_of(5) != of_a;
    let expected = |of_a: bool| {
        let mut channels: Vec<(i64, String)> = (1..=CHANNELS)
            .filter(|i| owned(i, of_a))
            .map(|i| (SEED_BASE_MS + (i / 7) as i64, seeded_channel_id(i)))
            .collect();
        channels.sort();
        let mut sessions: Vec<(i64, String)> = (1..=SESSIONS)
            .filter(|i| owned(i, of_a))
            .map(|i| (SEED_BASE_MS + (i / 5) as i64, seeded_session_id(i)))
            .collect();
        sessions.sort();
        let events: Vec<String> = (1..=EVENTS)
            .filter(|i| owned(i, of_a) && i % 4 != 3)
            .map(|i| format!("evt_t{i:06}"))
            .collect();
        let messages: Vec<String> = (1..=MESSAGES)
            .filter(|i| owned(i, of_a))
            .map(|i| format!("msg_t{i:06}"))
            .collect();
        (
            channels.into_iter().map(|c| c.1).collect::<Vec<_>>(),
            sessions.into_iter().map(|c| c.1).collect::<Vec<_>>(),
            events,
            messages,
        )
    };
    for (tenant, of_a) in [(&a, true), (&b, false)] {
        let (channels, sessions, events, messages) = expected(of_a);
        let export = app.export(tenant).await;
        assert_eq!(
            export.status,
            200,
            "{}",
            &export.text[..export.text.len().min(500)]
        );
        assert_eq!(export.content_type, "application/x-ndjson");
        assert!(export.chunks > 1, "streamed: {} chunk(s)", export.chunks);
        // One instance line, then each kind in one run, then `end`.
        let mut runs: Vec<&str> = export.kinds();
        runs.dedup();
        assert_eq!(
            runs,
            [
                "instance",
                "channel",
                "connect_session",
                "event",
                "message",
                "end"
            ]
        );
        assert_eq!(export.lines[0]["id"], tenant.instance_id.as_str());
        assert_eq!(ids_of(&export, "channel"), channels);
        assert_eq!(ids_of(&export, "connect_session"), sessions);
        assert_eq!(ids_of(&export, "event"), events);
        assert_eq!(ids_of(&export, "message"), messages);
        assert_eq!(
            export.lines.last().expect("end line"),
            &json!({"record": "end", "counts": {"channels": channels.len(),
                "connect_sessions": sessions.len(), "events": events.len(), "messages": messages.len(),
                "templates": 0, "media_files": 0}})
        );
        let other = if of_a { &b } else { &a };
        assert!(!export.text.contains(other.instance_id.as_str()));
        assert!(!export.text.contains("secret body") && !export.text.contains("not-a-token"));
    }
    // Every field of one seeded row of each kind, as the formulas wrote it (i = 14 for the
    // channel, 12 for the session, 6 for the event and 7 for the message: all A's).
    let export = app.export(&a).await;
    let find = |record: &str, id: &str| {
        (*export
            .of(record)
            .into_iter()
            .find(|l| l["id"] == id)
            .expect("the row"))
        .clone()
    };
    let at = |ms: i64| metabridge::ms_to_rfc3339(SEED_BASE_MS + ms);
    assert_eq!(
        find("channel", &seeded_channel_id(14)),
        json!({"record": "channel", "id": seeded_channel_id(14), "kind": "whatsapp",
            "external_id": "ext000014", "waba_id": null, "name": "n000014", "status": "active",
            "status_reason": null, "rate_limit": null, "token_kind": null, "token_expires_at": null,
            "has_token": true, "created_at": at(2), "updated_at": at(14)})
    );
    assert_eq!(
        find("connect_session", &seeded_session_id(12)),
        json!({"record": "connect_session", "id": seeded_session_id(12), "kind": "whatsapp",
            "flow": "embedded_signup", "state": "completed", "failure_code": null,
            "channel_ids": ["ch_x"], "created_at": at(2), "expires_at": at(3_600_000),
            "finished_at": at(12)})
    );
    assert_eq!(
        find("event", "evt_t000006"),
        json!({"record": "event", "id": "evt_t000006", "type": "message.received", "state": "dead",
            "channel_id": "ch_x", "attempts": 0, "received_at": at(6),
            "next_attempt_at": metabridge::ms_to_rfc3339(9_000_000_000_000)})
    );
    assert_eq!(
        find("message", "msg_t000007"),
        json!({"record": "message", "id": "msg_t000007", "channel_id": "ch_x", "type": "text",
            "status": "delivered", "meta_message_id": "wamid.t7", "client_reference": "ref7",
            "attempts": 1, "error_code": null, "created_at": at(7), "updated_at": at(8)})
    );
    app.stop().await;
}

both_backends!(exporting_100000_messages_keeps_the_service_small);

/// Largest growth of the service's resident memory allowed while it exports 100,000 messages.
const EXPORT_RSS_GROWTH_BOUND: u64 = 64 * 1024 * 1024;

/// An export is as large as the instance: 100,000 messages (27 MB of NDJSON) exported from the
/// real binary (its RSS is the service's alone), read by a client as it arrives. The body holds
/// every message once, in order, and ends with `end`. Seeding and export take about 5 s a backend.
///
/// Bound: the service's RSS may grow by at most 64 MiB ([`EXPORT_RSS_GROWTH_BOUND`]) over its
/// level after a warm-up export, while the export runs (sampled every 10 ms). Against the binary
/// of e6958af (the whole export built in memory, then serialized) the peak grew by 302–340 MB
/// (SQLite) and 311–323 MB (PostgreSQL), 3 runs each: the bound fails it five times over. Paged
/// and streamed: PostgreSQL +0 to +10 MB; SQLite +24 to +32 MB, which is its connections' page
/// caches filling (6 connections × `cache_size` 4 MiB), a ceiling, not a share of the export: 300,000
/// messages grew it by 36–52 MB, and four exports of them in a row peaked at 112–118 MB each.
async fn exporting_100000_messages_keeps_the_service_small(db: Db) {
    const MESSAGES: usize = 100_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let database_url = fresh_database(db, &dir).await;
    let fernet = metabridge::crypto::vault::generate_key();
    // No channel is created through the service, so it never calls the Graph API.
    let mut svc = Replica::new(dir.path(), &database_url, &fernet, "http://127.0.0.1:9");
    svc.start();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .expect("client");
    svc.wait_ready(&http).await;
    let pid = svc.pid().expect("pid");
    let base = svc.base();
    let receiver = start_receiver().await;
    let (instance, secret) = create_instance(&http, &base, "Big", &receiver.url()).await;
    let jwt = instance_jwt(&instance, &secret);
    let store = metabridge::store::Store::open(
        &database_url,
        metabridge::store::StoreOptions {
            sqlite_synchronous_full: false,
            max_connections: 2,
            ..Default::default()
        },
    )
    .await
    .expect("open the service's database");
    let seeding = Instant::now();
    seed_messages(store.pool(), &format!("'{instance}'"), MESSAGES).await;
    let seeded_in = seeding.elapsed();
    store.close().await;

    // Warm up the export path (pool connections, allocator) on a small instance, then measure.
    let (small, small_secret) = create_instance(&http, &base, "Small", &receiver.url()).await;
    let warm = http
        .get(format!("{base}/v1/export"))
        .bearer_auth(instance_jwt(&small, &small_secret))
        .send()
        .await
        .expect("warm-up export");
    assert_eq!(warm.status().as_u16(), 200, "{}", svc.log_text());
    warm.bytes().await.expect("warm-up body");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_bytes(pid);
    assert!(before > 0, "RSS readable");
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            use std::sync::atomic::Ordering;
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(rss_bytes(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let started = Instant::now();
    let resp = http
        .get(format!("{base}/v1/export"))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("export");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut body = Vec::new();
    let mut chunks = 0usize;
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.expect("body chunk"));
        chunks += 1;
    }
    let took = started.elapsed();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    sampler.await.expect("sampler");
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    let growth = peak.saturating_sub(before);
    eprintln!(
        "export of {MESSAGES} messages ({db:?}): {:.1} MB in {chunks} chunks in {:.1} s (seeded in {:.1} s); \
         service RSS {:.1} MB before, peak {:.1} MB (+{:.1} MB; bound +{:.1} MB)",
        body.len() as f64 / 1e6,
        took.as_secs_f64(),
        seeded_in.as_secs_f64(),
        before as f64 / 1e6,
        peak as f64 / 1e6,
        growth as f64 / 1e6,
        EXPORT_RSS_GROWTH_BOUND as f64 / 1e6,
    );

    assert_eq!(status, 200, "{}", svc.log_text());
    assert_eq!(content_type, "application/x-ndjson");
    assert!(chunks > 1, "streamed: {chunks} chunk(s)");
    let text = String::from_utf8(body).expect("UTF-8");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), MESSAGES + 2, "instance, messages, end");
    assert_eq!(lines[0]["record"], "instance");
    for (n, line) in lines[1..=MESSAGES].iter().enumerate() {
        assert_eq!(line["record"], "message");
        assert_eq!(line["id"], format!("msg_t{:06}", n + 1));
    }
    assert_eq!(
        lines[MESSAGES + 1],
        json!({"record": "end", "counts": {"channels": 0, "connect_sessions": 0, "events": 0,
            "messages": MESSAGES, "templates": 0, "media_files": 0}})
    );
    assert!(
        growth <= EXPORT_RSS_GROWTH_BOUND,
        "the service's RSS grew by {:.1} MB exporting (bound {:.1} MB)",
        growth as f64 / 1e6,
        EXPORT_RSS_GROWTH_BOUND as f64 / 1e6
    );
    drop(svc);
}
