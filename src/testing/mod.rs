//! Test kit for plugin authors and hosts (feature `testing`).
//!
//! - [`Script`] / [`Reply`]: scripted fake impls — answer, no answer, error, panic, each
//!   optionally after a delay, played in order.
//! - [`FakePlugin`]: a plugin assembled from metadata, scripted impls and scripted lifecycle
//!   [`Step`]s, writing what happens to a shared [`Journal`].
//! - [`RecordingPlugin`]: captures the arguments of every call it receives.
//! - [`PluginHarness`]: runs one plugin alone against the host's specs, with the services and
//!   configuration it needs, in a few lines.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use hookwire::testing::{FakePlugin, PluginHarness, RecordingPlugin, Reply, Script};
//! use hookwire::PluginMeta;
//! hookwire::hookspec! { pub struct Greet(String) -> String; }
//!
//! let fake = FakePlugin::new(PluginMeta::new("fake", "1.0.0"))
//!     .hook::<Greet>(Script::new([Reply::answer("hi".to_owned()), Reply::error("down")]));
//! let harness = PluginHarness::new(fake).start().await.unwrap();
//! let out = harness.hook::<Greet>().call(&"ada".to_owned()).await.unwrap();
//! assert_eq!(out.into_value().as_deref(), Some("hi"));
//! let out = harness.hook::<Greet>().call(&"bob".to_owned()).await.unwrap();
//! assert_eq!(out.errors().next().unwrap().1.to_string(), "returned an error: down");
//!
//! let rec = RecordingPlugin::new("rec").records::<Greet>();
//! let calls = rec.clone();
//! let harness = PluginHarness::new(rec).start().await.unwrap();
//! harness.hook::<Greet>().call(&"ada".to_owned()).await.unwrap();
//! assert_eq!(calls.calls::<Greet>(), ["ada".to_owned()]);
//! # });
//! ```

mod fake;
mod harness;
mod recording;

pub use fake::{FakePlugin, Journal, Reply, Script, Step};
pub use harness::{PluginHarness, RunningPlugin};
pub use recording::RecordingPlugin;
