//! The conformance corpus (`tests/fixtures/meta/conformance/`, written from Meta's pages) as the
//! oracle for both sides of the Graph API:
//!
//! - **A** `product_requests_match_the_corpus`: every call the product can make is rendered
//!   through the product's own code (`messages::model::render` + `GraphClient`, `OAuthClient`)
//!   against a capture server and compared with the corpus request: method, host, path, query,
//!   auth, content type and body (structure, no key order, no extra keys); it fails too when a
//!   corpus entry of a client method in [`METHODS`] was never rendered.
//! - **B** `every_graph_call_has_a_corpus_entry`: reads the modules of `src/meta/` and
//!   `src/messages/model/content.rs` and fails when a `pub async fn` of the clients or a message
//!   type a channel kind can send has no corpus file (or no entry in this file's tables). A call
//!   waiting for its corpus file would be listed in [`PENDING`] (empty now).
//! - **C** `simulator_answers_as_the_corpus_documents`: every corpus file (whoever wrote it):
//!   its request gets its success answer from `src/sim`, and each `errors[]` case, sent as the
//!   changed request (in the documented state), gets that status and error code.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metabridge::channels::ChannelKind;
use metabridge::messages::model::{SendMessageRequest, content::OutboundMessage, render};
use metabridge::meta::graph::{GraphClient, SendOutcome};
use metabridge::meta::oauth::{AppCredentials, OAuthClient, OAuthEndpoints};
use metabridge::sim::graph::{self as sim, APP_ID, Fault, GraphSim, GraphSimOptions, SimTemplate};
use metabridge::sim::onboarding::accounts::{SimLead, SimLeadForm};
use metabridge::sim::onboarding::tokens::TokenKind;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{Endpoint, Request, Response};
use poem_openapi::types::ParseFromJSON;
use serde_json::{Map, Value, json};

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/meta/conformance"
);
const VERSION: &str = "v25.0";
const APP_SECRET: &str = "conformance-app-secret";
const WA_TOKEN: &str = "EAAConformanceWhatsAppSystemUserToken000001";
const PAGE_TOKEN: &str = "EAAConformancePageToken00000000000000000001";
const BAD_TOKEN: &str = "EAAInvalidConformanceToken0000000000000000";
const PHONE_NUMBER_ID: &str = "106000000000001";
const WABA_ID: &str = "102000000000001";
const PAGE_ID: &str = "105000000000001";
const TO: &str = "5511988887777";
const PSID: &str = "6120000000000001";
const MEDIA_ID: &str = "1480000000000001";
const REDIRECT_URI: &str = "https://bridge.example/connect/facebook/callback";

// =============================================================================================
// Corpus
// =============================================================================================

struct Entry {
    id: String,
    json: Value,
}

fn corpus() -> Vec<Entry> {
    let mut out = Vec::new();
    let dir = std::fs::read_dir(CORPUS).unwrap_or_else(|e| panic!("{CORPUS}: {e}"));
    for item in dir {
        let path = item.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read corpus file");
        let json: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
        let id = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("file name")
            .to_owned();
        assert_eq!(
            json["call"].as_str(),
            Some(id.as_str()),
            "{}: `call` must equal the file name",
            path.display()
        );
        out.push(Entry { id, json });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

fn entry<'a>(all: &'a [Entry], id: &str) -> &'a Entry {
    all.iter()
        .find(|e| e.id == id)
        .unwrap_or_else(|| panic!("no corpus file {id}.json"))
}

/// `"{name}"` / `"{name?}"` → (name, optional).
fn placeholder(v: &Value) -> Option<(&str, bool)> {
    let s = v.as_str()?;
    let inner = s.strip_prefix('{')?.strip_suffix('}')?;
    if inner.is_empty() || inner.contains(['{', '}']) {
        return None;
    }
    Some(match inner.strip_suffix('?') {
        Some(name) => (name, true),
        None => (inner, false),
    })
}

/// May be absent: an optional placeholder, or an object whose every value may be absent.
fn optional(v: &Value) -> bool {
    match v {
        Value::Object(m) => !m.is_empty() && m.values().all(optional),
        v => placeholder(v).is_some_and(|(_, opt)| opt),
    }
}

/// A comma-separated list, split at the commas outside `{…}` (`a,b{c,d}` → `a`, `b{c,d}`).
fn top_level_items(s: &str) -> BTreeSet<&str> {
    let mut out = BTreeSet::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, ch) in s.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.insert(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.insert(&s[start..]);
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Requests: equal structure, no extra keys, arrays item by item.
    Request,
    /// Responses: the corpus keys must be there; extra keys allowed; an array is a list of
    /// items that all match the corpus array's first item.
    Response,
}

/// Compares `actual` with the corpus pattern `want`; every difference is pushed to `errs`.
fn compare(want: &Value, actual: &Value, path: &str, mode: Mode, errs: &mut Vec<String>) {
    if let Some((_, _)) = placeholder(want) {
        let ok = match actual {
            Value::String(s) => !s.is_empty(),
            Value::Number(_) | Value::Bool(_) => true,
            _ => false,
        };
        if !ok {
            errs.push(format!(
                "{path}: corpus has placeholder {want}, got {actual}"
            ));
        }
        return;
    }
    match (want, actual) {
        (Value::Object(w), Value::Object(a)) => {
            for (k, wv) in w {
                let p = format!("{path}.{k}");
                match a.get(k) {
                    Some(av) => compare(wv, av, &p, mode, errs),
                    None if optional(wv) => {}
                    None => errs.push(format!("{p}: missing (corpus: {wv})")),
                }
            }
            if mode == Mode::Request {
                for (k, av) in a {
                    if !w.contains_key(k) {
                        errs.push(format!(
                            "{path}.{k}: not in the corpus (the product sent {av})"
                        ));
                    }
                }
            }
        }
        (Value::Array(w), Value::Array(a)) if mode == Mode::Response && w.len() == 1 => {
            for (i, av) in a.iter().enumerate() {
                compare(&w[0], av, &format!("{path}[{i}]"), mode, errs);
            }
        }
        (Value::Array(w), Value::Array(a)) => {
            if w.len() != a.len() {
                errs.push(format!("{path}: {} items, corpus has {}", a.len(), w.len()));
            }
            for (i, (wv, av)) in w.iter().zip(a).enumerate() {
                compare(wv, av, &format!("{path}[{i}]"), mode, errs);
            }
        }
        (w, a) if w == a => {}
        (w, a) => errs.push(format!("{path}: corpus has {w}, got {a}")),
    }
}

/// Query pairs as a JSON object (a repeated key is an error).
fn query_object(query: &str, errs: &mut Vec<String>) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if out
            .insert(k.to_string(), Value::String(v.to_string()))
            .is_some()
        {
            errs.push(format!("query: `{k}` given twice"));
        }
    }
    out
}

/// Corpus query (array values = comma-separated sets) against the actual query.
fn compare_query(want: &Value, actual: &Map<String, Value>, errs: &mut Vec<String>) {
    let empty = Map::new();
    let want = want.as_object().unwrap_or(&empty);
    for (k, wv) in want {
        let p = format!("query.{k}");
        match (wv, actual.get(k)) {
            (Value::Array(items), Some(Value::String(s))) => {
                let w: BTreeSet<&str> = items.iter().filter_map(Value::as_str).collect();
                let a = top_level_items(s);
                if w != a {
                    errs.push(format!("{p}: corpus has the set {w:?}, got {a:?}"));
                }
            }
            // `{"json": X}`: the parameter is X encoded as JSON (e.g. `filtering`).
            (Value::Object(m), Some(Value::String(s))) if json_param(m).is_some() => {
                match serde_json::from_str::<Value>(s) {
                    Ok(actual) => compare(&m["json"], &actual, &p, Mode::Request, errs),
                    Err(_) => errs.push(format!("{p}: corpus wants JSON, got `{s}`")),
                }
            }
            (wv, Some(av)) => compare(wv, av, &p, Mode::Request, errs),
            (wv, None) if optional(wv) => {}
            (wv, None) => errs.push(format!("{p}: missing (corpus: {wv})")),
        }
    }
    for (k, av) in actual {
        if !want.contains_key(k) {
            errs.push(format!(
                "query.{k}: not in the corpus (the product sent {av})"
            ));
        }
    }
}

/// A corpus query value `{"json": X}`: the parameter carries X encoded as JSON.
fn json_param(m: &Map<String, Value>) -> Option<&Value> {
    if m.len() == 1 { m.get("json") } else { None }
}

/// Path template segments against an actual path.
fn compare_path(want: &str, actual: &str, errs: &mut Vec<String>) {
    let w: Vec<&str> = want.split('/').filter(|s| !s.is_empty()).collect();
    let a: Vec<&str> = actual.split('/').filter(|s| !s.is_empty()).collect();
    if w.len() != a.len() {
        errs.push(format!("path: corpus has {want}, got {actual}"));
        return;
    }
    for (ws, as_) in w.iter().zip(&a) {
        match placeholder(&Value::String((*ws).to_owned())) {
            Some(("version", _)) if *as_ != VERSION => errs.push(format!(
                "path: version segment {as_}, the client is configured with {VERSION}"
            )),
            Some(_) => {}
            None if ws != as_ => {
                errs.push(format!("path: corpus has {want}, got {actual}"));
                return;
            }
            None => {}
        }
    }
}

// =============================================================================================
// Capture server
// =============================================================================================

#[derive(Debug, Clone)]
struct Captured {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Captured {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Capture {
    url: String,
    seen: Arc<Mutex<Vec<Captured>>>,
    /// Woken on every captured request.
    arrived: Arc<tokio::sync::Notify>,
    answer: Arc<Mutex<(u16, String, Vec<u8>)>>,
    _stop: metabridge::shutdown::CancellationToken,
}

struct CaptureEndpoint {
    seen: Arc<Mutex<Vec<Captured>>>,
    arrived: Arc<tokio::sync::Notify>,
    answer: Arc<Mutex<(u16, String, Vec<u8>)>>,
}

impl Endpoint for CaptureEndpoint {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let method = req.method().to_string();
        let path = req.uri().path().to_owned();
        let query = req.uri().query().unwrap_or_default().to_owned();
        let headers = req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        let (_, mut body) = req.split();
        let body = match body.take() {
            Ok(b) => b.into_vec().await.unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        self.seen.lock().expect("lock").push(Captured {
            method,
            path,
            query,
            headers,
            body,
        });
        self.arrived.notify_waiters();
        let (status, ctype, bytes) = self.answer.lock().expect("lock").clone();
        Ok(Response::builder()
            .status(poem::http::StatusCode::from_u16(status).expect("status"))
            .content_type(ctype)
            .body(bytes))
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self._stop.cancel();
    }
}

async fn capture() -> Capture {
    metabridge::crypto::install_tls_provider();
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind capture server");
    let addr = *acceptor.local_addr()[0]
        .as_socket_addr()
        .expect("socket addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let arrived = Arc::new(tokio::sync::Notify::new());
    let answer = Arc::new(Mutex::new((
        200,
        "application/json".to_owned(),
        b"{}".to_vec(),
    )));
    let stop = metabridge::shutdown::CancellationToken::new();
    let endpoint = CaptureEndpoint {
        seen: Arc::clone(&seen),
        arrived: Arc::clone(&arrived),
        answer: Arc::clone(&answer),
    };
    let s = stop.clone();
    tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(endpoint, async move { s.cancelled().await }, None)
            .await;
    });
    Capture {
        url: format!("http://{addr}"),
        seen,
        arrived,
        answer,
        _stop: stop,
    }
}

impl Capture {
    /// Answers the next requests with the corpus's success response (placeholders filled).
    fn answer_with(&self, response: &Value) {
        let status = response["status"].as_u64().unwrap_or(200) as u16;
        let body = fill_response(&response["body"], &self.url);
        *self.answer.lock().expect("lock") = (
            status,
            "application/json".into(),
            serde_json::to_vec(&body).expect("json"),
        );
    }

    fn answer_raw(&self, status: u16, ctype: &str, bytes: &[u8]) {
        *self.answer.lock().expect("lock") = (status, ctype.into(), bytes.to_vec());
    }

    fn take(&self) -> Vec<Captured> {
        std::mem::take(&mut *self.seen.lock().expect("lock"))
    }
}

/// A success body for the product to parse: placeholders become plausible values.
fn fill_response(v: &Value, base: &str) -> Value {
    if let Some((name, _)) = placeholder(v) {
        return match name {
            "media_url" => json!(format!(
                "{base}/media/download?mid={MEDIA_ID}&ext=1&hash=ATx"
            )),
            "file_size" | "expires_in" | "expires_at" => json!(5_183_944),
            "access_token" | "page_token" => json!("EAAFilledToken123"),
            _ => json!(format!("{name}-1")),
        };
    }
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), fill_response(v, base)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| fill_response(v, base)).collect()),
        other => other.clone(),
    }
}

/// Parses a `multipart/form-data` body into field → value (a file part → its filename).
fn multipart_fields(ctype: &str, body: &[u8], errs: &mut Vec<String>) -> Value {
    let Some(boundary) = ctype
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .next()
    else {
        errs.push(format!("content type {ctype} has no boundary"));
        return Value::Null;
    };
    let text = String::from_utf8_lossy(body);
    let mut out = Map::new();
    for part in text.split(&format!("--{boundary}")) {
        let Some((head, value)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let Some(disposition) = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))
        else {
            continue;
        };
        let attr = |key: &str| {
            disposition
                .split(';')
                .filter_map(|p| p.trim().strip_prefix(&format!("{key}=\"")))
                .map(|v| v.trim_end_matches('"').to_owned())
                .next()
        };
        let Some(name) = attr("name") else { continue };
        let value = match attr("filename") {
            Some(filename) => filename,
            None => value.trim_end_matches("\r\n").to_owned(),
        };
        out.insert(name, Value::String(value));
    }
    Value::Object(out)
}

/// Compares one captured request with the corpus request; `role` is the capture server it
/// arrived at.
fn check_request(
    e: &Entry,
    captured: &[Captured],
    role: &str,
    app_token: &str,
    expected_path: Option<&str>,
) -> Vec<String> {
    let mut errs = Vec::new();
    let want = &e.json["request"];
    let [c] = captured else {
        return vec![format!(
            "expected exactly one request at the `{role}` host, got {}",
            captured.len()
        )];
    };
    let want_role = match want["host"].as_str() {
        Some("graph.facebook.com") => "graph.facebook.com",
        Some("graph.instagram.com") => "graph.instagram.com",
        Some("api.instagram.com") => "api.instagram.com",
        Some("{media_url}") => "{media_url}",
        Some("{attachment_url}") => "{attachment_url}",
        other => return vec![format!("request.host {other:?} unknown to the harness")],
    };
    if want_role != role {
        errs.push(format!(
            "host: corpus has {want_role}, the product called {role}"
        ));
    }
    if want["method"].as_str() != Some(c.method.as_str()) {
        errs.push(format!(
            "method: corpus has {}, got {}",
            want["method"], c.method
        ));
    }
    match (want["path"].as_str(), expected_path) {
        (Some("{media_url}" | "{attachment_url}"), Some(p)) if p != c.path => {
            errs.push(format!("path: the media URL's path is {p}, got {}", c.path))
        }
        (Some("{media_url}" | "{attachment_url}"), _) => {}
        (Some(p), _) => compare_path(p, &c.path, &mut errs),
        (None, _) => errs.push("request.path missing in the corpus".into()),
    }
    let mut query = query_object(&c.query, &mut errs);
    let auth_header = c.header("authorization");
    let query_token = query.remove("access_token");
    let auth = match (auth_header, &query_token) {
        (Some(h), None) if h.starts_with("Bearer ") => "bearer",
        (None, Some(_)) => "query",
        (None, None) => "none",
        _ => "mixed",
    };
    let want_auth = want["auth"].as_str().unwrap_or("?");
    let body_ctype = c.header("content-type").unwrap_or_default().to_owned();
    let form_token = want_auth == "form";
    if !form_token && auth != want_auth {
        errs.push(format!(
            "auth: corpus has {want_auth}, the product used {auth}"
        ));
    }
    if e.json["token"] == "app" {
        let expected = format!("Bearer {app_token}");
        if auth_header != Some(expected.as_str()) {
            errs.push("auth: the corpus asks for the app token {app-id}|{app-secret}".into());
        }
    }
    compare_query(&want["query"], &query, &mut errs);
    match want["content_type"].as_str() {
        None => {
            if !c.body.is_empty() {
                errs.push(format!("body: corpus has none, got {} bytes", c.body.len()));
            }
        }
        Some("application/json") => {
            if !body_ctype.starts_with("application/json") {
                errs.push(format!(
                    "content type: corpus has application/json, got {body_ctype}"
                ));
            }
            match serde_json::from_slice::<Value>(&c.body) {
                Ok(body) => compare(&want["body"], &body, "body", Mode::Request, &mut errs),
                Err(e) => errs.push(format!("body: not JSON: {e}")),
            }
        }
        Some("multipart/form-data") => {
            if !body_ctype.starts_with("multipart/form-data") {
                errs.push(format!(
                    "content type: corpus has multipart/form-data, got {body_ctype}"
                ));
            }
            let fields = multipart_fields(&body_ctype, &c.body, &mut errs);
            compare(&want["body"], &fields, "body", Mode::Request, &mut errs);
        }
        Some("application/x-www-form-urlencoded") => {
            if !body_ctype.starts_with("application/x-www-form-urlencoded") {
                errs.push(format!("content type: corpus has a form, got {body_ctype}"));
            }
            let mut form = query_object(&String::from_utf8_lossy(&c.body), &mut errs);
            if form_token && form.remove("access_token").is_none() {
                errs.push("auth: corpus has form, no access_token in the form".into());
            }
            compare(
                &want["body"],
                &Value::Object(form),
                "body",
                Mode::Request,
                &mut errs,
            );
        }
        Some(other) => errs.push(format!("content type {other} unknown to the harness")),
    }
    errs
}

// =============================================================================================
// The product's calls (tables shared by tests A and B)
// =============================================================================================

/// One message the product renders and sends, and the corpus file it must match.
struct SendCase {
    corpus: &'static str,
    kind: ChannelKind,
    message: Value,
    /// Other fields of the request (`tag`, `reply_to`).
    extra: Value,
}

fn send_cases() -> Vec<SendCase> {
    use ChannelKind::{Messenger as FB, Whatsapp as WA};
    let c = |corpus, kind, message| SendCase {
        corpus,
        kind,
        message,
        extra: json!({}),
    };
    let mut cases = vec![
        c(
            "whatsapp.messages.text",
            WA,
            json!({"type": "text", "body": "Olá!"}),
        ),
        c(
            "whatsapp.messages.text",
            WA,
            json!({"type": "text", "body": "https://example.com", "preview_url": true}),
        ),
    ];
    for kind in ["image", "video", "audio", "document", "sticker"] {
        let mut by_id = json!({"type": kind, "media_id": MEDIA_ID});
        let mut by_link = json!({"type": kind, "link": "https://cdn.example.com/f.bin"});
        if matches!(kind, "image" | "video" | "document") {
            by_id["caption"] = json!("caption");
            by_link["caption"] = json!("caption");
        }
        if kind == "document" {
            by_id["filename"] = json!("invoice.pdf");
        }
        let (id_corpus, link_corpus): (&'static str, &'static str) = match kind {
            "image" => ("whatsapp.messages.image_id", "whatsapp.messages.image_link"),
            "video" => ("whatsapp.messages.video_id", "whatsapp.messages.video_link"),
            "audio" => ("whatsapp.messages.audio_id", "whatsapp.messages.audio_link"),
            "document" => (
                "whatsapp.messages.document_id",
                "whatsapp.messages.document_link",
            ),
            _ => (
                "whatsapp.messages.sticker_id",
                "whatsapp.messages.sticker_link",
            ),
        };
        cases.push(c(id_corpus, WA, by_id));
        cases.push(c(link_corpus, WA, by_link));
    }
    cases.extend([
        c(
            "whatsapp.messages.template",
            WA,
            json!({"type": "template", "name": "order_update", "language": "pt_BR",
                   "components": [{"type": "body", "parameters": [{"type": "text", "text": "4411"}]}]}),
        ),
        c(
            "whatsapp.messages.interactive_button",
            WA,
            json!({"type": "buttons", "body": "Confirma?", "footer": "Loja",
                   "buttons": [{"id": "yes", "title": "Sim"}]}),
        ),
        c(
            "whatsapp.messages.interactive_list",
            WA,
            json!({"type": "list", "header": "Menu", "body": "Escolha", "button": "Ver",
                   "sections": [{"title": "Pratos", "rows": [{"id": "r1", "title": "Feijoada", "description": "Sábado"}]}]}),
        ),
        c(
            "whatsapp.messages.interactive_cta_url",
            WA,
            json!({"type": "cta_url", "header": {"type": "text", "text": "Pedido"}, "body": "Acompanhe",
                   "display_text": "Abrir", "url": "https://shop.example.com/o/1"}),
        ),
        c(
            "whatsapp.messages.reaction",
            WA,
            json!({"type": "reaction", "message_id": "wamid.HBgM", "emoji": "👍"}),
        ),
        c(
            "whatsapp.messages.location",
            WA,
            json!({"type": "location", "latitude": -23.56, "longitude": -46.65, "name": "Loja", "address": "Rua A, 1"}),
        ),
        c(
            "whatsapp.messages.contacts",
            WA,
            json!({"type": "contacts", "contacts": [{"name": {"formatted_name": "Ana Souza", "first_name": "Ana"},
                   "phones": [{"phone": "+55 11 98888-7777", "type": "CELL", "wa_id": TO}]}]}),
        ),
        c(
            "whatsapp.messages.mark_read",
            WA,
            json!({"type": "mark_read", "message_id": "wamid.HBgM"}),
        ),
        c(
            "whatsapp.messages.typing_indicator",
            WA,
            json!({"type": "mark_read", "message_id": "wamid.HBgM", "typing_indicator": true}),
        ),
        c("messenger.messages.text", FB, json!({"type": "text", "body": "Oi"})),
        c(
            "messenger.messages.quick_replies",
            FB,
            json!({"type": "text", "body": "Tamanho?",
                   "quick_replies": [{"title": "P", "payload": "size_p"}]}),
        ),
        SendCase {
            corpus: "messenger.messages.tag",
            kind: FB,
            message: json!({"type": "text", "body": "Seu pedido saiu"}),
            extra: json!({"tag": "human_agent"}),
        },
        SendCase {
            corpus: "whatsapp.messages.text",
            kind: WA,
            message: json!({"type": "text", "body": "Respondendo"}),
            extra: json!({"reply_to": "wamid.HBgMquoted"}),
        },
        c(
            "messenger.sender_action.react",
            FB,
            json!({"type": "reaction", "message_id": "m_abc", "emoji": "❤"}),
        ),
        c(
            "messenger.sender_action.unreact",
            FB,
            json!({"type": "reaction", "message_id": "m_abc", "emoji": ""}),
        ),
        c("messenger.sender_action.typing_on", FB, json!({"type": "typing_on"})),
        c("messenger.sender_action.typing_off", FB, json!({"type": "typing_off"})),
        c("messenger.sender_action.mark_seen", FB, json!({"type": "mark_seen"})),
    ]);
    for kind in ["image", "video", "audio", "document"] {
        cases.push(c(
            "messenger.messages.attachment",
            FB,
            json!({"type": kind, "link": "https://cdn.example.com/f.bin"}),
        ));
    }
    // Instagram (Instagram Login: graph.instagram.com; compared in `instagram_calls`).
    use ChannelKind::Instagram as IG;
    cases.extend([
        c(
            "instagram.messages.text",
            IG,
            json!({"type": "text", "body": "Oi"}),
        ),
        c(
            "instagram.sender_action.react",
            IG,
            json!({"type": "reaction", "message_id": "m_abc", "emoji": "❤️"}),
        ),
        c(
            "instagram.sender_action.typing_on",
            IG,
            json!({"type": "typing_on"}),
        ),
        c(
            "instagram.sender_action.typing_off",
            IG,
            json!({"type": "typing_off"}),
        ),
        c(
            "instagram.sender_action.mark_seen",
            IG,
            json!({"type": "mark_seen"}),
        ),
    ]);
    for kind in ["image", "video", "audio", "document"] {
        cases.push(c(
            "instagram.messages.attachment",
            IG,
            json!({"type": kind, "link": "https://cdn.example.com/f.bin"}),
        ));
    }
    cases
}

/// `pub async fn` of the Graph / OAuth clients → the corpus files of the calls it makes.
/// `send_message` is covered per message type by [`send_cases`].
const METHODS: &[(&str, &str, &[&str])] = &[
    ("graph.rs", "send_message", &[]),
    ("graph.rs", "media_info", &["whatsapp.media.get"]),
    ("graph.rs", "download", &["whatsapp.media.download"]),
    (
        "graph.rs",
        "download_attachment",
        &["instagram.attachment.download"],
    ),
    ("graph.rs", "upload_media", &["whatsapp.media.upload"]),
    ("graph.rs", "debug_token", &["oauth.debug_token"]),
    (
        "graph.rs",
        "contact_profile",
        &[
            "instagram.user_profile",
            "instagram.facebook_login.user_profile",
            "messenger.user_profile",
        ],
    ),
    (
        "graph.rs",
        "pass_thread_control",
        &["messenger.pass_thread_control"],
    ),
    (
        "graph.rs",
        "take_thread_control",
        &["messenger.take_thread_control"],
    ),
    (
        "graph.rs",
        "request_thread_control",
        &["messenger.request_thread_control"],
    ),
    ("oauth.rs", "exchange_code", &["oauth.access_token.code"]),
    (
        "oauth.rs",
        "long_lived_user_token",
        &["oauth.access_token.fb_exchange_token"],
    ),
    ("oauth.rs", "debug_token", &["oauth.debug_token"]),
    ("oauth.rs", "me_id", &["graph.me"]),
    ("oauth.rs", "pages", &["graph.me.accounts"]),
    (
        "oauth.rs",
        "phone_numbers",
        &["whatsapp.waba.phone_numbers"],
    ),
    (
        "oauth.rs",
        "message_templates",
        &["whatsapp.waba.message_templates.list"],
    ),
    (
        "oauth.rs",
        "create_message_template",
        &["whatsapp.waba.message_templates.create"],
    ),
    (
        "oauth.rs",
        "delete_message_template",
        &["whatsapp.waba.message_templates.delete"],
    ),
    ("oauth.rs", "fetch_lead", &["leads.lead"]),
    (
        "oauth.rs",
        "fetch_lead_ad_fields",
        &["leads.lead_ad_fields"],
    ),
    (
        "oauth.rs",
        "fetch_form_questions",
        &["leads.form_questions"],
    ),
    ("oauth.rs", "lead_forms", &["leads.page_leadgen_forms"]),
    ("oauth.rs", "form_leads_since", &["leads.form_leads"]),
    (
        "oauth.rs",
        "subscribe_app",
        &[
            "page.subscribed_apps.post",
            "whatsapp.waba.subscribed_apps.post",
        ],
    ),
    (
        "oauth.rs",
        "unsubscribe_app",
        &[
            "page.subscribed_apps.delete",
            "whatsapp.waba.subscribed_apps.delete",
        ],
    ),
    (
        "oauth.rs",
        "subscribed_apps",
        &[
            "page.subscribed_apps.get",
            "whatsapp.waba.subscribed_apps.get",
        ],
    ),
    ("oauth.rs", "register_phone", &["whatsapp.phone.register"]),
    (
        "oauth.rs",
        "set_two_step_pin",
        &["whatsapp.phone.two_step_pin"],
    ),
    ("oauth.rs", "request_code", &["whatsapp.request_code"]),
    ("oauth.rs", "verify_code", &["whatsapp.verify_code"]),
    ("oauth.rs", "smb_app_data", &["whatsapp.smb_app_data"]),
    (
        "oauth.rs",
        "ig_exchange_code",
        &["instagram.oauth.access_token"],
    ),
    (
        "oauth.rs",
        "ig_long_lived",
        &["instagram.access_token.ig_exchange_token"],
    ),
    (
        "oauth.rs",
        "ig_refresh",
        &["instagram.refresh_access_token"],
    ),
    ("oauth.rs", "ig_me", &["instagram.me"]),
    (
        "oauth.rs",
        "ig_subscribe",
        &["instagram.subscribed_apps.post"],
    ),
    (
        "oauth.rs",
        "ig_unsubscribe",
        &["instagram.subscribed_apps.delete"],
    ),
    (
        "oauth.rs",
        "ig_subscribed_apps",
        &["instagram.subscribed_apps.get"],
    ),
    (
        "oauth.rs",
        "app_subscriptions",
        &["graph.app.subscriptions.get"],
    ),
    ("oauth.rs", "phone_status", &["whatsapp.phone.status"]),
    (
        "oauth.rs",
        "page_instagram_account",
        &["page.instagram_business_account"],
    ),
];

/// Calls owned by other helpers of issue 12 whose corpus files are not in this branch yet:
/// (file, helper area, method, the corpus files that will cover it). The lead empties this
/// list at merge: once all of an entry's corpus files are in the tree the coverage test fails
/// until the entry moves to [`METHODS`] (test A already compares those calls, see
/// `other_helpers_calls`). Nothing here is silently skipped: the test prints every entry.
/// Methods that exist only in the other branches are listed too, so the merge stays green.
const PENDING: &[(&str, &str, &str, &[&str])] = &[];

fn parse_request(case: &SendCase) -> SendMessageRequest {
    let to = if case.kind == ChannelKind::Whatsapp {
        "+55 11 98888-7777"
    } else {
        PSID
    };
    let mut req = json!({"channel_id": "ch_conformance", "to": to, "message": case.message});
    for (k, v) in case.extra.as_object().into_iter().flatten() {
        req[k] = v.clone();
    }
    SendMessageRequest::parse_from_json(Some(req))
        .unwrap_or_else(|e| panic!("{}: sample request: {}", case.corpus, e.into_message()))
}

// =============================================================================================
// A: product vs corpus
// =============================================================================================

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn product_requests_match_the_corpus() {
    let all = corpus();
    let graph = capture().await;
    let ig_api = capture().await;
    let ig_graph = capture().await;
    let client = GraphClient::new(&graph.url, VERSION, Duration::from_secs(10));
    let app_token = format!("{APP_ID}|{APP_SECRET}");
    let oauth = OAuthClient::new(
        OAuthEndpoints {
            graph_url: graph.url.clone(),
            graph_version: VERSION.into(),
            ig_api_url: ig_api.url.clone(),
            ig_graph_url: ig_graph.url.clone(),
        },
        AppCredentials {
            app_id: APP_ID.into(),
            app_secret: APP_SECRET.into(),
        },
        None,
        Duration::from_secs(10),
    )
    .expect("oauth client");
    let mut failures: Vec<String> = Vec::new();

    // Every message type the product sends.
    for case in send_cases() {
        if case.kind == ChannelKind::Instagram {
            continue; // through its login's host: `instagram_calls`
        }
        let e = entry(&all, case.corpus);
        let req = parse_request(&case);
        let rendered = render(case.kind, &req, "bridge-msg-0001")
            .unwrap_or_else(|v| panic!("{}: the product refused its sample: {v}", case.corpus));
        graph.answer_with(&e.json["response"]);
        let (token, sender) = if case.kind == ChannelKind::Whatsapp {
            (WA_TOKEN, PHONE_NUMBER_ID)
        } else {
            (PAGE_TOKEN, PAGE_ID)
        };
        let outcome = client.send_message(token, sender, &rendered.body).await;
        if !matches!(outcome, SendOutcome::Accepted { .. }) {
            failures.push(format!(
                "{}: the product did not accept the corpus success answer: {outcome:?}",
                case.corpus
            ));
        }
        report(
            &mut failures,
            case.corpus,
            req.message.type_name(),
            check_request(e, &graph.take(), "graph.facebook.com", &app_token, None),
        );
    }

    // Media metadata, download, upload.
    let e = entry(&all, "whatsapp.media.get");
    graph.answer_with(&e.json["response"]);
    let info = client
        .media_info(WA_TOKEN, MEDIA_ID, Some(PHONE_NUMBER_ID))
        .await;
    report(
        &mut failures,
        &e.id,
        "media_info",
        check_request(e, &graph.take(), "graph.facebook.com", &app_token, None),
    );
    if let Err(err) = &info {
        failures.push(format!(
            "whatsapp.media.get: the product refused the corpus answer: {err}"
        ));
    }
    // The media URL is on the Graph origin here: `download` sends the token only to https or
    // to the configured Graph origin, and the capture server is plain http.
    let e = entry(&all, "whatsapp.media.download");
    graph.answer_raw(200, "image/jpeg", b"\xff\xd8\xff\xe0jpeg");
    let media_url = format!("{}/v/t62/media?mid=1&ext=2&hash=AT3", graph.url);
    match client.download(WA_TOKEN, &media_url).await {
        Ok(resp) => assert_eq!(resp.status().as_u16(), 200),
        Err(err) => failures.push(format!("whatsapp.media.download: {err}")),
    }
    let mut seen = graph.take();
    for c in &mut seen {
        // The query is the media URL's own (not the product's): compare without it.
        if c.query == "mid=1&ext=2&hash=AT3" {
            c.query.clear();
        }
    }
    report(
        &mut failures,
        &e.id,
        "download",
        check_request(e, &seen, "{media_url}", &app_token, Some("/v/t62/media")),
    );
    // An Instagram / Messenger attachment: the webhook's CDN address as it is, no token (the
    // capture server is the configured Graph origin, which the product also accepts).
    let e = entry(&all, "instagram.attachment.download");
    graph.answer_raw(200, "image/png", b"\x89PNGpng");
    let attachment_url = format!(
        "{}/ig_messaging_cdn/?asset_id=18000000000000001&signature=AbSig",
        graph.url
    );
    match client.download_attachment(&attachment_url).await {
        Ok(resp) => assert_eq!(resp.status().as_u16(), 200),
        Err(err) => failures.push(format!("instagram.attachment.download: {err}")),
    }
    let mut seen = graph.take();
    for c in &mut seen {
        if c.query == "asset_id=18000000000000001&signature=AbSig" {
            c.query.clear();
        }
    }
    report(
        &mut failures,
        &e.id,
        "download_attachment",
        check_request(
            e,
            &seen,
            "{attachment_url}",
            &app_token,
            Some("/ig_messaging_cdn/"),
        ),
    );
    let e = entry(&all, "whatsapp.media.upload");
    graph.answer_with(&e.json["response"]);
    let up = client
        .upload_media(
            WA_TOKEN,
            PHONE_NUMBER_ID,
            "image/jpeg",
            "photo.jpg",
            bytes_body(),
            9,
            std::time::Duration::ZERO,
        )
        .await;
    if let Err(err) = &up {
        failures.push(format!("whatsapp.media.upload: {err}"));
    }
    report(
        &mut failures,
        &e.id,
        "upload_media",
        check_request(e, &graph.take(), "graph.facebook.com", &app_token, None),
    );

    // Tokens and account reads.
    let e = entry(&all, "oauth.debug_token");
    graph.answer_with(&e.json["response"]);
    let _ = client.debug_token(&app_token, WA_TOKEN).await;
    report(
        &mut failures,
        &e.id,
        "GraphClient::debug_token",
        check_request(e, &graph.take(), "graph.facebook.com", &app_token, None),
    );
    graph.answer_with(&e.json["response"]);
    let _ = oauth.debug_token(WA_TOKEN).await;
    report(
        &mut failures,
        &e.id,
        "OAuthClient::debug_token",
        check_request(e, &graph.take(), "graph.facebook.com", &app_token, None),
    );
    let e = entry(&all, "oauth.access_token.code");
    graph.answer_with(&e.json["response"]);
    if let Err(err) = oauth.exchange_code("AQDcode", Some(REDIRECT_URI)).await {
        failures.push(format!("{}: {err}", e.id));
    }
    report(
        &mut failures,
        &e.id,
        "exchange_code (Facebook Login)",
        check_request(e, &graph.take(), "graph.facebook.com", &app_token, None),
    );
    graph.answer_with(&e.json["response"]);
    let _ = oauth.exchange_code("AQDcode", None).await;
    report(
        &mut failures,
        &e.id,
        "exchange_code (Embedded Signup)",
        check_request(e, &graph.take(), "graph.facebook.com", &app_token, None),
    );
    let e = entry(&all, "oauth.access_token.fb_exchange_token");
    graph.answer_with(&e.json["response"]);
    if let Err(err) = oauth.long_lived_user_token("EAAshort").await {
        failures.push(format!("{}: {err}", e.id));
    }
    report(
        &mut failures,
        &e.id,
        "long_lived_user_token",
        check_request(e, &graph.take(), "graph.facebook.com", &app_token, None),
    );
    let e = entry(&all, "graph.me");
    graph.answer_with(&e.json["response"]);
    if let Err(err) = oauth.me_id("EAAuser").await {
        failures.push(format!("{}: {err}", e.id));
    }
    report(
        &mut failures,
        &e.id,
        "me_id",
        check_request(e, &graph.take(), "graph.facebook.com", &app_token, None),
    );
    let e = entry(&all, "graph.me.accounts");
    graph.answer_with(&e.json["response"]);
    if let Err(err) = oauth.pages("EAAuser").await {
        failures.push(format!("{}: {err}", e.id));
    }
    report(
        &mut failures,
        &e.id,
        "pages",
        check_request(e, &graph.take(), "graph.facebook.com", &app_token, None),
    );
    let e = entry(&all, "whatsapp.waba.phone_numbers");
    graph.answer_with(&e.json["response"]);
    if let Err(err) = oauth.phone_numbers(WA_TOKEN, WABA_ID).await {
        failures.push(format!("{}: {err}", e.id));
    }
    report(
        &mut failures,
        &e.id,
        "phone_numbers",
        check_request(e, &graph.take(), "graph.facebook.com", &app_token, None),
    );

    template_calls(&all, &graph, &oauth, &app_token, &mut failures).await;
    profile_calls(&all, [&graph, &ig_graph], &app_token, &mut failures).await;
    handover_calls(&all, &graph, &app_token, &mut failures).await;
    other_helpers_calls(&all, &graph, &client, &oauth, &app_token, &mut failures).await;
    instagram_calls(
        &all,
        [&graph, &ig_graph, &ig_api],
        &oauth,
        &app_token,
        &mut failures,
    )
    .await;

    // Every corpus entry of a client method (test B's table) had its request rendered and
    // compared here: a method listed there but never called above is a hole in A.
    let compared = COMPARED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    for (file, method, ids) in METHODS {
        for id in *ids {
            if !compared.contains(*id) {
                failures.push(format!(
                    "{id}: {file} {method} is never rendered and compared by this test"
                ));
            }
        }
    }

    assert!(
        failures.is_empty(),
        "the product's requests differ from Meta's documentation (corpus):\n  {}",
        failures.join("\n  ")
    );
}

/// Instagram: sends through each login's host (Instagram Login: `graph.instagram.com`
/// `/{ig-id}/messages`; Facebook Login: the Page's `graph.facebook.com/me/messages`, as the sender
/// routes them) and the Instagram Login token, profile and subscription calls.
async fn instagram_calls(
    all: &[Entry],
    [graph, ig_graph, ig_api]: [&Capture; 3],
    oauth: &OAuthClient,
    app_token: &str,
    failures: &mut Vec<String>,
) {
    const IG_TOKEN: &str = "IGAAConformanceInstagramUserToken0000001";
    let find = |id: &str| all.iter().find(|e| e.id == id);
    let ig_client = GraphClient::new(&ig_graph.url, VERSION, Duration::from_secs(10));
    let fb_client = GraphClient::new(&graph.url, VERSION, Duration::from_secs(10));
    let mut sends: Vec<(&str, Value, bool)> = send_cases()
        .into_iter()
        .filter(|c| c.kind == ChannelKind::Instagram)
        .map(|c| (c.corpus, c.message, false))
        .collect();
    // Instagram through Facebook Login: the same messages, as the Page (text stands for them).
    sends.push((
        "instagram.facebook_login.messages.text",
        json!({"type": "text", "body": "Oi"}),
        true,
    ));
    for (id, message, facebook_login) in sends {
        let Some(e) = find(id) else {
            failures.push(format!("{id}: no corpus file"));
            continue;
        };
        let req = SendMessageRequest::parse_from_json(Some(
            json!({"channel_id": "ch_conformance", "to": IGSID, "message": message}),
        ))
        .unwrap_or_else(|e| panic!("{id}: sample request: {}", e.into_message()));
        let rendered = match render(ChannelKind::Instagram, &req, "bridge-msg-0001") {
            Ok(r) => r,
            Err(v) => {
                failures.push(format!("{id}: the product refused its sample: {v}"));
                continue;
            }
        };
        let (capture, client, token, sender, role) = if facebook_login {
            (graph, &fb_client, PAGE_TOKEN, "me", "graph.facebook.com")
        } else {
            (
                ig_graph,
                &ig_client,
                IG_TOKEN,
                IG_LOGIN_ID,
                "graph.instagram.com",
            )
        };
        capture.answer_with(&e.json["response"]);
        let outcome = client.send_message(token, sender, &rendered.body).await;
        if !matches!(outcome, SendOutcome::Accepted { .. }) {
            failures.push(format!(
                "{id}: the product did not accept the corpus success answer: {outcome:?}"
            ));
        }
        let errs = check_request(e, &capture.take(), role, app_token, None);
        report(failures, id, req.message.type_name(), errs);
    }
    if let Some(e) = find("instagram.oauth.access_token") {
        ig_api.answer_with(&e.json["response"]);
        let _ = oauth
            .ig_exchange_code("AQDconformancecode", REDIRECT_URI)
            .await;
        let errs = check_request(e, &ig_api.take(), "api.instagram.com", app_token, None);
        report(failures, &e.id, "ig_exchange_code", errs);
    }
    let graph_calls: [(&str, &str); 6] = [
        ("instagram.access_token.ig_exchange_token", "ig_long_lived"),
        ("instagram.refresh_access_token", "ig_refresh"),
        ("instagram.me", "ig_me"),
        ("instagram.subscribed_apps.post", "ig_subscribe"),
        ("instagram.subscribed_apps.get", "ig_subscribed_apps"),
        ("instagram.subscribed_apps.delete", "ig_unsubscribe"),
    ];
    for (id, method) in graph_calls {
        let Some(e) = find(id) else {
            failures.push(format!("{id}: no corpus file"));
            continue;
        };
        ig_graph.answer_with(&e.json["response"]);
        match method {
            "ig_long_lived" => drop(oauth.ig_long_lived(IG_TOKEN).await),
            "ig_refresh" => drop(oauth.ig_refresh(IG_TOKEN).await),
            "ig_me" => drop(oauth.ig_me(IG_TOKEN).await),
            "ig_subscribe" => drop(
                oauth
                    .ig_subscribe(
                        IG_TOKEN,
                        &[
                            "messages",
                            "messaging_postbacks",
                            "messaging_seen",
                            "message_reactions",
                            "messaging_referral",
                        ],
                    )
                    .await,
            ),
            "ig_subscribed_apps" => drop(oauth.ig_subscribed_apps(IG_TOKEN).await),
            _ => drop(oauth.ig_unsubscribe(IG_TOKEN).await),
        }
        let errs = check_request(e, &ig_graph.take(), "graph.instagram.com", app_token, None);
        report(failures, id, method, errs);
    }
}

/// The calls of [`PENDING`] that exist on `main`: compared as soon as their corpus file (written
/// by the helper who owns the call) is in the tree.
async fn other_helpers_calls(
    all: &[Entry],
    graph: &Capture,
    _client: &GraphClient,
    oauth: &OAuthClient,
    app_token: &str,
    failures: &mut Vec<String>,
) {
    let find = |id: &str| all.iter().find(|e| e.id == id);
    let page_fields = [
        "messages",
        "messaging_postbacks",
        "message_echoes",
        "message_reactions",
        "messaging_referrals",
        "message_reads",
        "message_deliveries",
        "messaging_handovers",
        "standby",
        "leadgen",
    ];
    let host = "graph.facebook.com";
    if let Some(e) = find("page.subscribed_apps.post") {
        graph.answer_with(&e.json["response"]);
        let r = oauth.subscribe_app(PAGE_TOKEN, PAGE_ID, &page_fields).await;
        if let Err(err) = r {
            failures.push(format!("{}: {err}", e.id));
        }
        let errs = check_request(e, &graph.take(), host, app_token, None);
        report(failures, &e.id, "subscribe_app (Page)", errs);
    }
    if let Some(e) = find("whatsapp.waba.subscribed_apps.post") {
        graph.answer_with(&e.json["response"]);
        let _ = oauth.subscribe_app(WA_TOKEN, WABA_ID, &[]).await;
        let errs = check_request(e, &graph.take(), host, app_token, None);
        report(failures, &e.id, "subscribe_app (WABA)", errs);
    }
    for (id, token, object) in [
        ("page.subscribed_apps.delete", PAGE_TOKEN, PAGE_ID),
        ("whatsapp.waba.subscribed_apps.delete", WA_TOKEN, WABA_ID),
    ] {
        if let Some(e) = find(id) {
            graph.answer_with(&e.json["response"]);
            let _ = oauth.unsubscribe_app(token, object).await;
            let errs = check_request(e, &graph.take(), host, app_token, None);
            report(failures, id, "unsubscribe_app", errs);
        }
    }
    for (id, token, object) in [
        ("page.subscribed_apps.get", PAGE_TOKEN, PAGE_ID),
        ("whatsapp.waba.subscribed_apps.get", WA_TOKEN, WABA_ID),
    ] {
        if let Some(e) = find(id) {
            graph.answer_with(&e.json["response"]);
            let _ = oauth.subscribed_apps(token, object).await;
            let errs = check_request(e, &graph.take(), host, app_token, None);
            report(failures, id, "subscribed_apps", errs);
        }
    }
    if let Some(e) = find("whatsapp.phone.register") {
        graph.answer_with(&e.json["response"]);
        let _ = oauth
            .register_phone(WA_TOKEN, PHONE_NUMBER_ID, "123456")
            .await;
        let errs = check_request(e, &graph.take(), host, app_token, None);
        report(failures, &e.id, "register_phone", errs);
    }
    if let Some(e) = find("whatsapp.phone.two_step_pin") {
        graph.answer_with(&e.json["response"]);
        let _ = oauth
            .set_two_step_pin(WA_TOKEN, PHONE_NUMBER_ID, "123456")
            .await;
        let errs = check_request(e, &graph.take(), host, app_token, None);
        report(failures, &e.id, "set_two_step_pin", errs);
    }
    if let Some(e) = find("whatsapp.request_code") {
        graph.answer_with(&e.json["response"]);
        let _ = oauth
            .request_code(WA_TOKEN, PHONE_NUMBER_ID, "SMS", "en_US")
            .await;
        let errs = check_request(e, &graph.take(), host, app_token, None);
        report(failures, &e.id, "request_code", errs);
    }
    if let Some(e) = find("whatsapp.verify_code") {
        graph.answer_with(&e.json["response"]);
        let _ = oauth.verify_code(WA_TOKEN, PHONE_NUMBER_ID, "123456").await;
        let errs = check_request(e, &graph.take(), host, app_token, None);
        report(failures, &e.id, "verify_code", errs);
    }
    if let Some(e) = find("whatsapp.smb_app_data") {
        for sync_type in ["smb_app_state_sync", "history"] {
            graph.answer_with(&e.json["response"]);
            let _ = oauth
                .smb_app_data(WA_TOKEN, PHONE_NUMBER_ID, sync_type)
                .await;
            let errs = check_request(e, &graph.take(), host, app_token, None);
            report(failures, &e.id, "smb_app_data", errs);
        }
    }
    if let Some(e) = find("leads.lead") {
        graph.answer_with(&e.json["response"]);
        let _ = oauth.fetch_lead(PAGE_TOKEN, "1200000000000001").await;
        let errs = check_request(e, &graph.take(), host, app_token, None);
        report(failures, &e.id, "fetch_lead", errs);
    }
    if let Some(e) = find("leads.lead_ad_fields") {
        graph.answer_with(&e.json["response"]);
        let _ = oauth
            .fetch_lead_ad_fields(PAGE_TOKEN, "1200000000000001")
            .await;
        let errs = check_request(e, &graph.take(), host, app_token, None);
        report(failures, &e.id, "fetch_lead_ad_fields", errs);
    }
    if let Some(e) = find("leads.form_questions") {
        graph.answer_with(&e.json["response"]);
        let _ = oauth
            .fetch_form_questions(PAGE_TOKEN, "1300000000000001")
            .await;
        let errs = check_request(e, &graph.take(), host, app_token, None);
        report(failures, &e.id, "fetch_form_questions", errs);
    }
    if let Some(e) = find("leads.page_leadgen_forms") {
        graph.answer_with(&e.json["response"]);
        match oauth.lead_forms(PAGE_TOKEN, PAGE_ID).await {
            Ok(forms) if forms.is_empty() => failures.push(format!(
                "{}: the product read no form from the corpus answer",
                e.id
            )),
            Ok(_) => {}
            Err(err) => failures.push(format!("{}: {err}", e.id)),
        }
        let errs = check_request(e, &graph.take(), host, app_token, None);
        report(failures, &e.id, "lead_forms", errs);
    }
    if let Some(e) = find("leads.form_leads") {
        graph.answer_with(&e.json["response"]);
        match oauth
            .form_leads_since(PAGE_TOKEN, "1300000000000001", 1_790_000_000)
            .await
        {
            Ok(list) if list.leads.is_empty() => failures.push(format!(
                "{}: the product read no lead from the corpus answer",
                e.id
            )),
            Ok(_) => {}
            Err(err) => failures.push(format!("{}: {err}", e.id)),
        }
        let errs = check_request(e, &graph.take(), host, app_token, None);
        report(failures, &e.id, "form_leads_since", errs);
    }
    // The doctor's reads (issue 16 §6): what the product kept of each documented answer.
    if let Some(e) = find("graph.app.subscriptions.get") {
        graph.answer_with(&e.json["response"]);
        match oauth.app_subscriptions().await {
            Ok(subs) if subs.first().is_none_or(|s| s.fields.is_empty()) => failures.push(format!(
                "{}: the product read no subscription or field from the corpus answer",
                e.id
            )),
            Ok(_) => {}
            Err(err) => failures.push(format!("{}: {err}", e.id)),
        }
        let errs = check_request(e, &graph.take(), host, app_token, None);
        report(failures, &e.id, "app_subscriptions", errs);
    }
    if let Some(e) = find("whatsapp.phone.status") {
        graph.answer_with(&e.json["response"]);
        match oauth.phone_status(WA_TOKEN, PHONE_NUMBER_ID).await {
            Ok(p)
                if p.status.is_none()
                    || p.messaging_limit.is_none()
                    || p.health.as_ref().is_none_or(|h| h.entities.is_empty()) =>
            {
                failures.push(format!(
                    "{}: the product did not read status, limit and health from the corpus answer",
                    e.id
                ))
            }
            Ok(_) => {}
            Err(err) => failures.push(format!("{}: {err}", e.id)),
        }
        let errs = check_request(e, &graph.take(), host, app_token, None);
        report(failures, &e.id, "phone_status", errs);
    }
    if let Some(e) = find("page.instagram_business_account") {
        graph.answer_with(&e.json["response"]);
        match oauth.page_instagram_account(PAGE_TOKEN, PAGE_ID).await {
            Ok(None) => failures.push(format!(
                "{}: the product read no linked account from the corpus answer",
                e.id
            )),
            Ok(Some(_)) => {}
            Err(err) => failures.push(format!("{}: {err}", e.id)),
        }
        let errs = check_request(e, &graph.take(), host, app_token, None);
        report(failures, &e.id, "page_instagram_account", errs);
    }
    if let Some(e) = find("oauth.exchange_code.embedded_signup") {
        graph.answer_with(&e.json["response"]);
        let _ = oauth.exchange_code("AQDcode", None).await;
        let errs = check_request(e, &graph.take(), host, app_token, None);
        report(failures, &e.id, "exchange_code (Embedded Signup)", errs);
    }
    if let Some(e) = find("oauth.me") {
        graph.answer_with(&e.json["response"]);
        let _ = oauth.me_id(WA_TOKEN).await;
        let errs = check_request(e, &graph.take(), host, app_token, None);
        report(failures, &e.id, "me_id", errs);
    }
}

/// A WhatsApp Business Account's templates: list (every page), create, delete by name.
async fn template_calls(
    all: &[Entry],
    graph: &Capture,
    oauth: &OAuthClient,
    app_token: &str,
    failures: &mut Vec<String>,
) {
    let host = "graph.facebook.com";
    let e = entry(all, "whatsapp.waba.message_templates.list");
    graph.answer_with(&e.json["response"]);
    match oauth.message_templates(WA_TOKEN, WABA_ID).await {
        Ok(list) if list.is_empty() => failures.push(format!(
            "{}: the product read no template from the corpus answer",
            e.id
        )),
        Ok(_) => {}
        Err(err) => failures.push(format!("{}: {err}", e.id)),
    }
    let errs = check_request(e, &graph.take(), host, app_token, None);
    report(failures, &e.id, "message_templates", errs);

    let e = entry(all, "whatsapp.waba.message_templates.create");
    graph.answer_with(&e.json["response"]);
    let body = json!({"name": "order_update", "language": "en_US", "category": "UTILITY",
        "parameter_format": "POSITIONAL",
        "components": [{"type": "BODY", "text": "Your order has shipped."}]});
    if let Err(err) = oauth
        .create_message_template(WA_TOKEN, WABA_ID, &body)
        .await
    {
        failures.push(format!("{}: {err}", e.id));
    }
    let errs = check_request(e, &graph.take(), host, app_token, None);
    report(failures, &e.id, "create_message_template", errs);

    let e = entry(all, "whatsapp.waba.message_templates.delete");
    for hsm_id in [None, Some("1667192013751005")] {
        graph.answer_with(&e.json["response"]);
        if let Err(err) = oauth
            .delete_message_template(WA_TOKEN, WABA_ID, "order_update", hsm_id)
            .await
        {
            failures.push(format!("{}: {err}", e.id));
        }
        let errs = check_request(e, &graph.take(), host, app_token, None);
        report(failures, &e.id, "delete_message_template", errs);
    }
}

/// The User Profile API: an Instagram contact through each login's host (Instagram Login:
/// graph.instagram.com with the Instagram User token; Facebook Login: graph.facebook.com with
/// the Page token) and a Messenger contact with the Page token, as `metabridge::contacts` asks.
async fn profile_calls(
    all: &[Entry],
    [graph, ig_graph]: [&Capture; 2],
    app_token: &str,
    failures: &mut Vec<String>,
) {
    use metabridge::meta::graph::{INSTAGRAM_PROFILE_FIELDS, MESSENGER_PROFILE_FIELDS};
    const IG_TOKEN: &str = "IGAAConformanceInstagramUserToken0000001";
    let fb_client = GraphClient::new(&graph.url, VERSION, Duration::from_secs(10));
    let ig_client = GraphClient::new(&ig_graph.url, VERSION, Duration::from_secs(10));
    // (corpus id, capture, client, token, contact, fields, host)
    type Case<'a> = (
        &'a str,
        &'a Capture,
        &'a GraphClient,
        &'a str,
        &'a str,
        &'a [&'a str],
        &'a str,
    );
    let cases: [Case; 3] = [
        (
            "instagram.user_profile",
            ig_graph,
            &ig_client,
            IG_TOKEN,
            IGSID,
            INSTAGRAM_PROFILE_FIELDS,
            "graph.instagram.com",
        ),
        (
            "instagram.facebook_login.user_profile",
            graph,
            &fb_client,
            PAGE_TOKEN,
            IGSID,
            INSTAGRAM_PROFILE_FIELDS,
            "graph.facebook.com",
        ),
        (
            "messenger.user_profile",
            graph,
            &fb_client,
            PAGE_TOKEN,
            PSID,
            MESSENGER_PROFILE_FIELDS,
            "graph.facebook.com",
        ),
    ];
    for (id, capture, client, token, user, fields, host) in cases {
        let e = entry(all, id);
        capture.answer_with(&e.json["response"]);
        match client.contact_profile(token, user, fields).await {
            Ok(p) if p.is_empty() => failures.push(format!(
                "{id}: the product kept no field of the corpus answer"
            )),
            Ok(_) => {}
            Err(err) => failures.push(format!("{id}: {err}")),
        }
        let errs = check_request(e, &capture.take(), host, app_token, None);
        report(failures, id, "contact_profile", errs);
    }
}

/// The handover calls (pass / take / request thread control) on a Page, with and without
/// metadata.
async fn handover_calls(
    all: &[Entry],
    graph: &Capture,
    app_token: &str,
    failures: &mut Vec<String>,
) {
    let client = GraphClient::new(&graph.url, VERSION, Duration::from_secs(10));
    for metadata in [None, Some("customer asked for a person")] {
        let e = entry(all, "messenger.pass_thread_control");
        graph.answer_with(&e.json["response"]);
        if let Err(err) = client
            .pass_thread_control(PAGE_TOKEN, PAGE_ID, PSID, "263902037430900", metadata)
            .await
        {
            failures.push(format!("{}: {err}", e.id));
        }
        let errs = check_request(e, &graph.take(), "graph.facebook.com", app_token, None);
        report(failures, &e.id, "pass_thread_control", errs);

        let e = entry(all, "messenger.take_thread_control");
        graph.answer_with(&e.json["response"]);
        if let Err(err) = client
            .take_thread_control(PAGE_TOKEN, PAGE_ID, PSID, metadata)
            .await
        {
            failures.push(format!("{}: {err}", e.id));
        }
        let errs = check_request(e, &graph.take(), "graph.facebook.com", app_token, None);
        report(failures, &e.id, "take_thread_control", errs);

        let e = entry(all, "messenger.request_thread_control");
        graph.answer_with(&e.json["response"]);
        if let Err(err) = client
            .request_thread_control(PAGE_TOKEN, PAGE_ID, PSID, metadata)
            .await
        {
            failures.push(format!("{}: {err}", e.id));
        }
        let errs = check_request(e, &graph.take(), "graph.facebook.com", app_token, None);
        report(failures, &e.id, "request_thread_control", errs);
    }
}

/// The corpus ids whose request test A compared (see [`report`]).
static COMPARED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

fn report(failures: &mut Vec<String>, id: &str, what: &str, errs: Vec<String>) {
    COMPARED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(id.to_string());
    for e in errs {
        failures.push(format!("{id} ({what}): {e}"));
    }
}

fn bytes_body() -> Vec<u8> {
    b"\xff\xd8\xff\xe0jpegx".to_vec()
}

// =============================================================================================
// B: coverage
// =============================================================================================

/// `pub async fn` names in the module `src/meta/<file>` (`graph.rs` is `src/meta/graph.rs`, or
/// every file of the folder `src/meta/graph/` but its `tests.rs`): the clients' methods.
fn client_methods(file: &str) -> Vec<String> {
    let dir = format!("{}/src/meta", env!("CARGO_MANIFEST_DIR"));
    let flat = format!("{dir}/{file}");
    let paths: Vec<std::path::PathBuf> = if std::path::Path::new(&flat).exists() {
        vec![flat.into()]
    } else {
        let folder = format!("{dir}/{}", file.trim_end_matches(".rs"));
        let mut paths: Vec<_> = std::fs::read_dir(&folder)
            .unwrap_or_else(|e| panic!("{folder}: {e}"))
            .filter_map(|f| Some(f.ok()?.path()))
            .filter(|p| {
                p.extension().is_some_and(|e| e == "rs")
                    && p.file_name().is_some_and(|n| n != "tests.rs")
            })
            .collect();
        paths.sort();
        paths
    };
    let mut names = Vec::new();
    for path in paths {
        let src =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        names.extend(
            src.lines()
                .filter_map(|l| l.trim_start().strip_prefix("pub async fn "))
                .filter_map(|rest| rest.split(['(', '<']).next())
                .map(str::to_owned),
        );
    }
    names
}

/// The `type` values of `OutboundMessage` (`#[oai(mapping = "...")]` in the model).
fn message_types() -> Vec<String> {
    let path = format!(
        "{}/src/messages/model/content.rs",
        env!("CARGO_MANIFEST_DIR")
    );
    let src = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let start = src
        .find("pub enum OutboundMessage {")
        .unwrap_or_else(|| panic!("{path}: no `pub enum OutboundMessage`"));
    let block = &src[start..];
    let block = &block[..block.find("\n}").unwrap_or(block.len())];
    block
        .lines()
        .filter_map(|l| l.trim().strip_prefix("#[oai(mapping = \""))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_graph_call_has_a_corpus_entry() {
    let ids: BTreeSet<String> = corpus().into_iter().map(|e| e.id).collect();
    let mut missing = Vec::new();
    // Every file of src/meta: a new client module is covered too.
    let dir = format!("{}/src/meta", env!("CARGO_MANIFEST_DIR"));
    // Module files (`x.rs`) and module folders (`x/mod.rs`, named `x.rs` here).
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(|f| {
            let f = f.ok()?;
            let name = f.file_name().into_string().ok()?;
            if name.ends_with(".rs") {
                Some(name)
            } else {
                f.path()
                    .join("mod.rs")
                    .exists()
                    .then(|| format!("{name}.rs"))
            }
        })
        .collect();
    files.sort();
    for file in files.iter().map(String::as_str) {
        for m in client_methods(file) {
            let mapped = METHODS.iter().find(|(f, n, _)| *f == file && *n == m);
            let pending = PENDING.iter().find(|(f, _, n, _)| *f == file && *n == m);
            match (mapped, pending) {
                (Some((_, _, files)), _) => {
                    for id in *files {
                        if !ids.contains(*id) {
                            missing.push(format!("{file} {m}: corpus file {id}.json is missing"));
                        }
                    }
                }
                (None, Some((_, area, _, files))) => {
                    if !files.is_empty() && files.iter().all(|id| ids.contains(*id)) {
                        missing.push(format!(
                            "{file} {m}: its corpus files {files:?} are here now: move it from PENDING ({area}) to METHODS"
                        ));
                    } else {
                        println!("pending ({area}): {file} {m} has no corpus entry yet");
                    }
                }
                (None, None) => missing.push(format!(
                    "{file} {m}: a Graph call without a corpus entry (add its corpus file and map it in METHODS)"
                )),
            }
        }
    }
    for (file, m, _) in METHODS {
        if !client_methods(file).iter().any(|x| x.as_str() == *m) {
            missing.push(format!("METHODS names {file} {m}, which no longer exists"));
        }
    }
    // Every message type each channel kind can send has a send case with a corpus file.
    let cases = send_cases();
    for case in &cases {
        if !ids.contains(case.corpus) {
            missing.push(format!(
                "send case: corpus file {}.json is missing",
                case.corpus
            ));
        }
    }
    let samples: BTreeMap<String, OutboundMessage> = cases
        .iter()
        .map(|c| {
            let req = parse_request(c);
            (req.message.type_name().to_owned(), req.message)
        })
        .collect();
    for t in message_types() {
        let Some(sample) = samples.get(&t) else {
            missing.push(format!("message type `{t}` has no send case"));
            continue;
        };
        for kind in [
            ChannelKind::Whatsapp,
            ChannelKind::Messenger,
            ChannelKind::Instagram,
        ] {
            if !metabridge::messages::model::kind_allows(kind, sample) {
                continue;
            }
            let covered = cases
                .iter()
                .any(|c| c.kind == kind && c.message["type"] == t.as_str());
            if covered {
                continue;
            }
            if kind == ChannelKind::Instagram
                && PENDING
                    .iter()
                    .any(|(f, _, n, _)| *f == "model.rs" && *n == "instagram sends")
            {
                println!("pending (iglogin): Instagram `{t}` send has no corpus entry yet");
                continue;
            }
            missing.push(format!(
                "{} can send `{t}` but no send case maps it to a corpus file",
                kind.as_str()
            ));
        }
    }
    assert!(
        missing.is_empty(),
        "Graph calls without a conformance corpus entry:\n  {}",
        missing.join("\n  ")
    );
}

// =============================================================================================
// C: simulator vs corpus
// =============================================================================================

/// Deep merge of `change` into `base`: objects key by key, `null` removes a key.
fn merge(base: &mut Value, change: &Value) {
    match (base, change) {
        (Value::Object(b), Value::Object(c)) => {
            for (k, v) in c {
                if v.is_null() {
                    b.remove(k);
                } else if let Some(slot) = b.get_mut(k) {
                    merge(slot, v);
                } else {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
        (b, c) => *b = c.clone(),
    }
}

struct SimWorld {
    sim: GraphSim,
    hooks: Capture,
    user_token: String,
    /// The call being sent and its host (some placeholder values depend on them).
    ctx: Mutex<(String, String, bool)>,
}

const LEADGEN_ID: &str = "1200000000000001";
const FORM_ID: &str = "1300000000000001";
/// The Instagram account linked to the simulated Page, and the Instagram Login account.
const PAGE_IG_ID: &str = "178410000000001";
const IG_LOGIN_ID: &str = "178410000000009";
const IGSID: &str = "7120000000000001";
const PAGE_SCOPES: &[&str] = &[
    "pages_show_list",
    "pages_messaging",
    "pages_manage_metadata",
    "pages_read_engagement",
    "leads_retrieval",
    "instagram_basic",
    "instagram_manage_messages",
];
const WA_SCOPES: &[&str] = &[
    "whatsapp_business_management",
    "whatsapp_business_messaging",
    "business_management",
];
const IG_SCOPES: &[&str] = &[
    "instagram_business_basic",
    "instagram_business_manage_messages",
];

impl SimWorld {
    async fn start() -> Self {
        let hooks = capture().await;
        let sim = sim::start(
            "127.0.0.1:0".parse().expect("addr"),
            GraphSimOptions {
                webhook_url: Some(format!("{}/webhooks/meta", hooks.url)),
                app_secret: APP_SECRET.into(),
                status_delays: [
                    Some(Duration::from_millis(10)),
                    Some(Duration::from_millis(20)),
                    Some(Duration::from_millis(30)),
                ],
                ..GraphSimOptions::default()
            },
        )
        .await
        .expect("start the Graph simulator");
        sim.add_channel("whatsapp", PHONE_NUMBER_ID, Some(WABA_ID), WA_TOKEN);
        sim.add_channel("messenger", PAGE_ID, None, PAGE_TOKEN);
        sim.add_media(MEDIA_ID, "image/jpeg", b"\xff\xd8\xff\xe0jpeg".to_vec());
        sim.add_lead(SimLead::new(
            LEADGEN_ID,
            PAGE_ID,
            FORM_ID,
            json!([{"name": "email", "values": ["ana@example.com"]}]),
        ));
        // The lead's form, and a Page token that may read the ad-level fields
        // (`page_without_ads_management` is one that may not).
        sim.add_lead_form(SimLeadForm::new(
            FORM_ID,
            PAGE_ID,
            &[("email", "Email", "EMAIL")],
        ));
        sim.grant_scopes(PAGE_TOKEN, &["ads_management"]);
        let user_token = sim.mint_token(
            TokenKind::User,
            &[PAGE_ID, PAGE_IG_ID],
            &["pages_show_list", "pages_messaging"],
        );
        Self {
            sim,
            hooks,
            user_token,
            ctx: Mutex::new(Default::default()),
        }
    }

    /// The concrete token for a corpus token kind or a `change.token` value:
    /// `<kind>_without_<scope>` is a token of that kind without that permission; `invalid`
    /// (and anything unknown) a token Meta never issued.
    fn token(&self, kind: &str) -> Option<String> {
        let (kind, without) = match kind.split_once("_without_") {
            Some((k, scope)) => (k, Some(scope)),
            None => (kind, None),
        };
        let minus = |scopes: &[&'static str]| -> Vec<&'static str> {
            scopes
                .iter()
                .copied()
                .filter(|s| Some(*s) != without)
                .collect()
        };
        match (kind, without) {
            ("whatsapp_system_user", None) => Some(WA_TOKEN.into()),
            ("page", None) => Some(PAGE_TOKEN.into()),
            ("user", None) => Some(self.user_token.clone()),
            ("app", None) => Some(format!("{APP_ID}|{APP_SECRET}")),
            ("none", None) => None,
            ("instagram_user", _) => {
                let token =
                    self.sim
                        .mint_token(TokenKind::IgLong, &[IG_LOGIN_ID], &minus(IG_SCOPES));
                // Meta refreshes only a long-lived token at least 24 hours old.
                let call = self.ctx.lock().expect("lock").0.clone();
                if call == "instagram.refresh_access_token" {
                    self.sim.age_token(&token, 2 * 86_400);
                }
                Some(token)
            }
            // A short-lived Instagram User token (what the code exchange hands out).
            ("instagram_user_short", _) => Some(self.sim.mint_token(
                TokenKind::IgShort,
                &[IG_LOGIN_ID],
                &minus(IG_SCOPES),
            )),
            ("page", Some(_)) => Some(self.sim.mint_token(
                TokenKind::Page,
                &[PAGE_ID, PAGE_IG_ID],
                &minus(PAGE_SCOPES),
            )),
            ("whatsapp_system_user", Some(_)) => Some(self.sim.mint_token(
                TokenKind::Business,
                &[WABA_ID, PHONE_NUMBER_ID],
                &minus(WA_SCOPES),
            )),
            ("user", Some(_)) => Some(self.sim.mint_token(
                TokenKind::User,
                &[PAGE_ID, PAGE_IG_ID],
                &minus(PAGE_SCOPES),
            )),
            _ => Some(BAD_TOKEN.into()),
        }
    }

    /// The concrete value of a placeholder the harness knows (by name).
    fn known(&self, name: &str) -> Option<Value> {
        let v: String = match name {
            "version" => VERSION.into(),
            "phone_number_id" => PHONE_NUMBER_ID.into(),
            "waba_id" => WABA_ID.into(),
            "page_id" => PAGE_ID.into(),
            "to" => TO.into(),
            "psid" => PSID.into(),
            "media_id" => MEDIA_ID.into(),
            "mid" => "m_conformance_1".into(),
            "wamid" => "wamid.HBgNNTUxMTk4ODg4Nzc3NxUCABIYFDNBQjU0".into(),
            "app_id" => APP_ID.into(),
            "app_secret" => APP_SECRET.into(),
            "input_token" => WA_TOKEN.into(),
            "user_token" => self.user_token.clone(),
            "redirect_uri" => REDIRECT_URI.into(),
            "code" => {
                let (call, _, with_redirect) = self.ctx.lock().expect("lock").clone();
                if call == "whatsapp.verify_code" {
                    // The code `request_code` sent (see `send`), as the person would type it.
                    self.sim
                        .verification_code(PHONE_NUMBER_ID)
                        .unwrap_or_else(|| "123456".into())
                } else if call == "instagram.oauth.access_token" {
                    // The documented answer shape (the simulator alternates it with the older
                    // flat one to keep the product's parser honest).
                    self.sim.set_ig_token_shape(
                        metabridge::sim::onboarding::tokens::IgTokenShape::Data,
                    );
                    self.sim.mint_ig_login_code(REDIRECT_URI, IG_SCOPES)?
                } else if !call.starts_with("oauth.") {
                    // A verification code (request_code / verify_code).
                    "123456".into()
                } else if with_redirect {
                    self.sim
                        .mint_login_code(REDIRECT_URI, &["pages_show_list", "pages_messaging"])
                } else {
                    self.sim.mint_embedded_signup_code(WA_SCOPES)?
                }
            }
            "pin" => "123456".into(),
            // One of the two documented values (the corpus's error case sends another).
            "sync_type" => "history".into(),
            "code_method" => "SMS".into(),
            "language" => "en_US".into(),
            "leadgen_id" => LEADGEN_ID.into(),
            "form_id" => FORM_ID.into(),
            // Before the harness's lead (created 2026-11-17): a backfill window that holds it.
            "since_unix" => "1790000000".into(),
            "igsid" => IGSID.into(),
            "ig_user_id" => IG_LOGIN_ID.into(),
            "ig_id" => {
                let host = self.ctx.lock().expect("lock").1.clone();
                if host == "graph.instagram.com" {
                    IG_LOGIN_ID.into()
                } else {
                    PAGE_IG_ID.into()
                }
            }
            "attachment_type" => "image".into(),
            "tag" => "HUMAN_AGENT".into(),
            // The Page inbox: an app Meta documents for every Page.
            "target_app_id" => "263902037430900".into(),
            "template_name" => "order_update".into(),
            "new_template_name" => "conformance_new_template".into(),
            "category" => "UTILITY".into(),
            "body_text" => "Your order has shipped.".into(),
            "language_code" => "en_US".into(),
            "latitude" => "-23.56".into(),
            "longitude" => "-46.65".into(),
            "emoji" | "reaction" => "👍".into(),
            "mime_type" => "image/jpeg".into(),
            "filename" => "photo.jpg".into(),
            _ => return None,
        };
        Some(json!(v))
    }

    /// The concrete value of a required placeholder: a known one, else a plausible string.
    fn value(&self, name: &str) -> Value {
        self.known(name).unwrap_or_else(|| {
            if name.contains("url") || name.contains("link") {
                json!("https://cdn.example.com/f.jpg")
            } else {
                json!(format!("conformance-{name}"))
            }
        })
    }

    /// Placeholders → values; an optional placeholder is sent when the harness knows its
    /// value (`{redirect_uri?}`), else left out.
    fn fill(&self, v: &Value) -> Option<Value> {
        if let Some((name, optional)) = placeholder(v) {
            return if optional {
                self.known(name)
            } else {
                Some(self.value(name))
            };
        }
        Some(match v {
            Value::Object(m) => {
                let filled: Map<String, Value> = m
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), self.fill(v)?)))
                    .collect();
                // An optional object none of whose values is sent is left out.
                if filled.is_empty() && optional(v) {
                    return None;
                }
                Value::Object(filled)
            }
            Value::Array(a) => Value::Array(a.iter().filter_map(|v| self.fill(v)).collect()),
            other => other.clone(),
        })
    }

    fn base(&self, host: &str) -> Option<String> {
        let url = self.sim.url();
        Some(match host {
            "graph.facebook.com" => url,
            "graph.instagram.com" => format!("{url}/ig-graph"),
            "api.instagram.com" => format!("{url}/ig-api"),
            _ => return None,
        })
    }

    fn given(&self, state: &str) -> Result<(), String> {
        match state {
            "window_closed" => {
                self.sim.close_window(TO);
                self.sim.close_window(PSID);
            }
            "pair_rate_exceeded" => self.sim.push_fault(Fault::PairRate { times: 1 }),
            "throughput_exceeded" | "app_rate_limited" => {
                self.sim.push_fault(Fault::Throttle { times: 1 })
            }
            "recipient_undeliverable" => self.sim.push_fault(Fault::Permanent {
                times: 1,
                code: 131026,
            }),
            "template_missing" => self.sim.push_fault(Fault::Permanent {
                times: 1,
                code: 132001,
            }),
            "spam_rate_limited" => self.sim.push_fault(Fault::Permanent {
                times: 1,
                code: 131048,
            }),
            "temporary_send_failure" => self.sim.push_fault(Fault::Permanent {
                times: 1,
                code: 1200,
            }),
            "recipient_not_receiving" => self.sim.push_fault(Fault::Permanent {
                times: 1,
                code: 200,
            }),
            // The number's owner set another two-step verification PIN.
            "two_step_pin_differs" => {
                self.sim.set_two_step_pin(PHONE_NUMBER_ID, Some("000000"));
            }
            other => return Err(format!("given `{other}` unknown to the harness")),
        }
        Ok(())
    }

    /// Marks the harness's number as one that stays on the WhatsApp Business app.
    fn set_on_biz_app(&self, on: bool) {
        let mut accounts = self.sim.accounts();
        for b in &mut accounts.businesses {
            for w in &mut b.wabas {
                for p in &mut w.phone_numbers {
                    if p.id == PHONE_NUMBER_ID {
                        p.on_biz_app = on;
                    }
                }
            }
        }
        self.sim.set_accounts(accounts);
    }

    fn reset(&self) {
        self.set_on_biz_app(false);
        // The account's templates as the list and delete cases expect them (a create or a
        // delete of an earlier case is undone).
        self.sim.set_templates(
            WABA_ID,
            vec![
                SimTemplate::new("order_update", "en_US", "APPROVED", "UTILITY")
                    .components(json!([{"type": "BODY", "text": "Your order {{1}} has shipped."}])),
            ],
        );
        // The people who wrote to the business (Meta's consent rule for the User Profile API).
        self.sim.add_contact_profile(
            IGSID,
            json!({"name": "Ana Souza", "username": "ana.souza",
                "profile_pic": "https://scontent.cdninstagram.com/ana.jpg", "follower_count": 1234,
                "is_user_follow_business": true, "is_business_follow_user": false}),
        );
        self.sim.add_contact_profile(
            PSID,
            json!({"first_name": "Bruno", "last_name": "Lima",
                "profile_pic": "https://platform-lookaside.fbsbx.com/bruno.jpg"}),
        );
        self.sim.clear_faults();
        self.sim.set_two_step_pin(PHONE_NUMBER_ID, None);
        self.sim.open_window(TO);
        self.sim.open_window(PSID);
    }

    /// Sends the corpus request (after `change`) to the simulator: (status, content type, body).
    async fn send(
        &self,
        file: &Value,
        change: Option<&Value>,
    ) -> Result<(u16, String, Vec<u8>), String> {
        let mut request = file["request"].clone();
        let mut token_kind = file["token"].as_str().unwrap_or("none").to_owned();
        if let Some(change) = change {
            if let Some(t) = change.get("token").and_then(Value::as_str) {
                token_kind = t.to_owned();
            }
            for key in ["host", "path", "query", "body"] {
                if let Some(c) = change.get(key) {
                    merge(&mut request[key], c);
                }
            }
        }
        *self.ctx.lock().expect("lock") = (
            file["call"].as_str().unwrap_or_default().to_owned(),
            request["host"].as_str().unwrap_or_default().to_owned(),
            request["query"].get("redirect_uri").is_some(),
        );
        let token = self.token(&token_kind);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        if file["call"] == "whatsapp.smb_app_data" {
            // `smb_app_data` is documented for numbers onboarded from the WhatsApp Business app.
            self.set_on_biz_app(true);
        }
        if file["call"] == "whatsapp.verify_code" {
            // The documented order: `verify_code` checks the code `request_code` sent.
            http.post(format!(
                "{}/{VERSION}/{PHONE_NUMBER_ID}/request_code?code_method=SMS&language=en_US",
                self.sim.url()
            ))
            .bearer_auth(WA_TOKEN)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        }
        let host = request["host"].as_str().unwrap_or_default();
        let mut url = if host == "{attachment_url}" {
            // An attachment the simulated CDN holds, as a webhook would name it.
            url::Url::parse(
                &self
                    .sim
                    .add_cdn_file("image/jpeg", b"\xff\xd8\xff\xe0jpeg".to_vec()),
            )
            .map_err(|e| e.to_string())?
        } else if host == "{media_url}" {
            // The URL the media metadata hands out.
            let meta = http
                .get(format!("{}/{VERSION}/{MEDIA_ID}", self.sim.url()))
                .bearer_auth(WA_TOKEN)
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json::<Value>()
                .await
                .map_err(|e| e.to_string())?;
            url::Url::parse(meta["url"].as_str().ok_or("media metadata has no url")?)
                .map_err(|e| e.to_string())?
        } else {
            let base = self
                .base(host)
                .ok_or(format!("host {host} unknown to the harness"))?;
            let path: Vec<String> = request["path"]
                .as_str()
                .unwrap_or_default()
                .split('/')
                .filter(|s| !s.is_empty())
                .map(|s| match placeholder(&json!(s)) {
                    Some((name, _)) => self.value(name).as_str().unwrap_or_default().to_owned(),
                    None => s.to_owned(),
                })
                .collect();
            url::Url::parse(&format!("{base}/{}", path.join("/"))).map_err(|e| e.to_string())?
        };
        if let Some(q) = request["query"].as_object() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in q {
                let v = match v {
                    Value::Array(items) => Some(json!(
                        items
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(",")
                    )),
                    Value::Object(m) if json_param(m).is_some() => m
                        .get("json")
                        .and_then(|x| self.fill(x))
                        .map(|x| json!(x.to_string())),
                    v => self.fill(v),
                };
                if let Some(v) = v {
                    let s = v
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string());
                    pairs.append_pair(k, &s);
                }
            }
        }
        let auth = request["auth"].as_str().unwrap_or("none");
        if auth == "query"
            && let Some(t) = &token
        {
            url.query_pairs_mut().append_pair("access_token", t);
        }
        let method =
            reqwest::Method::from_bytes(request["method"].as_str().unwrap_or("GET").as_bytes())
                .map_err(|e| e.to_string())?;
        let mut rb = http.request(method, url);
        if auth == "bearer"
            && let Some(t) = &token
        {
            rb = rb.bearer_auth(t);
        }
        let body = self.fill(&request["body"]).unwrap_or(Value::Null);
        match request["content_type"].as_str() {
            Some("application/json") => rb = rb.json(&body),
            Some("multipart/form-data") => {
                let mut form = reqwest::multipart::Form::new();
                for (k, v) in body.as_object().into_iter().flatten() {
                    let s = v.as_str().unwrap_or_default().to_owned();
                    form = if k == "file" {
                        form.part(
                            "file",
                            reqwest::multipart::Part::bytes(b"\xff\xd8\xff\xe0jpeg".to_vec())
                                .file_name(s)
                                .mime_str("image/jpeg")
                                .map_err(|e| e.to_string())?,
                        )
                    } else {
                        form.text(k.clone(), s)
                    };
                }
                rb = rb.multipart(form);
            }
            Some("application/x-www-form-urlencoded") => {
                let mut pairs: Vec<(String, String)> = body
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str()
                                .map(str::to_owned)
                                .unwrap_or_else(|| v.to_string()),
                        )
                    })
                    .collect();
                if auth == "form"
                    && let Some(t) = &token
                {
                    pairs.push(("access_token".into(), t.clone()));
                }
                let encoded = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&pairs)
                    .finish();
                rb = rb
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(encoded);
            }
            _ => {}
        }
        let resp = rb.send().await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = resp.bytes().await.map_err(|e| e.to_string())?.to_vec();
        Ok((status, ctype, bytes))
    }

    /// A `failed` status webhook carrying `code` arrives (the simulator posts it after the
    /// accepted send): waits for the capture server's requests, at most 10 s.
    async fn failed_status_with(&self, code: i64) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            // Registered before looking, so a webhook arriving in between still wakes us.
            let arrived = self.hooks.arrived.notified();
            for hook in self.hooks.take() {
                let body: Value = serde_json::from_slice(&hook.body).unwrap_or(Value::Null);
                let status = body.pointer("/entry/0/changes/0/value/statuses/0");
                if let Some(s) = status
                    && s["status"] == "failed"
                {
                    let got = s.pointer("/errors/0/code").and_then(Value::as_i64);
                    return if got == Some(code) {
                        Ok(())
                    } else {
                        Err(format!(
                            "the failed status webhook has code {got:?}, corpus: {code}"
                        ))
                    };
                }
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                break;
            }
        }
        Err(format!("no failed status webhook with code {code} arrived"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_answers_as_the_corpus_documents() {
    let world = SimWorld::start().await;
    let mut failures: Vec<String> = Vec::new();
    let mut cases = 0;
    for e in corpus() {
        // The success request gets the success shape.
        world.reset();
        world.hooks.take();
        cases += 1;
        let want = &e.json["response"];
        match world.send(&e.json, None).await {
            Err(err) => failures.push(format!("{} (success): {err}", e.id)),
            Ok((status, ctype, bytes)) => {
                if Some(u64::from(status)) != want["status"].as_u64() {
                    failures.push(format!(
                        "{} (success): status {status}, corpus {} — body {}",
                        e.id,
                        want["status"],
                        String::from_utf8_lossy(&bytes)
                    ));
                } else if want["binary"] == true {
                    let mime = world.value("mime_type");
                    if !ctype.starts_with(mime.as_str().unwrap_or_default()) {
                        failures.push(format!("{} (success): content type {ctype}", e.id));
                    }
                } else {
                    let mut errs = Vec::new();
                    match serde_json::from_slice::<Value>(&bytes) {
                        Ok(body) => {
                            compare(&want["body"], &body, "response", Mode::Response, &mut errs)
                        }
                        Err(err) => errs.push(format!("response is not JSON: {err}")),
                    }
                    failures.extend(errs.into_iter().map(|m| format!("{} (success): {m}", e.id)));
                }
            }
        }
        // Every documented error.
        for case in e.json["errors"].as_array().into_iter().flatten() {
            cases += 1;
            let name = case["name"].as_str().unwrap_or("?");
            let label = format!("{} ({name})", e.id);
            world.reset();
            world.hooks.take();
            if let Some(state) = case["given"].as_str()
                && let Err(err) = world.given(state)
            {
                failures.push(format!("{label}: {err}"));
                continue;
            }
            let answer = world.send(&e.json, case.get("change")).await;
            let (status, _, bytes) = match answer {
                Ok(a) => a,
                Err(err) => {
                    failures.push(format!("{label}: {err}"));
                    continue;
                }
            };
            if let Some(want_status) = case["status"].as_u64()
                && u64::from(status) != want_status
            {
                failures.push(format!(
                    "{label}: status {status}, corpus {want_status} — body {}",
                    String::from_utf8_lossy(&bytes)
                ));
                continue;
            }
            let want_error = &case["error"];
            if case["via"] == "status_webhook" {
                let code = want_error["code"].as_i64().unwrap_or_default();
                if let Err(err) = world.failed_status_with(code).await {
                    failures.push(format!("{label}: {err}"));
                }
                continue;
            }
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let got = &body["error"];
            for key in ["code", "error_subcode", "type"] {
                if let Some(w) = want_error.get(key)
                    && got.get(key) != Some(w)
                {
                    failures.push(format!(
                        "{label}: error.{key} is {}, corpus {w} — body {body}",
                        got.get(key).unwrap_or(&Value::Null)
                    ));
                }
            }
        }
    }
    world.reset();
    assert!(
        failures.is_empty(),
        "the simulator does not answer as Meta documents ({} of {cases} cases):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}
