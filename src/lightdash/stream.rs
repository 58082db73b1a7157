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
use serde::de::{self, IgnoredAny};
use serde_json::Value;

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

/// Decodes one envelope from `reader`, handing the JSON text of each element of a `results`
/// list to `each` as it is read (the caller decodes it and lets it go). Trailing data after
/// the envelope other than whitespace is an error, as is JSON that is not an object.
///
/// The envelope is walked by a small scanner that only finds where each value ends (strings,
/// escapes, nesting); every value is then decoded by serde from its bytes. Decoding items
/// from serde's reader-based parser instead cost about a third of a no-change cycle's CPU at
/// 100,000 assets: it handles a byte at a time and copies each item twice (issue #12). An
/// item that is balanced but not valid JSON reaches `each`, whose decode fails it alone.
///
/// Errors are serde's (syntax with line and column of the envelope's text, unexpected end,
/// a top level that is not an object, `results` twice); I/O errors of `reader` come back as
/// serde I/O errors.
pub fn decode_list_envelope<R: Read>(
    reader: R,
    mut each: impl FnMut(&str),
) -> Result<Envelope, serde_json::Error> {
    let mut sc = Scanner::new(reader);
    match sc.peek()? {
        Some(b'{') => sc.pos += 1,
        Some(_) => {
            // Not an object: serde says what it is (HTML, a list, …).
            let end = sc.value_end()?;
            let value: Value = serde_json::from_slice(&sc.buf[sc.pos..end])?;
            return Err(de::Error::invalid_type(
                describe(&value),
                &"the Lightdash envelope `{\"status\": …, \"results\": …}`",
            ));
        }
        None => return Err(eof()),
    }
    let mut out = Envelope::default();
    if sc.peek()? == Some(b'}') {
        sc.pos += 1;
        sc.finish()?;
        return Ok(out);
    }
    loop {
        let key_end = sc.value_end()?;
        let key: String = serde_json::from_slice(&sc.buf[sc.pos..key_end])?;
        sc.pos = key_end;
        sc.expect(b':')?;
        match key.as_str() {
            "results" if sc.peek()? == Some(b'[') => {
                if out.results != Results::Missing {
                    return Err(de::Error::duplicate_field("results"));
                }
                sc.pos += 1;
                sc.items(&mut each)?;
                out.results = Results::List;
            }
            "results" | "status" | "error" => {
                let end = sc.value_end()?;
                let value: Value = serde_json::from_slice(&sc.buf[sc.pos..end])?;
                sc.pos = end;
                match key.as_str() {
                    "status" => out.status = Some(value),
                    "error" => out.error = Some(value),
                    _ if out.results != Results::Missing => {
                        return Err(de::Error::duplicate_field("results"));
                    }
                    _ if value.is_null() => out.results = Results::Null,
                    _ => out.results = Results::NotAList(describe_results(&value)),
                }
            }
            _ => sc.pos = sc.value_end()?,
        }
        match sc.peek()? {
            Some(b',') => sc.pos += 1,
            Some(b'}') => {
                sc.pos += 1;
                break;
            }
            Some(_) => return Err(sc.syntax()),
            None => return Err(eof()),
        }
    }
    sc.finish()?;
    Ok(out)
}

/// How the scanner's syntax errors begin: serde cannot make an error of its syntax category
/// with our message, so [`is_syntax`] recognises them by it.
const SYNTAX: &str = "JSON syntax error: unexpected";

/// Whether a [`decode_list_envelope`] error means the body is not JSON (serde's syntax
/// errors and the scanner's), as opposed to JSON of another shape: the client tells an HTML
/// page from a broken listing by it.
pub fn is_syntax(e: &serde_json::Error) -> bool {
    e.is_syntax() || (!e.is_io() && e.to_string().starts_with(SYNTAX))
}

/// How `results` that is not a list is reported (the text of a string is the server's and
/// is never echoed).
fn describe_results(value: &Value) -> String {
    match value {
        Value::Bool(b) => format!("boolean `{b}`"),
        Value::Number(n) if n.is_f64() => format!("floating point `{n}`"),
        Value::Number(n) => format!("integer `{n}`"),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a map".into(),
        Value::Null => "null".into(),
    }
}

fn describe(value: &Value) -> de::Unexpected<'static> {
    match value {
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
        Value::String(_) => de::Unexpected::Other("a string"),
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Null => de::Unexpected::Unit,
        Value::Number(_) => de::Unexpected::Other("a number"),
    }
}

/// serde's own "unexpected end" error (its `is_eof()` holds).
fn eof() -> serde_json::Error {
    serde_json::from_slice::<IgnoredAny>(b"[").unwrap_err()
}

/// The bytes read and not yet consumed, and where each value ends.
struct Scanner<R> {
    reader: R,
    buf: Vec<u8>,
    /// Start of what is not consumed yet.
    pos: usize,
    /// Bytes dropped from the front of `buf` so far (positions in errors are the body's).
    dropped: usize,
}

impl<R: Read> Scanner<R> {
    fn new(reader: R) -> Self {
        Self {
            reader,
            buf: Vec::with_capacity(READ_BUFFER),
            pos: 0,
            dropped: 0,
        }
    }

    /// Reads more; `false` at the end of the body. Consumed bytes are dropped first, so
    /// `buf` holds one value and a read buffer at most.
    fn fill(&mut self) -> Result<bool, serde_json::Error> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.dropped += self.pos;
            self.pos = 0;
        }
        let len = self.buf.len();
        self.buf.resize(len + READ_BUFFER, 0);
        let n = loop {
            match self.reader.read(&mut self.buf[len..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.buf.truncate(len);
                    return Err(serde_json::Error::io(e));
                }
            }
        };
        self.buf.truncate(len + n);
        Ok(n > 0)
    }

    /// The next byte that is not whitespace (consuming the whitespace), if any.
    fn peek(&mut self) -> Result<Option<u8>, serde_json::Error> {
        loop {
            while let Some(&b) = self.buf.get(self.pos) {
                if !b.is_ascii_whitespace() {
                    return Ok(Some(b));
                }
                self.pos += 1;
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    fn expect(&mut self, want: u8) -> Result<(), serde_json::Error> {
        match self.peek()? {
            Some(b) if b == want => {
                self.pos += 1;
                Ok(())
            }
            Some(_) => Err(self.syntax()),
            None => Err(eof()),
        }
    }

    /// Where the value starting at the next non-whitespace byte ends (exclusive), reading
    /// more as needed; `pos` is moved to its start. Only nesting, strings and escapes are
    /// followed: the value's bytes are checked when they are decoded.
    fn value_end(&mut self) -> Result<usize, serde_json::Error> {
        let first = self.peek()?.ok_or_else(eof)?;
        // Offsets from `pos`, which a fill may move.
        let mut i = 1usize;
        let (mut depth, mut in_string) = match first {
            b'{' | b'[' => (1usize, false),
            b'"' => (0, true),
            b'}' | b']' | b',' | b':' => return Err(self.syntax()),
            _ => (0, false),
        };
        let scalar = depth == 0 && !in_string;
        loop {
            let bytes = &self.buf[self.pos..];
            while i < bytes.len() {
                if in_string {
                    match memchr::memchr2(b'"', b'\\', &bytes[i..]) {
                        Some(at) if bytes[i + at] == b'"' => {
                            i += at + 1;
                            in_string = false;
                            if depth == 0 {
                                return Ok(self.pos + i);
                            }
                        }
                        // An escape: the byte after it is never the string's end.
                        Some(at) if i + at + 1 < bytes.len() => i += at + 2,
                        Some(at) => {
                            i += at;
                            break;
                        }
                        None => i = bytes.len(),
                    }
                    continue;
                }
                let b = bytes[i];
                if scalar {
                    if b.is_ascii_whitespace() || matches!(b, b',' | b']' | b'}' | b':') {
                        return Ok(self.pos + i);
                    }
                    i += 1;
                    continue;
                }
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(self.pos + i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            if !self.fill()? {
                // A scalar may end the body; anything else is cut short.
                return if scalar { Ok(self.pos + i) } else { Err(eof()) };
            }
        }
    }

    /// The elements of a list whose `[` is consumed, each handed to `each` as text.
    fn items(&mut self, each: &mut impl FnMut(&str)) -> Result<(), serde_json::Error> {
        if self.peek()? == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            let end = self.value_end()?;
            let text = std::str::from_utf8(&self.buf[self.pos..end]).map_err(|_| self.syntax())?;
            each(text);
            self.pos = end;
            match self.peek()? {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(_) => return Err(self.syntax()),
                None => return Err(eof()),
            }
        }
    }

    /// Nothing but whitespace may follow the envelope.
    fn finish(&mut self) -> Result<(), serde_json::Error> {
        match self.peek()? {
            None => Ok(()),
            Some(_) => Err(self.syntax()),
        }
    }

    /// A syntax error at `pos`, naming the byte and where it stands in the body (see
    /// [`is_syntax`]).
    fn syntax(&self) -> serde_json::Error {
        let found = self.buf.get(self.pos).copied().unwrap_or(b' ');
        de::Error::custom(format!(
            "{SYNTAX} `{}` at byte {} of the body",
            [found].escape_ascii(),
            self.dropped + self.pos
        ))
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
        let env = decode_list_envelope(body.as_bytes(), |raw| items.push(raw.to_owned()))?;
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

    /// Hands over its bytes one at a time: every value crosses reads.
    struct OneByte<'a>(&'a [u8]);

    impl Read for OneByte<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let Some((first, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            buf[0] = *first;
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn strings_with_brackets_quotes_and_escapes_end_where_json_says_even_across_reads() {
        let items = [
            r#"{"name":"a } ] , \" [ {","n":1}"#,
            r#""\\""#,
            r#"{"k":"\\\\\"}\\"}"#,
            r#"[ "x\u0022y" , {"a":[]} ]"#,
            "-1.5e3",
            "true",
            "null",
        ];
        let body = format!(
            "{{ \"status\" : \"ok\" ,\n \"results\" : [ {} ] }}\n",
            items.join(" ,\n ")
        );
        let mut whole = Vec::new();
        decode_list_envelope(body.as_bytes(), |raw| whole.push(raw.to_owned())).unwrap();
        let mut split = Vec::new();
        let env = decode_list_envelope(OneByte(body.as_bytes()), |raw| split.push(raw.to_owned()))
            .unwrap();
        assert!(env.is_ok());
        assert_eq!(whole, items);
        assert_eq!(split, items);
        // Every item is what serde reads at that place.
        let parsed: Value = serde_json::from_str(&body).unwrap();
        for (raw, want) in whole.iter().zip(parsed["results"].as_array().unwrap()) {
            assert_eq!(&serde_json::from_str::<Value>(raw).unwrap(), want);
        }
    }

    #[test]
    fn a_balanced_item_that_is_not_json_reaches_its_decoder_and_a_stray_byte_is_named() {
        let (env, items) = items_of(r#"{"status":"ok","results":[{"a":tru},2]}"#).unwrap();
        assert!(env.is_ok());
        assert_eq!(items, [r#"{"a":tru}"#, "2"]);
        assert!(serde_json::from_str::<Value>(&items[0]).is_err());
        let e = items_of(r#"{"status":"ok","results":[1 2]}"#).unwrap_err();
        assert!(e.to_string().contains("unexpected `2` at byte 28"), "{e}");
        assert!(is_syntax(&e));
        let e = items_of(r#"{"status":"ok"} x"#).unwrap_err();
        assert!(e.to_string().contains("unexpected `x` at byte 16"), "{e}");
        assert!(is_syntax(&e));
        // JSON of another shape is not a syntax error.
        let e = items_of(r#"[{"status":"ok"}]"#).unwrap_err();
        assert!(!is_syntax(&e), "{e}");
        let e = items_of(r#"{"status" "ok"}"#).unwrap_err();
        assert!(e.to_string().contains("at byte 10"), "{e}");
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
                assert_eq!(raw, item);
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
        let env =
            decode_list_envelope(ChannelReader::new(rx), |r| items.push(r.to_owned())).unwrap();
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
