//! The Rust SDK after `shutdown` (`docs/protocol.md` §5): every request but the `exit`
//! notification is refused with `-32603`, and runs nothing. A real plugin process
//! (`examples/plugins/rust-process`) driven by a scripted host.

use std::process::Stdio;
use std::time::Duration;

use futures::future::BoxFuture;
use hookwire::external::protocol::{codes, RpcError};
use hookwire::external::{Handler, Peer, PeerError};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

use crate::rust_sdk::plugin_exe;

/// A host that offers nothing back.
struct NoCalls;

impl Handler for NoCalls {
    fn request(
        &self,
        _: Peer,
        method: String,
        _: Value,
    ) -> BoxFuture<'static, Result<Value, RpcError>> {
        Box::pin(std::future::ready(Err(RpcError::new(
            codes::METHOD_NOT_FOUND,
            method,
        ))))
    }
}

#[tokio::test]
async fn a_rust_sdk_plugin_refuses_every_request_after_shutdown_without_running_it() {
    let mut child = tokio::process::Command::new(plugin_exe())
        .env("HOOKWIRE_PLUGIN", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (stdin, stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
    let mut stderr = child.stderr.take().unwrap();
    let conn = Peer::connect("rust-greeter", stdout, stdin, NoCalls, 1 << 20);
    let p = conn.peer();
    p.request(
        "initialize",
        json!({"protocol_version":"1.1","host":{"name":"t","version":"0"},
               "plugin":{"name":"rust-greeter","config":{}},
               "hooks":[{"name":"greet","mode":"collect_all"},{"name":"relay","mode":"collect_all"}],
               "limits":{"max_message_bytes":1000000,"max_call_depth":8}}),
    )
    .await
    .unwrap();
    assert_eq!(p.request("start", Value::Null).await.unwrap(), Value::Null);
    // `print…` makes its `greet` write a stray line (which lands on stderr): a sign it ran.
    let greet = |name: &str| json!({"hook":"greet","args":name,"depth":0});
    assert_eq!(
        p.request("hook/call", greet("print-before")).await.unwrap(),
        json!({"kind":"value","value":"printed print-before"})
    );
    assert_eq!(
        p.request("shutdown", Value::Null).await.unwrap(),
        Value::Null
    );

    let refused = PeerError::Remote(RpcError::new(
        codes::INTERNAL_ERROR,
        "plugin `rust-greeter` is shutting down",
    ));
    for (method, params) in [
        ("hook/call", greet("print-after")),
        ("health", Value::Null),
        ("start", Value::Null),
        ("shutdown", Value::Null),
    ] {
        let answer = p.request(method, params).await;
        assert_eq!(answer, Err(refused.clone()), "`{method}` after `shutdown`");
    }
    p.notify("exit", Value::Null);
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    let mut log = String::new();
    stderr.read_to_string(&mut log).await.unwrap();
    assert!(log.contains("stray output: print-before"), "{log}");
    assert!(!log.contains("print-after"), "{log}");
}
