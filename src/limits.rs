//! Bounds on untrusted input: how much of it an error message quotes, and how deeply nested
//! a JSON value may be. Pure functions, no I/O; nothing here recurses on its input.

use std::fmt::{self, Display, Write as _};

#[cfg(feature = "json")]
use serde_json::Value;

/// The deepest nesting of arrays and objects a JSON value may have to cross the dynamic layer
/// (arguments of [`HookManager::call_json`](crate::HookManager::call_json), answers of JSON
/// impls): 128, as deep as `serde_json`'s own parser goes.
///
/// Converting or dropping a `serde_json::Value` recurses once per level, so a value nested
/// thousands deep would overflow the stack; a deeper value is refused (and taken apart without
/// recursion) before anything else touches it.
#[cfg(feature = "json")]
pub const MAX_JSON_DEPTH: usize = 128;

/// How many bytes of a text from outside the library (a JSON value quoted by serde, a plugin's
/// error or panic message, a name) an error message embeds.
pub(crate) const QUOTE_LIMIT: usize = 200;

/// Displays the text of `T` cut to [`QUOTE_LIMIT`] bytes (at a character boundary), followed
/// by `… (N bytes)` with the full text's length when it was cut. Formats without allocating,
/// so a 16 MiB text costs time but no memory.
pub(crate) struct Quote<T>(pub(crate) T);

impl<T: Display> Display for Quote<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut cut = Cut {
            out: f,
            room: QUOTE_LIMIT,
            total: 0,
        };
        write!(cut, "{}", self.0)?;
        let total = cut.total;
        if total > QUOTE_LIMIT {
            write!(f, "… ({total} bytes)")?;
        }
        Ok(())
    }
}

/// Displays the text of `T` whole when it is at most twice [`QUOTE_LIMIT`] bytes, else its
/// first and last [`QUOTE_LIMIT`] bytes (each cut at a character boundary) around
/// `… (N bytes) …`. For the failure reasons of plugins, whose end matters as much as their
/// start: the last line a crashed process wrote (Python's exception comes last), the advice
/// after an operating system error. Keeps at most a few times [`QUOTE_LIMIT`] bytes in memory,
/// however long the text.
#[cfg(feature = "plugins")]
pub(crate) struct QuoteEnds<T>(pub(crate) T);

#[cfg(feature = "plugins")]
impl<T: Display> Display for QuoteEnds<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ends = Ends {
            head: String::new(),
            head_closed: false,
            rest: String::new(),
            total: 0,
        };
        write!(ends, "{}", self.0)?;
        f.write_str(&ends.head)?;
        if ends.total <= 2 * QUOTE_LIMIT {
            return f.write_str(&ends.rest);
        }
        let mut start = ends.rest.len().saturating_sub(QUOTE_LIMIT);
        while !ends.rest.is_char_boundary(start) {
            start += 1;
        }
        write!(f, "… ({} bytes) …{}", ends.total, &ends.rest[start..])
    }
}

/// Keeps the first [`QUOTE_LIMIT`] bytes written to it and (roughly) the last ones.
#[cfg(feature = "plugins")]
struct Ends {
    head: String,
    /// Set once a piece did not fit in `head`: what follows goes to `rest`.
    head_closed: bool,
    rest: String,
    total: usize,
}

#[cfg(feature = "plugins")]
impl fmt::Write for Ends {
    fn write_str(&mut self, mut s: &str) -> fmt::Result {
        self.total += s.len();
        if !self.head_closed {
            let room = QUOTE_LIMIT - self.head.len();
            if s.len() <= room {
                self.head.push_str(s);
                return Ok(());
            }
            let mut end = room;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            self.head.push_str(&s[..end]);
            self.head_closed = true;
            s = &s[end..];
        }
        self.rest.push_str(s);
        // Past four limits, only the last one can still be shown: drop the rest.
        if self.rest.len() > 4 * QUOTE_LIMIT {
            let mut start = self.rest.len() - QUOTE_LIMIT;
            while !self.rest.is_char_boundary(start) {
                start -= 1;
            }
            self.rest.drain(..start);
        }
        Ok(())
    }
}

/// `value`'s text, bounded as [`Quote`] displays it.
#[cfg_attr(not(feature = "json"), allow(dead_code))]
pub(crate) fn quote(value: impl Display) -> String {
    Quote(value).to_string()
}

/// Passes on the first `room` bytes written to it, counts them all.
struct Cut<'a, 'b> {
    out: &'a mut fmt::Formatter<'b>,
    room: usize,
    total: usize,
}

impl fmt::Write for Cut<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.total += s.len();
        if self.room == 0 {
            return Ok(());
        }
        if s.len() <= self.room {
            self.room -= s.len();
            return self.out.write_str(s);
        }
        let mut end = self.room;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        // Nothing more after a cut, not even a shorter piece that would still fit.
        self.room = 0;
        self.out.write_str(&s[..end])
    }
}

/// The children of an array or an object, or `None` for a scalar.
#[cfg(feature = "json")]
enum Children<'a> {
    Array(std::slice::Iter<'a, Value>),
    Object(serde_json::map::Values<'a>),
}

#[cfg(feature = "json")]
impl<'a> Children<'a> {
    fn of(v: &'a Value) -> Option<Self> {
        match v {
            Value::Array(a) => Some(Children::Array(a.iter())),
            Value::Object(m) => Some(Children::Object(m.values())),
            _ => None,
        }
    }

    fn next(&mut self) -> Option<&'a Value> {
        match self {
            Children::Array(it) => it.next(),
            Children::Object(it) => it.next(),
        }
    }
}

/// Whether `v` nests arrays and objects deeper than [`MAX_JSON_DEPTH`]. Iterative (one
/// iterator per open level, at most `MAX_JSON_DEPTH` of them) and stops at the first level too
/// deep; a scalar costs no allocation.
#[cfg(feature = "json")]
pub(crate) fn too_deep(v: &Value) -> bool {
    let Some(top) = Children::of(v) else {
        return false;
    };
    let mut open = vec![top];
    while let Some(level) = open.last_mut() {
        match level.next() {
            Some(child) => {
                if let Some(children) = Children::of(child) {
                    if open.len() == MAX_JSON_DEPTH {
                        return true;
                    }
                    open.push(children);
                }
            }
            None => {
                open.pop();
            }
        }
    }
    false
}

/// Drops `v` without recursion (`serde_json::Value`'s own drop recurses once per level): each
/// container is emptied onto an explicit stack before it is dropped.
#[cfg(feature = "json")]
pub(crate) fn dismantle(v: Value) {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

/// Why a value was refused by [`too_deep`], for error messages.
#[cfg(feature = "json")]
pub(crate) fn too_deep_detail(what: &str) -> String {
    format!(
        "{what} nests arrays and objects deeper than {MAX_JSON_DEPTH} levels (the most `serde_json`'s parser accepts); send a flatter value"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(feature = "json")]
    use serde_json::json;

    #[cfg(feature = "json")]
    fn nested(levels: usize) -> Value {
        let mut v = json!(0);
        for _ in 0..levels {
            v = Value::Array(vec![v]);
        }
        v
    }

    #[cfg(feature = "json")]
    #[test]
    fn depth_counts_arrays_and_objects() {
        assert!(!too_deep(&json!("scalar")));
        let at_limit = nested(MAX_JSON_DEPTH);
        assert!(!too_deep(&at_limit));
        let over = Value::Array(vec![json!(1), json!({ "k": at_limit })]);
        assert!(too_deep(&over));
        dismantle(over);
    }

    #[cfg(feature = "plugins")]
    #[test]
    fn quote_ends_keeps_the_start_and_the_end_of_a_long_text() {
        let short = "a".repeat(2 * QUOTE_LIMIT);
        assert_eq!(QuoteEnds(&short).to_string(), short);
        let text = format!("{}{}{}", "h".repeat(300), "m".repeat(5000), "t".repeat(300));
        assert_eq!(
            QuoteEnds(&text).to_string(),
            format!("{}… (5600 bytes) …{}", "h".repeat(200), "t".repeat(200))
        );
        // Written in many small pieces, cut at character boundaries.
        let e = "é".repeat(1001); // 2002 bytes
        let shown = QuoteEnds(format_args!("a{e}")).to_string();
        assert_eq!(
            shown,
            format!("a{}… (2003 bytes) …{}", "é".repeat(99), "é".repeat(100))
        );
    }

    #[test]
    fn a_quote_is_cut_at_a_char_boundary() {
        let text = "é".repeat(150); // 300 bytes
        let q = quote(&text);
        assert_eq!(q, format!("{}… (300 bytes)", "é".repeat(100)));
        let odd = format!("a{text}"); // the 200th byte falls inside a character
        assert_eq!(quote(&odd), format!("a{}… (301 bytes)", "é".repeat(99)));
        assert_eq!(quote("short"), "short");
        assert_eq!(quote("x".repeat(200)), "x".repeat(200));
    }
}
