//! The one canonical JSON form: compact, object keys sorted at every level, written straight
//! from `Serialize` (no `serde_json::Value` in between): byte for byte what
//! `serde_json::to_string` gives with serde_json's default (sorted) map. It is what the bridge
//! delivers as event `data` ([`to_sorted_json`]), and what is hashed into idempotency keys (a
//! webhook item without an id) and request fingerprints (an `Idempotency-Key` retry is "the
//! same request" when its canonical forms are equal) ([`canonical_json`]); stored values
//! depend on it, so its output never changes.
//!
//! Objects (structs and maps, flattened fields included) are collected as (key, value text)
//! pairs in one scratch buffer per object, then written in key order.

use std::fmt::Display;

use serde::ser::{self, Serialize};

/// Why a value could not be written (a type this writer does not take: non-string map keys,
/// enum variants with data).
#[derive(Debug)]
pub struct Error(String);

impl Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error(e.to_string())
    }
}

/// `value` as compact JSON with sorted object keys.
pub fn to_sorted_json<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    let mut out = Vec::with_capacity(256);
    value.serialize(Writer { out: &mut out })?;
    String::from_utf8(out).map_err(|e| Error(e.to_string()))
}

/// A JSON value in the canonical form (see the module doc). Whatever map features are
/// enabled elsewhere, keys come out sorted.
pub fn canonical_json(v: &serde_json::Value) -> String {
    // A `Value` has nothing the writer refuses (no bytes, no enum variants with data); the
    // fallback is serde_json's own text, which is the same form.
    to_sorted_json(v).unwrap_or_else(|_| v.to_string())
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    fn plain<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Error> {
        serde_json::to_writer(&mut *self.out, v)?;
        Ok(())
    }
}

fn unsupported(what: &str) -> Error {
    Error(format!("{what} is not written by the sorted JSON writer"))
}

impl<'a> ser::Serializer for Writer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Seq<'a>;
    type SerializeTuple = Seq<'a>;
    type SerializeTupleStruct = Seq<'a>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = Object<'a>;
    type SerializeStruct = Object<'a>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.plain(&v)
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.plain(&v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.plain(&v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.plain(&v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.plain(&v)
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.plain(&v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.plain(&v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.plain(&v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.plain(&v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.plain(&v)
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.plain(&v)
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.plain(&v)
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.plain(&v)
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.plain(&v)
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.plain(v)
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Error> {
        Err(unsupported("bytes"))
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.serialize_none()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, v: &'static str) -> Result<(), Error> {
        self.plain(v)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Error> {
        Err(unsupported("an enum variant with data"))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Seq<'a>, Error> {
        self.out.push(b'[');
        Ok(Seq {
            out: self.out,
            first: true,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq<'a>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Seq<'a>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(unsupported("an enum variant with data"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Object<'a>, Error> {
        Ok(Object::new(self.out))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Object<'a>, Error> {
        Ok(Object::new(self.out))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(unsupported("an enum variant with data"))
    }
}

struct Seq<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl Seq<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        v.serialize(Writer { out: self.out })
    }

    fn close(self) {
        self.out.push(b']');
    }
}

impl ser::SerializeSeq for Seq<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.element(v)
    }
    fn end(self) -> Result<(), Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeTuple for Seq<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.element(v)
    }
    fn end(self) -> Result<(), Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeTupleStruct for Seq<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.element(v)
    }
    fn end(self) -> Result<(), Error> {
        self.close();
        Ok(())
    }
}

/// An object being collected: each value's text in `scratch`, its key and range in `entries`.
struct Object<'a> {
    out: &'a mut Vec<u8>,
    scratch: Vec<u8>,
    entries: Vec<(Key, usize, usize)>,
    pending_key: Option<Key>,
}

enum Key {
    Static(&'static str),
    Owned(String),
}

impl Key {
    fn as_str(&self) -> &str {
        match self {
            Key::Static(s) => s,
            Key::Owned(s) => s,
        }
    }
}

impl<'a> Object<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        Object {
            out,
            scratch: Vec::new(),
            entries: Vec::new(),
            pending_key: None,
        }
    }

    fn value<T: Serialize + ?Sized>(&mut self, key: Key, v: &T) -> Result<(), Error> {
        let start = self.scratch.len();
        v.serialize(Writer {
            out: &mut self.scratch,
        })?;
        self.entries.push((key, start, self.scratch.len()));
        Ok(())
    }

    fn close(mut self) -> Result<(), Error> {
        // Stable: a key given twice keeps its order (serde_json's map keeps the last one; the
        // data types never repeat a key).
        self.entries.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        self.out.push(b'{');
        for (i, (key, start, end)) in self.entries.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            serde_json::to_writer(&mut *self.out, key.as_str())?;
            self.out.push(b':');
            self.out.extend_from_slice(&self.scratch[*start..*end]);
        }
        self.out.push(b'}');
        Ok(())
    }
}

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        let Ok(serde_json::Value::String(k)) = serde_json::to_value(key) else {
            return Err(unsupported("a map key that is not a string"));
        };
        self.pending_key = Some(Key::Owned(k));
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        let key = self
            .pending_key
            .take()
            .ok_or_else(|| unsupported("a map value without its key"))?;
        self.value(key, v)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeStruct for Object<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        self.value(Key::Static(key), v)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}
