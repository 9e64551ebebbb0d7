//! Shared helpers of the connect hosts: replies and errors, query and form parsing, HTML
//! escaping and pages, redirect URIs, `fields` selection.

use poem::{Request, RequestBody};
use serde_json::{Value, json};

use crate::sim::graph::{
    State, lock,
    replies::{Reply, graph_error},
    routing::{Handled, query_param},
};

use super::FORM_LIMIT;

pub(super) fn app_secret(state: &State) -> String {
    lock(&state.secret_override)
        .clone()
        .unwrap_or_else(|| state.opts.app_secret.clone())
}

/// An empty simulator secret accepts any non-empty `client_secret`.
pub(in crate::sim) fn secret_ok(state: &State, given: Option<&str>) -> bool {
    let secret = app_secret(state);
    match given {
        Some(g) if !g.is_empty() => secret.is_empty() || g == secret,
        _ => false,
    }
}

pub(super) fn ok(reply: Reply) -> Handled {
    let mut h = Handled::new(reply);
    h.authorization_ok = true;
    h
}

pub(super) fn ok_json(v: &Value) -> Handled {
    ok(Reply::json(200, v))
}

pub(super) fn fail(reply: Reply) -> Handled {
    Handled::new(reply)
}

pub(super) fn oauth_err(status: u16, code: u32, subcode: Option<u32>, message: &str) -> Handled {
    fail(graph_error(status, code, subcode, message, None, None))
}

pub(super) fn param_err(message: &str) -> Handled {
    oauth_err(400, 100, None, message)
}

/// api.instagram.com's flat error shape.
pub(super) fn ig_api_err(message: &str) -> Handled {
    fail(Reply::json(
        400,
        &json!({"error_type": "OAuthException", "code": 400, "error_message": message}),
    ))
}

pub(super) fn redirect(location: String) -> Reply {
    let mut r = Reply::html(
        302,
        "<!DOCTYPE html><html><head><title>Redirecting</title></head><body>Redirecting…</body></html>",
    );
    r.headers.push(("location", location));
    r
}

/// `http://{Host}` of the request (the simulator's own origin as the browser sees it).
pub(super) fn origin_of(state: &State, req: &Request) -> String {
    req.headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '[' | ']'))
        })
        .map_or_else(|| state.base_url.clone(), |h| format!("http://{h}"))
}

pub(super) fn query_pairs(req: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

pub(super) async fn read_form(body: RequestBody) -> Vec<(String, String)> {
    let mut body = body;
    let Ok(body) = body.take() else {
        return Vec::new();
    };
    match body.into_bytes_limit(FORM_LIMIT).await {
        Ok(bytes) => url::form_urlencoded::parse(&bytes).into_owned().collect(),
        Err(_) => Vec::new(),
    }
}

pub(super) fn first<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

pub(super) fn all<'a>(pairs: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// HTML-escapes text and attribute values.
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON safe to put inside a `<script>` element.
pub(super) fn script_json(v: &Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

pub(super) fn hidden(name: &str, value: Option<&str>) -> String {
    value.map_or_else(String::new, |v| {
        format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            esc(name),
            esc(v)
        )
    })
}

pub(super) fn html_page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
<meta name=\"viewport\" content=\"width=device-width\">\
<style>body{{font-family:sans-serif;max-width:34em;margin:2em auto;padding:0 1em}}\
.box{{border:1px solid #ccc;border-radius:8px;padding:1em 1.5em}}label{{display:block;margin:.4em 0}}\
button{{margin:.8em .5em 0 0;padding:.4em 1.2em}}.err{{color:#a00}}</style></head>\
<body><div class=\"box\"><h1>{}</h1>{body}</div></body></html>",
        esc(title),
        esc(title)
    )
}

pub(super) fn error_page(title: &str, message: &str) -> Handled {
    fail(Reply::html(
        400,
        &html_page(title, &format!("<p class=\"err\">{}</p>", esc(message))),
    ))
}

/// An absolute http(s) redirect URI without a fragment.
pub(super) fn parse_redirect(uri: Option<&str>) -> Result<url::Url, &'static str> {
    let uri = uri
        .filter(|u| !u.is_empty())
        .ok_or("The redirect_uri parameter is missing.")?;
    let url = url::Url::parse(uri)
        .map_err(|_| "URL blocked: This redirect failed because the redirect URI is not valid.")?;
    if !matches!(url.scheme(), "http" | "https") || url.fragment().is_some() {
        return Err(
            "URL blocked: This redirect failed because the redirect URI is not whitelisted in the app's client OAuth settings.",
        );
    }
    Ok(url)
}

pub(super) fn with_params(mut url: url::Url, params: &[(&str, Option<&str>)]) -> url::Url {
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
    }
    url
}

pub(super) fn is_field_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_lowercase() || c == '_')
}

pub(super) fn fields_param(req: &Request) -> Option<Vec<String>> {
    query_param(req, "fields").map(|f| {
        f.split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    })
}

/// Keeps only the requested fields (and `id`) of an object answer.
pub(super) fn only_fields(mut v: Value, fields: Option<&[String]>) -> Value {
    if let (Some(fields), Some(obj)) = (fields, v.as_object_mut()) {
        obj.retain(|k, _| k == "id" || fields.iter().any(|f| f == k));
    }
    v
}

/// The `limit` (`default` when absent, at most `max`) and `after` cursor (an offset here) of a
/// cursor-paged list edge, or Meta's invalid-parameter answer.
pub(super) fn page_window(
    req: &Request,
    default: usize,
    max: usize,
) -> Result<(usize, usize), Box<Handled>> {
    let limit = match query_param(req, "limit") {
        None => default,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if n > 0 => n.min(max),
            _ => {
                return Err(Box::new(param_err(
                    "(#100) Param limit must be a positive integer",
                )));
            }
        },
    };
    let start = match query_param(req, "after") {
        None => 0,
        Some(a) => a
            .parse::<usize>()
            .map_err(|_| Box::new(param_err("(#100) Invalid cursor")))?,
    };
    Ok((limit, start))
}
