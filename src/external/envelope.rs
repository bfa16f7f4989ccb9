//! Incoming lines: the JSON-RPC envelope read with its members kept as JSON text borrowed
//! from the line, so that the messages of every hook call (a `hook/call` request, its answer)
//! go from the line to their typed values with no [`Value`] tree in between. Any other
//! message becomes a [`Message`] (its members read into `Value`s).

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::Value;

use super::protocol::{Message, ProtocolError, RpcError};

/// An incoming message whose params or result are still JSON text borrowed from its line.
#[derive(Debug)]
pub(crate) enum Incoming<'a> {
    /// A request (its `id` is a number or a string).
    Request {
        id: Value,
        method: Cow<'a, str>,
        params: Option<&'a RawValue>,
    },
    /// A notification.
    Notification {
        method: Cow<'a, str>,
        params: Option<&'a RawValue>,
    },
    /// An answer: its result's text, or its error.
    Response {
        id: Value,
        result: Result<&'a RawValue, RpcError>,
    },
}

impl<'a> Incoming<'a> {
    /// Reads `line` (without its newline). `None` when the line does not fit this reading
    /// (not JSON, not an object, a member twice, a `jsonrpc` that is not a string):
    /// [`Message::parse`] reads those the slow way, and tells why they are not messages.
    ///
    /// # Errors
    /// [`ProtocolError`] for an object that is not a JSON-RPC 2.0 message.
    pub(crate) fn parse(line: &'a [u8]) -> Option<Result<Incoming<'a>, ProtocolError>> {
        let envelope = serde_json::from_slice::<Envelope<'a>>(line).ok()?;
        Some(envelope.into_incoming())
    }

    /// The message with its texts read into `Value`s.
    ///
    /// # Errors
    /// None in practice: the texts were read as JSON already.
    pub(crate) fn into_message(self) -> Result<Message, ProtocolError> {
        Ok(match self {
            Incoming::Request { id, method, params } => Message::Request {
                id,
                method: method.into_owned(),
                params: value_or_null(params)?,
            },
            Incoming::Notification { method, params } => Message::Notification {
                method: method.into_owned(),
                params: value_or_null(params)?,
            },
            Incoming::Response { id, result } => Message::Response {
                id,
                result: match result {
                    Ok(text) => Ok(value_of(text)?),
                    Err(e) => Err(e),
                },
            },
        })
    }
}

impl Message {
    /// Parses one line (without its newline).
    ///
    /// # Errors
    /// [`ProtocolError`] when the line is not JSON or not a JSON-RPC 2.0 message.
    pub fn parse(line: &[u8]) -> Result<Message, ProtocolError> {
        match Incoming::parse(line) {
            Some(incoming) => incoming?.into_message(),
            None => Self::parse_value(line),
        }
    }

    /// The slow way, through a `Value`: says why a line is not a message, and keeps the last
    /// of a member given twice.
    pub(crate) fn parse_value(line: &[u8]) -> Result<Message, ProtocolError> {
        let v: Value =
            serde_json::from_slice(line).map_err(|e| ProtocolError::NotJson(e.to_string()))?;
        let Value::Object(mut map) = v else {
            return Err(ProtocolError::NotRpc("not an object".into()));
        };
        let mut text = |key: &str| {
            map.remove(key)
                .map(|v| serde_json::value::to_raw_value(&v))
                .transpose()
                .map_err(|e| ProtocolError::NotJson(e.to_string()))
        };
        let (params, result, error) = (text("params")?, text("result")?, text("error")?);
        let jsonrpc = match map.remove("jsonrpc") {
            Some(Value::String(v)) => Some(Cow::Owned(v)),
            _ => None,
        };
        let method = map.remove("method").map(|m| match m {
            Value::String(name) => Method::Name(Cow::Owned(name)),
            _ => Method::NotAString,
        });
        Envelope {
            jsonrpc,
            id: map.remove("id"),
            method,
            params: params.as_deref(),
            result: result.as_deref(),
            error: error.as_deref(),
        }
        .into_incoming()?
        .into_message()
    }
}

/// Each member of the envelope, `Some` when present (even `null`), as JSON text; `jsonrpc`
/// only when it is a string.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default, borrow)]
    jsonrpc: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "present_value")]
    id: Option<Value>,
    #[serde(default, borrow, deserialize_with = "present_method")]
    method: Option<Method<'a>>,
    #[serde(default, borrow, deserialize_with = "present")]
    params: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    error: Option<&'a RawValue>,
}

/// A member that is there, `null` or not (`Option` alone reads `null` as absent).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

fn present_value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

fn present_method<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Method<'de>>, D::Error> {
    Method::deserialize(d).map(Some)
}

/// The value of `method`: a string (borrowed from the line unless it has escapes), or any
/// other JSON, which is not a method.
enum Method<'a> {
    Name(Cow<'a, str>),
    NotAString,
}

impl<'de> Deserialize<'de> for Method<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Read;
        impl<'de> Visitor<'de> for Read {
            type Value = Method<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Method<'de>, E> {
                Ok(Method::Name(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Method<'de>, E> {
                Ok(Method::Name(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Method<'de>, E> {
                Ok(Method::Name(Cow::Owned(v)))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Method<'de>, E> {
                Ok(Method::NotAString)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Method<'de>, E> {
                Ok(Method::NotAString)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Method<'de>, E> {
                Ok(Method::NotAString)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Method<'de>, E> {
                Ok(Method::NotAString)
            }
            fn visit_unit<E>(self) -> Result<Method<'de>, E> {
                Ok(Method::NotAString)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Method<'de>, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Method::NotAString)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Method<'de>, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Method::NotAString)
            }
        }
        d.deserialize_any(Read)
    }
}

impl<'a> Envelope<'a> {
    fn into_incoming(self) -> Result<Incoming<'a>, ProtocolError> {
        if self.jsonrpc.as_deref() != Some("2.0") {
            return Err(ProtocolError::NotRpc("`jsonrpc` is not \"2.0\"".into()));
        }
        let id = self.id;
        if let Some(method) = self.method {
            let Method::Name(method) = method else {
                return Err(ProtocolError::NotRpc("`method` is not a string".into()));
            };
            let params = self.params;
            return Ok(match id {
                Some(id) => {
                    check_id(&id)?;
                    Incoming::Request { id, method, params }
                }
                None => Incoming::Notification { method, params },
            });
        }
        let Some(id) = id else {
            return Err(ProtocolError::NotRpc("neither `method` nor `id`".into()));
        };
        let result = match (self.result, self.error) {
            (Some(r), None) => Ok(r),
            (None, Some(e)) => Err(read_text::<RpcError>(e.get().as_bytes())
                .map_err(|e| ProtocolError::NotRpc(format!("malformed `error`: {e}")))?),
            (Some(_), Some(_)) => {
                return Err(ProtocolError::NotRpc(
                    "a response with both `result` and `error`".into(),
                ))
            }
            (None, None) => {
                return Err(ProtocolError::NotRpc(
                    "a response with neither `result` nor `error`".into(),
                ))
            }
        };
        Ok(Incoming::Response { id, result })
    }
}

fn value_of(text: &RawValue) -> Result<Value, ProtocolError> {
    serde_json::from_str(text.get()).map_err(|e| ProtocolError::NotJson(without_position(&e)))
}

/// Reads `text`, a member's JSON text, as a `T`: straight from the text, or, when that fails,
/// through a `Value` as messages were read before there was text: the same values accepted
/// (of a member given twice, the last), the same errors. An error never points at a line and
/// column (they would count from the member, not the line).
///
/// # Errors
/// When the text does not fit `T`, or is not JSON serde_json reads (a lone surrogate escape,
/// a number out of range).
pub(crate) fn read_text<T: DeserializeOwned>(text: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice(text).or_else(|_| {
        let v: Value = serde_json::from_slice(text)
            .map_err(|e| serde::de::Error::custom(without_position(&e)))?;
        serde_json::from_value(v)
    })
}

/// A JSON error's message without serde_json's " at line L column C".
pub(crate) fn without_position(e: &serde_json::Error) -> String {
    let message = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    match message.strip_suffix(&position) {
        Some(m) => m.to_owned(),
        None => message,
    }
}

fn value_or_null(text: Option<&RawValue>) -> Result<Value, ProtocolError> {
    text.map_or(Ok(Value::Null), value_of)
}

fn check_id(id: &Value) -> Result<(), ProtocolError> {
    match id {
        Value::Number(_) | Value::String(_) => Ok(()),
        _ => Err(ProtocolError::NotRpc(
            "`id` is neither a number nor a string".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_request_keeps_its_params_as_text_borrowed_from_the_line() {
        let line = br#"{"jsonrpc":"2.0","id":7,"method":"hook/call","params":{"hook":"ping","args":[1, 2]}}"#;
        let Some(Ok(Incoming::Request { id, method, params })) = Incoming::parse(line) else {
            panic!("a request")
        };
        assert_eq!(id, json!(7));
        assert!(matches!(method, Cow::Borrowed("hook/call")));
        let params = params.expect("params");
        assert_eq!(params.get(), r#"{"hook":"ping","args":[1, 2]}"#);
        let start = params.get().as_ptr() as usize - line.as_ptr() as usize;
        assert_eq!(
            &line[start..start + params.get().len()],
            params.get().as_bytes()
        );
    }

    #[test]
    fn an_answer_keeps_its_result_as_text_and_its_error_read() {
        let line = br#"{"jsonrpc":"2.0","id":"a","result":{"kind":"value","value":null}}"#;
        let Some(Ok(Incoming::Response { id, result })) = Incoming::parse(line) else {
            panic!("an answer")
        };
        assert_eq!(id, json!("a"));
        assert_eq!(result.unwrap().get(), r#"{"kind":"value","value":null}"#);
        let line = br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"no"}}"#;
        let Some(Ok(Incoming::Response { result, .. })) = Incoming::parse(line) else {
            panic!("an answer")
        };
        assert_eq!(result.unwrap_err(), RpcError::new(-32001, "no"));
    }

    #[test]
    fn a_method_with_escapes_is_read_and_a_method_that_is_not_a_string_refused() {
        let line = br#"{"jsonrpc":"2.0","method":"a\u0062c","params":null}"#;
        let Some(Ok(Incoming::Notification { method, params })) = Incoming::parse(line) else {
            panic!("a notification")
        };
        assert_eq!(method, "abc");
        assert_eq!(params.map(RawValue::get), Some("null"));
        let line = br#"{"jsonrpc":"2.0","id":1,"method":7}"#;
        assert_eq!(
            Incoming::parse(line).unwrap().unwrap_err(),
            ProtocolError::NotRpc("`method` is not a string".into())
        );
    }

    #[test]
    fn lines_that_do_not_fit_are_left_to_the_slow_reading() {
        for line in [
            &b"not json"[..],
            b"[1]",
            br#"{"jsonrpc":2,"id":1,"result":1}"#,
            br#"{"jsonrpc":"2.0","id":1,"id":2,"result":1}"#,
        ] {
            assert!(
                Incoming::parse(line).is_none(),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        assert_eq!(
            Message::parse(br#"{"jsonrpc":"2.0","id":1,"id":2,"result":1}"#).unwrap(),
            Message::Response {
                id: json!(2),
                result: Ok(json!(1))
            }
        );
    }
}
