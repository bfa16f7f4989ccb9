//! Newline framing with a maximum message size: a line longer than the maximum is discarded up
//! to its newline as it arrives, never buffered whole.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// How much of an over-long line is kept (to log it and to find its id).
pub(crate) const HEAD_BYTES: usize = 256;

/// One line read from a peer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A whole line, without its `\n` (nor a `\r` before it).
    Complete(Vec<u8>),
    /// A line longer than the maximum: discarded. `len` is its length without the newline;
    /// `head` its first [`HEAD_BYTES`] bytes.
    TooLong { len: usize, head: Vec<u8> },
}

/// Reads newline-ended lines of at most `max` bytes from `inner`.
///
/// Cancel safe: the state of a partly read line lives in the reader, so a dropped
/// [`next_line`](Self::next_line) loses nothing.
pub(crate) struct LineReader<R> {
    inner: R,
    max: usize,
    buf: Vec<u8>,
    /// Inside an over-long line: how many bytes of it were seen so far.
    discarding: Option<usize>,
    head: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub(crate) fn new(inner: R, max: usize) -> Self {
        LineReader {
            inner,
            max,
            buf: Vec::new(),
            discarding: None,
            head: Vec::new(),
        }
    }

    /// The next line, or `None` at end of input (a last line without its newline counts).
    ///
    /// # Errors
    /// The reader's I/O errors.
    pub(crate) async fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        loop {
            let available = self.inner.fill_buf().await?;
            if available.is_empty() {
                if let Some(len) = self.discarding.take() {
                    return Ok(Some(Line::TooLong {
                        len,
                        head: std::mem::take(&mut self.head),
                    }));
                }
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(self.finish()));
            }
            let (chunk, newline) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (&available[..i], true),
                None => (available, false),
            };
            let n = chunk.len();
            if let Some(seen) = &mut self.discarding {
                *seen += n;
                let room = HEAD_BYTES.saturating_sub(self.head.len());
                self.head.extend_from_slice(&chunk[..n.min(room)]);
            } else if self.buf.len() + n > self.max {
                let seen = self.buf.len() + n;
                let mut head = std::mem::take(&mut self.buf);
                head.truncate(HEAD_BYTES);
                let room = HEAD_BYTES - head.len();
                head.extend_from_slice(&chunk[..n.min(room)]);
                self.head = head;
                self.discarding = Some(seen);
            } else {
                self.buf.extend_from_slice(chunk);
            }
            self.inner.consume(n + usize::from(newline));
            if newline {
                if let Some(len) = self.discarding.take() {
                    return Ok(Some(Line::TooLong {
                        len,
                        head: std::mem::take(&mut self.head),
                    }));
                }
                return Ok(Some(self.finish()));
            }
        }
    }
}

/// What the head of an over-long line shows of the message: its top-level keys, read in
/// order up to the first value that is an object or an array (or the end of the head). A
/// message whose `params` or `result` comes before its `id` shows no id.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct LongHead {
    /// The `id` (a number or a string), when shown whole.
    pub(crate) id: Option<serde_json::Value>,
    /// Whether a `method` key was shown: a request (with an id) or a notification.
    pub(crate) method: bool,
    /// Whether a `result` or `error` key was shown: an answer.
    pub(crate) answer: bool,
}

impl LongHead {
    /// Reads `head` (the first bytes of a line, possibly cut anywhere).
    pub(crate) fn read(head: &[u8]) -> Self {
        let mut shown = LongHead::default();
        let mut at = skip_space(head, 0);
        if head.get(at) != Some(&b'{') {
            return shown;
        }
        at += 1;
        loop {
            at = skip_space(head, at);
            let Some(end) = string_end(head, at) else {
                return shown;
            };
            let key = &head[at..end];
            at = skip_space(head, end);
            if head.get(at) != Some(&b':') {
                return shown;
            }
            at = skip_space(head, at + 1);
            match key {
                b"\"method\"" => shown.method = true,
                b"\"result\"" | b"\"error\"" => shown.answer = true,
                _ => {}
            }
            let end = match head.get(at) {
                None | Some(b'{' | b'[') => return shown,
                Some(b'"') => match string_end(head, at) {
                    Some(end) => end,
                    None => return shown,
                },
                // A number or a literal: whole only when something follows it in the head.
                Some(_) => match head[at..]
                    .iter()
                    .position(|b| matches!(b, b',' | b'}') || b.is_ascii_whitespace())
                {
                    Some(n) => at + n,
                    None => return shown,
                },
            };
            if key == b"\"id\"" {
                shown.id = serde_json::from_slice(&head[at..end])
                    .ok()
                    .filter(|id: &serde_json::Value| id.is_number() || id.is_string());
            }
            at = skip_space(head, end);
            if head.get(at) != Some(&b',') {
                return shown;
            }
            at += 1;
        }
    }
}

/// The first index at or after `at` that is not JSON whitespace.
fn skip_space(bytes: &[u8], at: usize) -> usize {
    at + bytes.get(at..).map_or(0, |rest| {
        rest.iter().take_while(|b| b.is_ascii_whitespace()).count()
    })
}

/// The index just past the JSON string starting at `at` (its closing quote), or `None` when
/// no string starts there or it is cut.
fn string_end(bytes: &[u8], at: usize) -> Option<usize> {
    if bytes.get(at) != Some(&b'"') {
        return None;
    }
    let mut i = at + 1;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

impl<R> LineReader<R> {
    fn finish(&mut self) -> Line {
        let mut line = std::mem::take(&mut self.buf);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Line::Complete(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncWriteExt, BufReader};

    #[tokio::test]
    async fn lines_are_split_on_newlines_and_a_carriage_return_is_dropped() {
        let data: &[u8] = b"one\r\ntwo\n\nlast";
        let mut r = LineReader::new(BufReader::with_capacity(2, data), 10);
        let mut got = Vec::new();
        while let Some(l) = r.next_line().await.unwrap() {
            got.push(l);
        }
        let c = |s: &str| Line::Complete(s.as_bytes().to_vec());
        assert_eq!(got, vec![c("one"), c("two"), c(""), c("last")]);
    }

    #[tokio::test]
    async fn a_too_long_line_is_discarded_up_to_its_newline_without_buffering_it() {
        let (mut w, r) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            w.write_all(b"short\n").await.unwrap();
            // 1 MiB in small writes: the reader never holds more than its maximum.
            let chunk = [b'x'; 1024];
            for _ in 0..1024 {
                w.write_all(&chunk).await.unwrap();
            }
            w.write_all(b"\nafter\n").await.unwrap();
        });
        let mut r = LineReader::new(BufReader::with_capacity(16, r), 100);
        assert_eq!(
            r.next_line().await.unwrap(),
            Some(Line::Complete(b"short".to_vec()))
        );
        match r.next_line().await.unwrap() {
            Some(Line::TooLong { len, head }) => {
                assert_eq!(len, 1024 * 1024);
                assert_eq!(head.len(), HEAD_BYTES);
                assert!(r.buf.capacity() <= 1024, "buffered {}", r.buf.capacity());
            }
            other => panic!("expected a too-long line, got {other:?}"),
        }
        assert_eq!(
            r.next_line().await.unwrap(),
            Some(Line::Complete(b"after".to_vec()))
        );
        writer.await.unwrap();
        assert_eq!(r.next_line().await.unwrap(), None);
    }

    #[test]
    fn the_head_of_a_long_line_shows_its_leading_top_level_keys() {
        use serde_json::json;
        let read = |head: &str| LongHead::read(head.as_bytes());
        let shown = |id: Option<serde_json::Value>, method: bool, answer: bool| LongHead {
            id,
            method,
            answer,
        };
        // Requests: the id in any place before the params, a number or a string.
        assert_eq!(
            read(r#"{"jsonrpc":"2.0","id":1001,"method":"host/call","params":{"hook":"x","#),
            shown(Some(json!(1001)), true, false)
        );
        assert_eq!(
            read(r#" { "method" : "host/call" , "id" : "a\"b" , "params": ["#),
            shown(Some(json!("a\"b")), true, false)
        );
        // Answers.
        assert_eq!(
            read(r#"{"jsonrpc":"2.0","id":17,"result":"xxx"#),
            shown(Some(json!(17)), false, true)
        );
        assert_eq!(
            read(r#"{"id": 3 ,"jsonrpc":"2.0","error":{"#),
            shown(Some(json!(3)), false, true)
        );
        // Not shown: an id after the params, inside them, cut, or of another type.
        assert_eq!(
            read(r#"{"jsonrpc":"2.0","params":{"id":5},"id":6,"method":"x"}"#),
            shown(None, false, false)
        );
        assert_eq!(
            read(r#"{"jsonrpc":"2.0","id":12"#),
            shown(None, false, false)
        );
        assert_eq!(read(r#"{"method":"x","id":"ab"#), shown(None, true, false));
        assert_eq!(
            read(r#"{"id":null,"method":"x","params":{"#),
            shown(None, true, false)
        );
        assert_eq!(read("[1,2,3"), LongHead::default());
        assert_eq!(read("not json at all"), LongHead::default());
    }

    #[tokio::test]
    async fn a_line_of_exactly_the_maximum_is_accepted() {
        let data: &[u8] = b"12345\n123456\n";
        let mut r = LineReader::new(BufReader::with_capacity(4, data), 5);
        assert_eq!(
            r.next_line().await.unwrap(),
            Some(Line::Complete(b"12345".to_vec()))
        );
        assert!(matches!(
            r.next_line().await.unwrap(),
            Some(Line::TooLong { len: 6, .. })
        ));
    }
}
