//! JSON Schemas in the handshake (feature `schema`): a typed spec declared with
//! `json_spec_with_schema` and a dynamic spec given schemas by hand are offered with them.

use std::time::Duration;

use hookwire::spec::SpecInfo;
use hookwire::{HookManager, PluginHost};
use serde_json::{json, Value};

use crate::support::{fixture_plugin, Items};

#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Login {
    pub user: String,
    pub attempts: u32,
}

hookwire::hookspec! {
    #[name = "login"]
    #[firstresult]
    pub struct OnLogin(Login) -> bool;
}

#[tokio::test]
async fn the_plugin_sees_the_json_schemas_of_the_hooks_it_is_offered() {
    let pm = HookManager::builder()
        .json_spec_with_schema::<OnLogin>()
        .json_spec::<Items>()
        .dynamic_spec(
            SpecInfo::json("greet").schemas(json!({"type": "string"}), json!({"type": "string"})),
        )
        .dynamic_spec(SpecInfo::json("auth").firstresult())
        .build();
    let p = fixture_plugin("s-schema", "ok").spawn(&pm).await.unwrap();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    host.add(p).unwrap();
    host.start().await.unwrap();
    let out = pm.call_json("greet", json!("offers")).await.unwrap();
    let offers = out.get("s-schema").unwrap().value().unwrap().clone();
    let offer = |name: &str| -> Value {
        offers
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .unwrap_or_else(|| panic!("`{name}` not offered: {offers}"))
            .clone()
    };
    let login = offer("login");
    assert_eq!(login["mode"], "first_result");
    assert_eq!(
        login["args_schema"],
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Login",
            "type": "object",
            "properties": {
                "user": {"type": "string"},
                "attempts": {"type": "integer", "format": "uint32", "minimum": 0}
            },
            "required": ["user", "attempts"]
        })
    );
    assert_eq!(
        login["result_schema"],
        json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "boolean", "type": "boolean"})
    );
    let greet = offer("greet");
    assert_eq!(greet["args_schema"], json!({"type": "string"}));
    assert_eq!(greet["result_schema"], json!({"type": "string"}));
    // A spec declared without schemas is offered without them.
    assert_eq!(offer("items")["args_schema"], Value::Null);
    assert_eq!(offer("items")["result_schema"], Value::Null);
    assert!(host.shutdown(Duration::from_secs(5)).await.is_clean());
}
