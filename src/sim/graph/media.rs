//! Media objects: metadata (`{media_id}`), download, and multipart upload (`{phone}/media`).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use poem::web::{Field, Multipart};
use poem::{FromRequest, Request, RequestBody};
use rand::Rng;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::replies::{Host, Reply, err_param, err_token, err_unknown_object};
use super::routing::{Handled, authorize, query_param};
use super::{KEEP_UPLOAD_BYTES, Kind, MediaItem, State, TokenState, UPLOAD_LIMIT, lock};

pub(super) fn media_metadata(
    state: &Arc<State>,
    req: &Request,
    id: &str,
    token: Option<&str>,
) -> Handled {
    let inner = lock(&state.inner);
    let token_state = token.map_or(TokenState::Unknown, |t| inner.token_state(t));
    if token_state != TokenState::Valid {
        return Handled::new(err_token(token_state));
    }
    let mut h = if let Some(pnid) = query_param(req, "phone_number_id")
        && !inner
            .channels
            .get(&pnid)
            .is_some_and(|c| c.kind == Kind::WhatsApp)
    {
        Handled::new(err_param(
            "Param phone_number_id is not a valid phone number id.",
            Kind::WhatsApp,
        ))
    } else if let Some(m) = inner.media.get(id) {
        let hash = URL_SAFE_NO_PAD.encode(rand::rng().random::<[u8; 12]>());
        let ext = chrono::Utc::now().timestamp() + 300;
        Handled::new(Reply::json(
            200,
            &json!({
                "messaging_product": "whatsapp",
                "url": format!("{}/_media/{id}?ext={ext}&hash=AT{hash}", state.base_url),
                "mime_type": m.mime,
                "sha256": m.sha256,
                "file_size": m.size,
                "id": id,
            }),
        ))
    } else {
        Handled::new(err_unknown_object("get", id))
    };
    h.authorization_ok = true;
    h
}

pub(super) fn download(state: &Arc<State>, id: &str, token: Option<&str>) -> Handled {
    let inner = lock(&state.inner);
    let token_state = token.map_or(TokenState::Unknown, |t| inner.token_state(t));
    if token_state != TokenState::Valid {
        return Handled::new(Reply::html(
            401,
            "<!DOCTYPE html><html><head><title>Error</title></head><body>Sorry, this content isn't available right now</body></html>",
        ));
    }
    let mut h = match inner.media.get(id) {
        Some(MediaItem {
            mime,
            bytes: Some(bytes),
            ..
        }) => Handled::new(Reply {
            status: 200,
            content_type: mime.clone(),
            body: bytes.clone(),
            headers: Vec::new(),
        }),
        // Unknown, or an upload too large to keep (see `KEEP_UPLOAD_BYTES`).
        _ => Handled::new(Reply::html(
            404,
            "<!DOCTYPE html><html><body>Not Found</body></html>",
        )),
    };
    h.authorization_ok = true;
    h
}

/// `GET /_cdn/…?asset_id=…`: an attachment file, no token (like Meta's lookaside CDN); an
/// unknown or expired asset answers 404 with an HTML page.
pub(super) fn cdn_file(state: &Arc<State>, req: &Request) -> Handled {
    let asset = query_param(req, "asset_id").unwrap_or_default();
    let mut inner = lock(&state.inner);
    *inner.cdn_fetches.entry(asset.clone()).or_default() += 1;
    let mut h = match inner.cdn.get(&asset) {
        Some((mime, bytes)) => Handled::new(Reply {
            status: 200,
            content_type: mime.clone(),
            body: bytes.clone(),
            headers: Vec::new(),
        }),
        None => Handled::new(Reply::html(
            404,
            "<!DOCTYPE html><html><body>URL signature expired</body></html>",
        )),
    };
    h.authorization_ok = true;
    h
}

pub(super) async fn upload(
    state: &Arc<State>,
    req: &Request,
    object: &str,
    token: Option<&str>,
    body: RequestBody,
) -> Handled {
    let channel = match authorize(state, Host::Facebook, object, token, None, "post") {
        Ok(c) if c.kind == Kind::WhatsApp => c,
        Ok(c) => {
            let mut h = Handled::new(err_unknown_object("post", object));
            h.sender_id = Some(c.external_id);
            return h;
        }
        Err(h) => return *h,
    };
    let mut h = match read_upload(req, body).await {
        Err(what) => Handled::new(err_param(&what, Kind::WhatsApp)),
        Ok(item) => {
            let id = state.new_media_id();
            let mut inner = lock(&state.inner);
            inner
                .uploaded
                .push((id.clone(), item.mime.clone(), item.size));
            inner.media.insert(id.clone(), item);
            let mut h = Handled::new(Reply::json(200, &json!({ "id": id })));
            h.message_id = Some(id);
            h
        }
    };
    h.sender_id = Some(channel.external_id);
    h.authorization_ok = true;
    h
}

/// Reads `messaging_product`, `type` and `file` from a multipart upload. The file is read as
/// it arrives, counted and hashed; it is kept only up to [`KEEP_UPLOAD_BYTES`].
async fn read_upload(req: &Request, body: RequestBody) -> Result<MediaItem, String> {
    let mut body = body;
    let mut form = Multipart::from_request(req, &mut body)
        .await
        .map_err(|_| "The parameter messaging_product is required.".to_string())?;
    let (mut product, mut mime, mut file) = (None, None, None);
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => return Err("Param file could not be read.".into()),
        };
        match field.name() {
            Some("messaging_product") => product = field.text().await.ok(),
            Some("type") => mime = field.text().await.ok(),
            Some("file") => {
                let part_type = field.content_type().map(str::to_string);
                file = Some((part_type, read_file(field).await?));
            }
            _ => {}
        }
    }
    match product.as_deref() {
        Some("whatsapp") => {}
        Some(_) => return Err("Param messaging_product must be 'whatsapp'.".into()),
        None => return Err("The parameter messaging_product is required.".into()),
    }
    let Some((part_type, (bytes, size, sha256))) = file else {
        return Err("The parameter file is required.".into());
    };
    let Some(mime) = mime.filter(|m| !m.is_empty()).or(part_type) else {
        return Err("The parameter type is required.".into());
    };
    Ok(MediaItem {
        mime,
        bytes,
        size,
        sha256,
    })
}

/// The `file` part: (its bytes when at most [`KEEP_UPLOAD_BYTES`], its size, hex SHA-256).
async fn read_file(field: Field) -> Result<(Option<Vec<u8>>, usize, String), String> {
    use tokio::io::AsyncReadExt;
    let unreadable = || "Param file could not be read.".to_string();
    let mut reader = Box::pin(field.into_async_read());
    let mut buf = vec![0u8; 64 * 1024];
    let (mut kept, mut size, mut hash) = (Some(Vec::new()), 0usize, Sha256::new());
    loop {
        let n = reader.read(&mut buf).await.map_err(|_| unreadable())?;
        if n == 0 {
            break;
        }
        size += n;
        if size > UPLOAD_LIMIT {
            return Err("Param file is too large.".into());
        }
        hash.update(&buf[..n]);
        if size > KEEP_UPLOAD_BYTES {
            kept = None;
        } else if let Some(k) = kept.as_mut() {
            k.extend_from_slice(&buf[..n]);
        }
    }
    Ok((kept, size, hex::encode(hash.finalize())))
}
