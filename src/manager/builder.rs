//! [`HookManagerBuilder`]: a [`HookManager`] with its specs declared up front.

use super::shared::Shared;
use super::HookManager;
use crate::error::RegisterError;
use crate::spec::HookSpec;
#[cfg(feature = "json")]
use crate::spec::SpecInfo;

type BuildStep = Box<dyn FnOnce(&HookManager) -> Result<(), RegisterError>>;

/// Builds a [`HookManager`] with its specs.
#[must_use]
#[derive(Default)]
pub struct HookManagerBuilder {
    steps: Vec<BuildStep>,
    stats: bool,
}

impl std::fmt::Debug for HookManagerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookManagerBuilder")
            .field("steps", &self.steps.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl HookManagerBuilder {
    /// Keep per-impl statistics or not (the default); see [`HookManager::stats`]. Each thread
    /// counts on its own cache line per impl (no shared atomic read-modify-write), a
    /// collect-all call over sync impls counts once per call, and latency is sampled: a few
    /// percent on a trivial call (BENCHMARKS.md (f)).
    pub fn stats(mut self, enabled: bool) -> Self {
        self.stats = enabled;
        self
    }

    /// Declares typed spec `S`.
    pub fn spec<S: HookSpec>(mut self) -> Self {
        self.steps.push(Box::new(|pm| pm.add_spec::<S>()));
        self
    }

    /// Declares typed spec `S` and makes it reachable by name from JSON (its types are serde
    /// types); JSON impls may then implement it.
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub fn json_spec<S>(mut self) -> Self
    where
        S: HookSpec,
        S::Args: serde::Serialize + serde::de::DeserializeOwned,
        S::Output: serde::Serialize + serde::de::DeserializeOwned,
    {
        self.steps.push(Box::new(|pm| pm.add_json_spec::<S>()));
        self
    }

    /// [`json_spec`](Self::json_spec) for a spec whose argument and answer types also derive
    /// `schemars::JsonSchema` (schemars 1): their JSON Schemas (draft 2020-12) are offered to
    /// process plugins in the handshake (`args_schema`, `result_schema`), so that an SDK can
    /// check values or generate stubs. Declare the spec once, with this.
    ///
    /// ```
    /// use hookwire::HookManager;
    ///
    /// #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    /// pub struct Login { pub user: String }
    /// hookwire::hookspec! { #[name = "login"] pub struct OnLogin(Login) -> bool; }
    ///
    /// let pm = HookManager::builder().json_spec_with_schema::<OnLogin>().build();
    /// assert!(pm.hook_names().contains(&"login".to_owned()));
    /// ```
    #[cfg(feature = "schema")]
    #[cfg_attr(docsrs, doc(cfg(feature = "schema")))]
    pub fn json_spec_with_schema<S>(mut self) -> Self
    where
        S: HookSpec,
        S::Args: serde::Serialize + serde::de::DeserializeOwned + schemars::JsonSchema,
        S::Output: serde::Serialize + serde::de::DeserializeOwned + schemars::JsonSchema,
    {
        self.steps
            .push(Box::new(|pm| pm.add_json_spec_with_schema::<S>()));
        self
    }

    /// Declares a dynamic (JSON) hook.
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub fn dynamic_spec(mut self, spec: SpecInfo) -> Self {
        self.steps
            .push(Box::new(move |pm| pm.add_dynamic_spec(spec)));
        self
    }

    /// Builds the manager.
    ///
    /// # Panics
    /// If two specs declared here claim the same hook name with different types: that is a bug
    /// in the host's own code, found at start-up. Use [`try_build`](Self::try_build) to get it
    /// as an error instead.
    pub fn build(self) -> HookManager {
        match self.try_build() {
            Ok(pm) => pm,
            Err(e) => panic!("invalid hook specs: {e}"),
        }
    }

    /// Builds the manager.
    ///
    /// # Errors
    /// [`RegisterError::SpecMismatch`] if two specs claim the same hook name with different
    /// types.
    pub fn try_build(self) -> Result<HookManager, RegisterError> {
        let pm = HookManager::with_shared(Shared::new(self.stats));
        for step in self.steps {
            step(&pm)?;
        }
        Ok(pm)
    }
}
