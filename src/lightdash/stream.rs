//! Lightdash's `{"status":"ok","results":[…]}` envelope decoded while the body arrives, one
//! item of `results` at a time. No network I/O: [`decode_list_envelope`] reads any
//! [`std::io::Read`]; [`ChannelReader`] is the blocking end of a bounded channel that the
//! client's async side fills with body chunks (see `LightdashClient::listing`).
//!
//! Memory while decoding is one raw item (handed to the caller, who decodes and drops it),
//! [`READ_BUFFER`] bytes of read-ahead and the chunks in flight: never the whole body, never
//! a raw copy of every item. Keys may come in any order (`status` after `results` is fine),
//! and an error envelope is recognised whatever the HTTP status.

use std::io::Read;

use bytes::Bytes;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// Read-ahead between the body chunks and the JSON parser, in bytes.
pub const READ_BUFFER: usize = 64 * 1024;

/// What `results` held.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Results {
    /// No `results` key.
    #[default]
    Missing,
    /// `"results": null`.
    Null,
    /// A list: each element went to the caller's callback, in order.
    List,
    /// Anything else, described as serde does (`a string`, `a map`, …).
    NotAList(String),
}

/// The envelope's keys other than the items.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Envelope {
    /// `status` as sent (`"ok"` or `"error"` when well formed).
    pub status: Option<Value>,
    /// `error` (`{name, message, statusCode}` in the error envelope).
    pub error: Option<Value>,
    /// What `results` held.
    pub results: Results,
}

impl Envelope {
    /// Whether `status` is `"ok"`.
    pub fn is_ok(&self) -> bool {
        self.status.as_ref().and_then(Value::as_str) == Some("ok")
    }
}

/// Decodes one envelope from `reader`, handing each element of a `results` list to `each` as
/// it is read (the caller decodes it and lets it go). Trailing data after the envelope
/// other than whitespace is an error, as is JSON that is not an object.
///
/// Errors: serde's (syntax, unexpected end, a top level that is not an object, `results`
/// twice), with line and column; I/O errors of `reader` come back as serde I/O errors.
pub fn decode_list_envelope<R: Read>(
    reader: R,
    each: impl FnMut(&RawValue),
) -> Result<Envelope, serde_json::Error> {
    let reader = std::io::BufReader::with_capacity(READ_BUFFER, reader);
    let mut de = serde_json::Deserializer::from_reader(reader);
    let envelope = (&mut de).deserialize_map(EnvelopeVisitor { each })?;
    de.end()?;
    Ok(envelope)
}

struct EnvelopeVisitor<F> {
    each: F,
}

impl<'de, F: FnMut(&RawValue)> Visitor<'de> for EnvelopeVisitor<F> {
    type Value = Envelope;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("the Lightdash envelope `{\"status\": …, \"results\": …}`")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Envelope, A::Error> {
        let mut out = Envelope::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "status" => out.status = Some(map.next_value()?),
                "error" => out.error = Some(map.next_value()?),
                "results" => {
                    if out.results != Results::Missing {
                        return Err(de::Error::duplicate_field("results"));
                    }
                    out.results = map.next_value_seed(ResultsSeed {
                        each: &mut self.each,
                    })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

struct ResultsSeed<'a, F> {
    each: &'a mut F,
}

impl<'de, F: FnMut(&RawValue)> DeserializeSeed<'de> for ResultsSeed<'_, F> {
    type Value = Results;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Results, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, F: FnMut(&RawValue)> Visitor<'de> for ResultsSeed<'_, F> {
    type Value = Results;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Results, A::Error> {
        // `RawValue` skips nested values without serde's recursion limit, so an item nested
        // too deep fails alone when the caller decodes it.
        while let Some(item) = seq.next_element::<Box<RawValue>>()? {
            (self.each)(&item);
        }
        Ok(Results::List)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Results, E> {
        Ok(Results::Null)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Results, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Results::NotAList("a map".into()))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Results, E> {
        Ok(Results::NotAList(format!("boolean `{v}`")))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Results, E> {
        Ok(Results::NotAList(format!("integer `{v}`")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Results, E> {
        Ok(Results::NotAList(format!("integer `{v}`")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Results, E> {
        Ok(Results::NotAList(format!("floating point `{v}`")))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Results, E> {
        // The text itself is not echoed: it is the server's, and may be anything.
        Ok(Results::NotAList("a string".into()))
    }
}

/// The blocking end of a bounded channel of body chunks, as a [`Read`]. The end of the
/// channel (every sender dropped) reads as the end of the body: the async side reports why
/// it stopped (cap, transport error, cancellation) on its own, and a body cut short makes
/// the parser fail with "EOF while parsing", never a silently short listing.
///
/// Call it only off the async runtime (`spawn_blocking`): it blocks on the channel.
#[derive(Debug)]
pub struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    chunk: Bytes,
}

impl ChannelReader {
    /// Reads the chunks `rx` receives, in order.
    pub fn new(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Self {
        Self {
            rx,
            chunk: Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.chunk = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    fn items_of(body: &str) -> Result<(Envelope, Vec<String>), serde_json::Error> {
        let mut items = Vec::new();
        let env = decode_list_envelope(body.as_bytes(), |raw| items.push(raw.get().to_owned()))?;
        Ok((env, items))
    }

    #[test]
    fn keys_in_any_order_and_unknown_keys_are_skipped() {
        let (env, items) =
            items_of(r#"{"results":[{"a":1}, [2] ,"x"],"extra":{"k":[1,2]},"status":"ok"}"#)
                .unwrap();
        assert!(env.is_ok());
        assert_eq!(env.results, Results::List);
        assert_eq!(items, [r#"{"a":1}"#, "[2]", r#""x""#]);
    }

    #[test]
    fn an_error_envelope_is_returned_with_its_error() {
        let (env, items) = items_of(
            r#"{"status":"error","error":{"statusCode":403,"name":"ForbiddenError","message":"no"}}"#,
        )
        .unwrap();
        assert!(!env.is_ok());
        assert_eq!(env.results, Results::Missing);
        assert_eq!(env.error.unwrap()["statusCode"], 403);
        assert!(items.is_empty());
    }

    #[test]
    fn results_that_are_not_a_list_are_described_not_fatal() {
        for (body, want) in [
            (r#"{"results":null,"status":"ok"}"#, Results::Null),
            (
                r#"{"results":{"a":[1]},"status":"error"}"#,
                Results::NotAList("a map".into()),
            ),
            (
                r#"{"results":"ldsvc_x","status":"ok"}"#,
                Results::NotAList("a string".into()),
            ),
        ] {
            let (env, items) = items_of(body).unwrap();
            assert_eq!(env.results, want, "{body}");
            assert!(items.is_empty());
        }
    }

    #[test]
    fn broken_json_trailing_data_and_other_shapes_are_errors() {
        for body in [
            "<!doctype html><html></html>",
            r#"{"status":"ok","results":[{"a":1},"#,
            r#"{"status":"ok","results":[]} x"#,
            r#"[{"status":"ok"}]"#,
            r#"{"results":[],"results":[]}"#,
        ] {
            assert!(items_of(body).is_err(), "{body}");
        }
        let e = items_of("<html>").unwrap_err();
        assert!(e.is_syntax(), "{e}");
        let e = items_of(r#"{"status":"ok","results":[1,"#).unwrap_err();
        assert!(e.is_eof(), "{e}");
    }

    #[test]
    fn an_item_nested_deeper_than_serdes_limit_is_still_one_raw_item() {
        let deep = format!("{}1{}", "[".repeat(5_000), "]".repeat(5_000));
        let body = format!(r#"{{"status":"ok","results":[1,{deep},2]}}"#);
        let (_, items) = items_of(&body).unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[1].len(), 10_001);
    }

    /// Counts the bytes the parser has pulled so far.
    struct Counting<'a> {
        data: &'a [u8],
        read: Rc<Cell<usize>>,
    }

    impl Read for Counting<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.data.read(buf)?;
            self.read.set(self.read.get() + n);
            Ok(n)
        }
    }

    /// Structural memory check: each item reaches the caller before the parser has read
    /// more than one read buffer past it, so the body is never held whole.
    #[test]
    fn items_are_handed_over_while_the_body_is_still_being_read() {
        let item = format!(r#"{{"uuid":"u","name":"{}"}}"#, "n".repeat(200));
        let count = 20_000;
        let body = format!(
            r#"{{"results":[{}],"status":"ok"}}"#,
            vec![item.as_str(); count].join(",")
        );
        assert!(body.len() > 40 * READ_BUFFER);
        let read = Rc::new(Cell::new(0));
        let mut seen = 0usize;
        let mut worst_ahead = 0usize;
        let env = decode_list_envelope(
            Counting {
                data: body.as_bytes(),
                read: read.clone(),
            },
            |raw| {
                // Where this item ends in the body.
                let end = r#"{"results":["#.len() + (seen + 1) * (item.len() + 1) - 1;
                worst_ahead = worst_ahead.max(read.get().saturating_sub(end));
                assert_eq!(raw.get(), item);
                seen += 1;
            },
        )
        .unwrap();
        assert!(env.is_ok());
        assert_eq!(seen, count);
        assert!(
            worst_ahead <= READ_BUFFER,
            "read {worst_ahead} bytes ahead of an item"
        );
    }

    #[test]
    fn the_channel_reader_reads_chunks_in_order_and_ends_with_the_channel() {
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let feeder = std::thread::spawn(move || {
            for part in [r#"{"results":[{"a""#, r#":1},"#, "", r#"2],"status":"ok"}"#] {
                tx.blocking_send(Bytes::from(part)).unwrap();
            }
        });
        let mut items = Vec::new();
        let env = decode_list_envelope(ChannelReader::new(rx), |r| items.push(r.get().to_owned()))
            .unwrap();
        feeder.join().unwrap();
        assert!(env.is_ok());
        assert_eq!(items, [r#"{"a":1}"#, "2"]);
        // A channel closed early is a body cut short: an error, never a short listing.
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        tx.try_send(Bytes::from(r#"{"status":"ok","results":[1,"#))
            .unwrap();
        drop(tx);
        let e = decode_list_envelope(ChannelReader::new(rx), |_| {}).unwrap_err();
        assert!(e.is_eof(), "{e}");
    }
}
