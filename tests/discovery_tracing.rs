//! The same plugin name in two folders is resolved by folder order and logged, never silently.
//! The only test in its binary (tracing's callsite interest is global).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use hookwire::discovery::Scanner;
use tracing::field::{Field, Visit};
use tracing::Event;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<BTreeMap<String, String>>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);
impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber> Layer<S> for Events {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        fields.insert("level".into(), event.metadata().level().to_string());
        self.0.lock().unwrap().push(fields);
    }
}

#[test]
fn a_name_in_two_folders_is_logged_with_the_manifest_used_and_the_one_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("system"), dir.path().join("project"));
    for folder in [&first, &second] {
        std::fs::create_dir_all(folder.join("auth")).unwrap();
        std::fs::write(
            folder.join("auth/plugin.toml"),
            "name = \"auth\"\nversion = \"1.0.0\"\nkind = \"linked\"\n",
        )
        .unwrap();
    }
    let events = Events::default();
    let subscriber = tracing_subscriber::registry().with(events.clone());
    let scan =
        tracing::subscriber::with_default(subscriber, || Scanner::new().scan(&[&first, &second]));
    assert_eq!(scan.plugins[0].path, second.join("auth/plugin.toml"));
    let seen = events.0.lock().unwrap();
    let logged: Vec<_> = seen
        .iter()
        .filter(|e| e.get("plugin").map(String::as_str) == Some("auth"))
        .collect();
    assert_eq!(logged.len(), 1, "{seen:?}");
    let e = logged[0];
    assert_eq!(e["level"], "INFO");
    assert_eq!(
        e["used"],
        second.join("auth/plugin.toml").display().to_string()
    );
    assert_eq!(
        e["ignored"],
        first.join("auth/plugin.toml").display().to_string()
    );
    assert_eq!(
        e["message"],
        "two plugin folders have a plugin of this name: the later folder's is used"
    );
}
