//! [`RecordingPlugin`]: a plugin that captures the arguments of every call it receives.

use std::any::Any;
use std::sync::{Arc, Mutex, PoisonError};

use crate::{HookSpec, Plugin, PluginMeta, RegisterError, Registrar};

type Register =
    Arc<dyn Fn(&RecordingPlugin, &mut Registrar) -> Result<(), RegisterError> + Send + Sync>;
type Calls = Arc<Mutex<Vec<(&'static str, Box<dyn Any + Send>)>>>;

/// Captures every call it gets, per hook, in arrival order; its impls decline (`Ok(None)`).
/// Clones share the recording, so keep one to inspect after handing the other to a manager.
#[derive(Clone)]
pub struct RecordingPlugin {
    name: String,
    hooks: Vec<Register>,
    calls: Calls,
}

impl std::fmt::Debug for RecordingPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingPlugin")
            .field("name", &self.name)
            .field("calls", &self.hook_names())
            .finish()
    }
}

impl RecordingPlugin {
    /// A recording plugin named `name`, recording nothing yet.
    pub fn new(name: impl Into<String>) -> Self {
        RecordingPlugin {
            name: name.into(),
            hooks: Vec::new(),
            calls: Arc::default(),
        }
    }

    /// Also records calls of hook `S` (a sync impl that clones the arguments).
    #[must_use]
    pub fn records<S: HookSpec>(mut self) -> Self
    where
        S::Args: Clone,
    {
        self.hooks
            .push(Arc::new(|me: &RecordingPlugin, r: &mut Registrar| {
                let calls = me.calls.clone();
                r.sync_fn::<S>(move |args| {
                    calls
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((S::NAME, Box::new(args.clone())));
                    Ok(None)
                })
                .add()
            }));
        self
    }

    /// The arguments of every call of `S` so far, in arrival order.
    pub fn calls<S: HookSpec>(&self) -> Vec<S::Args>
    where
        S::Args: Clone,
    {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(name, _)| *name == S::NAME)
            .filter_map(|(_, args)| args.downcast_ref::<S::Args>().cloned())
            .collect()
    }

    /// The hook of every call so far, in arrival order.
    pub fn hook_names(&self) -> Vec<&'static str> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(name, _)| *name)
            .collect()
    }
}

impl Plugin for RecordingPlugin {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new(self.name.clone(), "0.0.0")
    }

    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        self.hooks.iter().try_for_each(|h| h(&self, r))
    }
}
