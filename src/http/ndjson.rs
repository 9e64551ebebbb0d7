//! `Ndjson<S>`: a response of newline-delimited JSON (`application/x-ndjson`), one value per
//! line, written as the stream `S` yields them: the body is never held whole.
//!
//! The spec documents the schema of one line (the item type's schema), so a typed item (an
//! `Object` or a `Union`) documents every line's shape, and each line is serialized from that
//! same type (`ToJSON`): the spec and the bytes cannot drift.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use poem::{Body, IntoResponse, Response};
use poem_openapi::ApiResponse;
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry};
use poem_openapi::types::{ToJSON, Type};

/// Lines already available are written together, up to this many per chunk of the body.
const LINES_PER_CHUNK: usize = 256;

/// A streamed NDJSON response: each item of the stream is one line.
pub struct Ndjson<S>(pub S);

/// Appends `item` as one line: compact JSON (a newline inside a string is escaped, so a value
/// never spans lines) and `\n`.
pub fn write_line<T: ToJSON>(item: &T, buf: &mut Vec<u8>) {
    if let Some(value) = item.to_json() {
        // Writing a `Value` into a Vec cannot fail (no I/O, keys are strings).
        if serde_json::to_writer(&mut *buf, &value).is_ok() {
            buf.push(b'\n');
        }
    }
}

impl<S, T> Payload for Ndjson<S>
where
    S: Stream<Item = T> + Send + 'static,
    T: Type + ToJSON,
{
    const CONTENT_TYPE: &'static str = "application/x-ndjson";

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<S, T> IntoResponse for Ndjson<S>
where
    S: Stream<Item = T> + Send + 'static,
    T: Type + ToJSON + Send + 'static,
{
    fn into_response(self) -> Response {
        let chunks = self.0.ready_chunks(LINES_PER_CHUNK).map(|items| {
            let mut buf = Vec::with_capacity(items.len() * 256);
            for item in &items {
                write_line(item, &mut buf);
            }
            Ok::<_, std::io::Error>(Bytes::from(buf))
        });
        Response::builder()
            .content_type(<Self as Payload>::CONTENT_TYPE)
            .body(Body::from_bytes_stream(chunks))
    }
}

impl<S, T> ApiResponse for Ndjson<S>
where
    S: Stream<Item = T> + Send + 'static,
    T: Type + ToJSON,
{
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "Newline-delimited JSON: one value of this schema per line.",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: <Self as Payload>::CONTENT_TYPE,
                    schema: <Self as Payload>::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem_openapi::Object;

    #[derive(Debug, Object)]
    struct Line {
        text: String,
        n: Option<i64>,
    }

    /// Every item is one line, in order, whatever its strings hold; the body is the lines and
    /// nothing else.
    #[tokio::test]
    async fn each_item_is_one_line_of_json() {
        let items = vec![
            Line {
                text: "two\nlines and a \"quote\"".into(),
                n: Some(1),
            },
            Line {
                text: String::new(),
                n: None,
            },
        ];
        let resp = Ndjson(futures_util::stream::iter(items)).into_response();
        assert_eq!(
            resp.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/x-ndjson")
        );
        let body = resp.into_body().into_string().await.expect("body");
        assert!(body.ends_with('\n'), "{body:?}");
        let lines: Vec<serde_json::Value> = body
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect();
        assert_eq!(
            lines,
            [
                serde_json::json!({"text": "two\nlines and a \"quote\"", "n": 1}),
                serde_json::json!({"text": "", "n": null}),
            ]
        );
    }

    /// A stream that yields nothing is an empty body (not `[]`, not `null`).
    #[tokio::test]
    async fn no_items_is_an_empty_body() {
        let resp = Ndjson(futures_util::stream::iter(Vec::<Line>::new())).into_response();
        let body = resp.into_body().into_string().await.expect("body");
        assert_eq!(body, "");
    }
}
