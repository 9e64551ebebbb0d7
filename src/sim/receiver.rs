//! A fake DSK instance: receives the bridge's event POSTs, verifies their JWT (HS256 with the
//! instance's secret, `aud` = instance id, `iss` = metabridge, `body_sha256` = the hex SHA-256
//! of the bytes received), records and counts them, and
//! answers whatever status it is told to (to simulate a receiver that fails or is slow).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use poem::http::StatusCode;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::Data;
use poem::{EndpointExt, Request, Response, Route, handler};
use serde_json::Value;

use crate::crypto::jwt::{BRIDGE_ISSUER, CallbackClaims};

#[derive(Debug, Clone)]
pub struct Received {
    pub event_id: String,
    pub event_type: String,
    pub instance_id: String,
    pub conversation_id: String,
    pub attempt: u32,
    pub body: Value,
    /// The exact bytes received as the body.
    pub raw_body: bytes::Bytes,
    /// The bearer token the request carried (verified).
    pub token: String,
    /// The token's `body_sha256` claim, as this receiver decoded it.
    pub body_sha256: String,
    /// Status this receiver answered.
    pub answered: u16,
    /// When the request arrived.
    pub arrived: std::time::Instant,
}

#[derive(Default)]
pub struct ReceiverState {
    secrets: RwLock<HashMap<String, String>>,
    events: Mutex<Vec<Received>>,
    status: AtomicU16,
    /// Requests whose body contains the string are answered with the status instead.
    status_where: RwLock<Option<(String, u16)>>,
    delay_ms: AtomicU64,
    rejected: AtomicU64,
    /// Requests answered 2xx (a count the benchmark can poll without copying every event).
    accepted: AtomicU64,
    /// Requests being answered now (counted on arrival, before any delay), and the most ever
    /// answered at once.
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    print: bool,
}

impl ReceiverState {
    /// Accepts events for `instance_id`, verified with `secret`.
    pub fn add_instance(&self, instance_id: &str, secret: &str) {
        if let Ok(mut s) = self.secrets.write() {
            s.insert(instance_id.to_string(), secret.to_string());
        }
    }
    /// Status to answer from now on (200 by default).
    pub fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }
    /// Requests whose body contains `needle` are answered `status` from now on (one
    /// conversation failing while the others are served); `None` stops it.
    pub fn set_status_where(&self, rule: Option<(&str, u16)>) {
        if let Ok(mut r) = self.status_where.write() {
            *r = rule.map(|(n, s)| (n.to_string(), s));
        }
    }
    /// Delay before answering.
    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms.store(
            u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }
    /// Every request received (including the ones answered with a failure).
    pub fn received(&self) -> Vec<Received> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
    /// Requests answered 2xx.
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| (200..300).contains(&r.answered))
            .collect()
    }
    /// How many requests were answered 2xx (cheap: no copy of the recorded events).
    pub fn accepted_count(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
    /// Distinct event ids answered 2xx.
    pub fn unique_accepted(&self) -> usize {
        self.accepted()
            .iter()
            .map(|r| r.event_id.clone())
            .collect::<HashSet<_>>()
            .len()
    }
    /// Requests arrived and not yet answered (counted on arrival: before the delay set by
    /// [`ReceiverState::set_delay`] and before they are recorded in [`ReceiverState::received`]).
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::SeqCst)
    }
    /// The most requests ever in flight at once.
    pub fn max_in_flight(&self) -> u64 {
        self.max_in_flight.load(Ordering::SeqCst)
    }
    /// Requests refused because their JWT did not verify (or did not bind the body received).
    pub fn rejected_jwt(&self) -> u64 {
        self.rejected.load(Ordering::SeqCst)
    }
}

pub struct Receiver {
    pub addr: SocketAddr,
    pub state: Arc<ReceiverState>,
}

impl Receiver {
    pub fn url(&self) -> String {
        format!("http://{}/events", self.addr)
    }
}

/// A receiver's check of one delivery: the bearer `token` is HS256 with `secret`, `aud` =
/// `instance`, `iss` = metabridge, unexpired, and its `body_sha256` claim is the lowercase hex
/// SHA-256 of `body`, the exact bytes received. The claims when all hold.
pub fn verify_callback(
    token: &str,
    instance: &str,
    secret: &str,
    body: &[u8],
) -> Option<CallbackClaims> {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_audience(&[instance]);
    v.set_issuer(&[BRIDGE_ISSUER]);
    v.set_required_spec_claims(&["exp", "aud", "iss"]);
    // A token without `body_sha256` does not deserialize: refused.
    let claims = jsonwebtoken::decode::<CallbackClaims>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &v,
    )
    .ok()?
    .claims;
    let computed = crate::crypto::jwt::body_sha256(body);
    // Both are hex of public data (the body is in hand): no secret to time.
    (claims.body_sha256 == computed).then_some(claims)
}

fn verify(
    state: &ReceiverState,
    req: &Request,
    body: &[u8],
) -> Option<(String, String, CallbackClaims)> {
    let token = req
        .headers()
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    let instance = crate::crypto::jwt::claimed_audience(token)?;
    let secret = state.secrets.read().ok()?.get(&instance)?.clone();
    let claims = verify_callback(token, &instance, &secret, body)?;
    Some((instance, token.to_string(), claims))
}

#[handler]
async fn receive(state: Data<&Arc<ReceiverState>>, req: &Request, body: poem::Body) -> Response {
    let arrived = std::time::Instant::now();
    let state = *state;
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    // Also when the caller gives up and the request is dropped mid-delay.
    let _in_flight = InFlight(&state.in_flight);
    answer(state, req, body, arrived).await
}

struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn answer(
    state: &ReceiverState,
    req: &Request,
    body: poem::Body,
    arrived: std::time::Instant,
) -> Response {
    // The body first: the token is checked against the very bytes received.
    let Ok(bytes) = body.into_bytes_limit(16 * 1024 * 1024).await else {
        return Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .body("unreadable");
    };
    let Some((instance_id, token, claims)) = verify(state, req, &bytes) else {
        state.rejected.fetch_add(1, Ordering::SeqCst);
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .body("bad token");
    };
    let Ok(json) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .body("not json");
    };
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let by_body = state.status_where.read().ok().and_then(|r| {
        r.as_ref().and_then(|(needle, s)| {
            (!needle.is_empty() && String::from_utf8_lossy(&bytes).contains(needle.as_str()))
                .then_some(*s)
        })
    });
    let status = match (by_body, state.status.load(Ordering::SeqCst)) {
        (Some(s), _) => s,
        (None, 0) => 200,
        (None, s) => s,
    };
    let attempt = req
        .headers()
        .get("x-metabridge-attempt")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let rec = Received {
        event_id: json["id"].as_str().unwrap_or_default().to_string(),
        event_type: json["type"].as_str().unwrap_or_default().to_string(),
        instance_id,
        conversation_id: json["conversation_id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        attempt,
        body: json,
        raw_body: bytes,
        token,
        body_sha256: claims.body_sha256,
        answered: status,
        arrived,
    };
    if state.print {
        println!(
            "receiver: {} {} conversation={} attempt={} -> {}",
            rec.event_type, rec.event_id, rec.conversation_id, rec.attempt, status
        );
    }
    if let Ok(mut e) = state.events.lock() {
        e.push(rec);
    }
    if (200..300).contains(&status) {
        state.accepted.fetch_add(1, Ordering::SeqCst);
    }
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
        .body("")
}

/// Starts a receiver on `listen` (port 0 for a free port). `print` writes one line per event
/// (type, id, conversation; never the content).
pub async fn start(listen: SocketAddr, print: bool) -> anyhow::Result<Receiver> {
    let acceptor = TcpListener::bind(listen).into_acceptor().await?;
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .ok_or_else(|| anyhow::anyhow!("receiver has no address"))?;
    let state = Arc::new(ReceiverState {
        print,
        ..Default::default()
    });
    let app = Route::new()
        .at("/*path", poem::post(receive))
        .data(Arc::clone(&state));
    tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
    });
    Ok(Receiver { addr, state })
}
