//! Hook specifications: the host's typed contract for one hook.
//!
//! A spec names the hook, its argument type, its output type and its call mode, and optionally
//! marks it historic, versions it, deprecates it or makes it fail fast. Define specs with the
//! [`hookspec!`](crate::hookspec) macro (or implement [`HookSpec`] by hand):
//!
//! ```
//! #[derive(Clone)]
//! pub struct AuthRequest { pub token: String }
//!
//! hookwire::hookspec! {
//!     /// The first plugin that recognises the token answers.
//!     #[firstresult]
//!     #[name = "auth.authenticate"]
//!     pub struct Authenticate(AuthRequest) -> String;
//!
//!     /// Every plugin sees start-up.
//!     pub struct OnStartup(()) -> ();
//! }
//!
//! use hookwire::{CallMode, HookSpec};
//! assert_eq!(Authenticate::NAME, "auth.authenticate");
//! assert_eq!(Authenticate::MODE, CallMode::FirstResult);
//! assert_eq!(OnStartup::NAME, "OnStartup");
//! ```

use std::any::TypeId;
use std::sync::Arc;
use std::time::Duration;

/// How a call combines the answers of its impls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallMode {
    /// Every impl runs; every answer is kept, in call order ("no answer" is dropped from values).
    CollectAll,
    /// Impls run in order until the first one answers (pluggy's `firstresult=True`).
    FirstResult,
}

/// A typed hook specification. Usually written with [`hookspec!`](crate::hookspec).
///
/// The associated types make a wrong impl a compile error: an impl of `Hook<S>` must take
/// `&S::Args` and answer `S::Output`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a hook spec",
    label = "not a `HookSpec`",
    note = "declare specs with `hookwire::hookspec! {{ pub struct MySpec(Args) -> Output; }}`; a `#[hookimpl]` method whose name is not its spec's (in UpperCamelCase) names it with `#[hookimpl(spec = MySpec)]`"
)]
pub trait HookSpec: Sized + Send + Sync + 'static {
    /// What a call passes to every impl (by reference).
    type Args: Send + Sync + 'static;
    /// What an impl answers.
    type Output: Send + 'static;
    /// The hook's name: how plugins, errors, tracing and the dynamic layer refer to it.
    const NAME: &'static str;
    /// Collect every answer, or stop at the first one.
    const MODE: CallMode = CallMode::CollectAll;
    /// Historic hooks are called with `call_historic`, and replayed to impls registered later.
    const HISTORIC: bool = false;
    /// The spec's version, for hosts that evolve a hook.
    const VERSION: u32 = 1;
    /// When set, registering an impl of this hook logs this deprecation warning (pluggy's
    /// `warn_on_impl`).
    const WARN_ON_IMPL: Option<&'static str> = None;
    /// When `true`, the first failing impl stops the call and is returned as an error
    /// (pluggy's behaviour). Default: failures are isolated and reported in the outcome.
    const FAIL_FAST: bool = false;
    /// When `true`, calls run the impls concurrently by default (`#[parallel]`).
    const PARALLEL: bool = false;
    /// A default deadline for every call (`#[deadline_ms = N]`).
    const DEADLINE: Option<Duration> = None;

    /// The spec as runtime data.
    fn info() -> SpecInfo {
        SpecInfo {
            name: Arc::from(Self::NAME),
            mode: Self::MODE,
            historic: Self::HISTORIC,
            version: Self::VERSION,
            warn_on_impl: Self::WARN_ON_IMPL.map(Arc::from),
            fail_fast: Self::FAIL_FAST,
            parallel: Self::PARALLEL,
            deadline: Self::DEADLINE,
            types: TypeKey::of::<Self>(),
            #[cfg(feature = "json")]
            schemas: None,
        }
    }
}

/// Identifies the spec type of a hook, to check impls against specs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TypeKey {
    pub(crate) spec: TypeId,
    pub(crate) spec_name: &'static str,
}

impl PartialEq for TypeKey {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}
impl Eq for TypeKey {}

impl TypeKey {
    pub(crate) fn of<S: HookSpec>() -> Self {
        TypeKey {
            spec: TypeId::of::<S>(),
            spec_name: std::any::type_name::<S>(),
        }
    }
}

/// The spec type behind every dynamic (JSON) hook: JSON arguments, JSON answers. Each dynamic
/// hook's name and mode come from its [`SpecInfo`].
#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
#[derive(Debug, Clone, Copy, Default)]
pub struct DynamicHook;

#[cfg(feature = "json")]
impl HookSpec for DynamicHook {
    type Args = serde_json::Value;
    type Output = serde_json::Value;
    const NAME: &'static str = "<dynamic>";
}

/// A hook spec as runtime data: what [`HookSpec`] declares, or a dynamic (JSON) spec.
#[derive(Debug, Clone)]
pub struct SpecInfo {
    pub(crate) name: Arc<str>,
    pub(crate) mode: CallMode,
    pub(crate) historic: bool,
    pub(crate) version: u32,
    pub(crate) warn_on_impl: Option<Arc<str>>,
    pub(crate) fail_fast: bool,
    pub(crate) parallel: bool,
    pub(crate) deadline: Option<Duration>,
    pub(crate) types: TypeKey,
    /// The JSON Schemas of the arguments and of the answer, when the host gave them.
    #[cfg(feature = "json")]
    pub(crate) schemas: Option<Arc<(serde_json::Value, serde_json::Value)>>,
}

impl SpecInfo {
    /// A dynamic spec: JSON arguments and answers, collect-all. For events named at run time
    /// (`"user.login"`) and out-of-process plugins.
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub fn json(name: impl Into<Arc<str>>) -> Self {
        SpecInfo {
            name: name.into(),
            mode: CallMode::CollectAll,
            historic: false,
            version: 1,
            warn_on_impl: None,
            fail_fast: false,
            parallel: false,
            deadline: None,
            types: TypeKey::of::<DynamicHook>(),
            schemas: None,
        }
    }

    /// Builder: the JSON Schemas of the hook's arguments and of its answer, which process
    /// plugins are offered in the handshake (`docs/protocol.md`), so that their SDK can check
    /// values or generate stubs. For a typed spec whose types derive `schemars::JsonSchema`,
    /// `json_spec_with_schema` (feature `schema`) makes them.
    ///
    /// ```
    /// use hookwire::spec::SpecInfo;
    /// use serde_json::json;
    /// let spec = SpecInfo::json("greet").schemas(json!({"type": "string"}), json!({"type": "string"}));
    /// assert_eq!(spec.args_schema(), Some(&json!({"type": "string"})));
    /// ```
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub fn schemas(mut self, args: serde_json::Value, result: serde_json::Value) -> Self {
        self.schemas = Some(Arc::new((args, result)));
        self
    }

    /// The JSON Schema of the arguments, if the host gave one.
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub fn args_schema(&self) -> Option<&serde_json::Value> {
        self.schemas.as_deref().map(|(args, _)| args)
    }

    /// The JSON Schema of the answer, if the host gave one.
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub fn result_schema(&self) -> Option<&serde_json::Value> {
        self.schemas.as_deref().map(|(_, result)| result)
    }

    /// Builder: make this dynamic spec stop at the first answer.
    pub fn firstresult(mut self) -> Self {
        self.mode = CallMode::FirstResult;
        self
    }

    /// Builder: run this dynamic spec's impls concurrently by default.
    pub fn parallel(mut self) -> Self {
        self.parallel = true;
        self
    }

    /// Builder: a default deadline for every call of this dynamic spec.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Whether calls run the impls concurrently by default.
    pub fn is_parallel(&self) -> bool {
        self.parallel
    }

    /// The default call deadline.
    pub fn default_deadline(&self) -> Option<Duration> {
        self.deadline
    }

    /// The hook's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The call mode.
    pub fn mode(&self) -> CallMode {
        self.mode
    }
    /// Whether the hook is historic.
    pub fn is_historic(&self) -> bool {
        self.historic
    }
    /// The spec version.
    pub fn version(&self) -> u32 {
        self.version
    }
    /// The deprecation warning logged when an impl is registered, if any.
    pub fn warn_on_impl(&self) -> Option<&str> {
        self.warn_on_impl.as_deref()
    }
    /// Whether calls fail fast by default.
    pub fn fail_fast(&self) -> bool {
        self.fail_fast
    }
}

/// Declares typed hook specs: one line each.
///
/// ```text
/// hookwire::hookspec! {
///     /// docs (kept on the generated struct)
///     #[firstresult]              // optional: stop at the first answer
///     #[historic]                 // optional: replay calls to late impls
///     #[fail_fast]                // optional: first failure stops the call
///     #[name = "auth.login"]      // optional: hook name (default: the struct's name)
///     #[version = 2]              // optional: spec version (default 1)
///     #[warn_on_impl = "use X"]   // optional: deprecation warning for implementers
///     #[parallel]                 // optional: run impls concurrently by default
///     #[deadline_ms = 500]        // optional: default deadline of every call
///     pub struct Authenticate(AuthRequest) -> Principal;
/// }
/// ```
///
/// Each spec becomes a unit struct implementing [`HookSpec`]. Any other attribute (docs,
/// `#[derive]`, `#[deprecated]`) is kept on the struct.
#[macro_export]
macro_rules! hookspec {
    () => {};
    ($($rest:tt)+) => {
        // State: [attributes] then one slot per option: mode, historic, fail_fast, version,
        // warn_on_impl, name. A filled slot holds the option's value.
        $crate::__hookspec_munch! { [] [] [] [] [] [] [] [] [] $($rest)+ }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __hookspec_munch {
    ([$($a:tt)*] [] $h:tt $f:tt $v:tt $w:tt $n:tt $p:tt $d:tt #[firstresult] $($rest:tt)*) => {
        $crate::__hookspec_munch! { [$($a)*] [firstresult] $h $f $v $w $n $p $d $($rest)* }
    };
    ([$($a:tt)*] $m:tt [] $f:tt $v:tt $w:tt $n:tt $p:tt $d:tt #[historic] $($rest:tt)*) => {
        $crate::__hookspec_munch! { [$($a)*] $m [historic] $f $v $w $n $p $d $($rest)* }
    };
    ([$($a:tt)*] $m:tt $h:tt [] $v:tt $w:tt $n:tt $p:tt $d:tt #[fail_fast] $($rest:tt)*) => {
        $crate::__hookspec_munch! { [$($a)*] $m $h [fail_fast] $v $w $n $p $d $($rest)* }
    };
    ([$($a:tt)*] $m:tt $h:tt $f:tt [] $w:tt $n:tt $p:tt $d:tt #[version = $ver:literal] $($rest:tt)*) => {
        $crate::__hookspec_munch! { [$($a)*] $m $h $f [$ver] $w $n $p $d $($rest)* }
    };
    ([$($a:tt)*] $m:tt $h:tt $f:tt $v:tt [] $n:tt $p:tt $d:tt #[warn_on_impl = $warn:literal] $($rest:tt)*) => {
        $crate::__hookspec_munch! { [$($a)*] $m $h $f $v [$warn] $n $p $d $($rest)* }
    };
    ([$($a:tt)*] $m:tt $h:tt $f:tt $v:tt $w:tt [] $p:tt $d:tt #[name = $name:literal] $($rest:tt)*) => {
        $crate::__hookspec_munch! { [$($a)*] $m $h $f $v $w [$name] $p $d $($rest)* }
    };
    ([$($a:tt)*] $m:tt $h:tt $f:tt $v:tt $w:tt $n:tt [] $d:tt #[parallel] $($rest:tt)*) => {
        $crate::__hookspec_munch! { [$($a)*] $m $h $f $v $w $n [parallel] $d $($rest)* }
    };
    ([$($a:tt)*] $m:tt $h:tt $f:tt $v:tt $w:tt $n:tt $p:tt [] #[deadline_ms = $ms:literal] $($rest:tt)*) => {
        $crate::__hookspec_munch! { [$($a)*] $m $h $f $v $w $n $p [$ms] $($rest)* }
    };
    ($a:tt $m:tt $h:tt $f:tt $v:tt $w:tt $n:tt $p:tt $d:tt
        #[$opt:ident $(= $val:literal)?] $($rest:tt)*) => {
        $crate::__hookspec_option_or_attr! { [$opt] $a $m $h $f $v $w $n $p $d #[$opt $(= $val)?] $($rest)* }
    };
    ([$($a:tt)*] $m:tt $h:tt $f:tt $v:tt $w:tt $n:tt $p:tt $d:tt #[$meta:meta] $($rest:tt)*) => {
        $crate::__hookspec_munch! { [$($a)* #[$meta]] $m $h $f $v $w $n $p $d $($rest)* }
    };
    ($a:tt $m:tt $h:tt $f:tt $v:tt $w:tt $n:tt $p:tt $d:tt
        $vis:vis struct $spec:ident ( $args:ty ) -> ; $($rest:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "hookspec `", ::core::stringify!($spec),
            "` needs an output type: write `-> ()` for a hook that answers nothing"
        ));
    };
    ([$($a:tt)*] $m:tt $h:tt $f:tt $v:tt $w:tt $n:tt $p:tt $d:tt
        $vis:vis struct $spec:ident ( $args:ty ) -> $out:ty ; $($rest:tt)*) => {
        $($a)*
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $spec;

        impl $crate::HookSpec for $spec {
            type Args = $args;
            type Output = $out;
            const NAME: &'static str = $crate::__hookspec_name!($n $spec);
            $crate::__hookspec_const!(mode $m);
            $crate::__hookspec_const!(historic $h);
            $crate::__hookspec_const!(fail_fast $f);
            $crate::__hookspec_const!(version $v);
            $crate::__hookspec_const!(warn_on_impl $w);
            $crate::__hookspec_const!(parallel $p);
            $crate::__hookspec_const!(deadline $d);
        }

        $crate::hookspec! { $($rest)* }
    };
}

/// A `#[word]` or `#[word = lit]` attribute that is an option already given is an error; any
/// other is kept on the struct.
#[doc(hidden)]
#[macro_export]
macro_rules! __hookspec_option_or_attr {
    ([firstresult] $($t:tt)*) => { $crate::__hookspec_duplicate! { firstresult } };
    ([historic] $($t:tt)*) => { $crate::__hookspec_duplicate! { historic } };
    ([fail_fast] $($t:tt)*) => { $crate::__hookspec_duplicate! { fail_fast } };
    ([version] $($t:tt)*) => { $crate::__hookspec_duplicate! { version } };
    ([warn_on_impl] $($t:tt)*) => { $crate::__hookspec_duplicate! { warn_on_impl } };
    ([name] $($t:tt)*) => { $crate::__hookspec_duplicate! { name } };
    ([parallel] $($t:tt)*) => { $crate::__hookspec_duplicate! { parallel } };
    ([deadline_ms] $($t:tt)*) => { $crate::__hookspec_duplicate! { deadline_ms } };
    ([$other:ident] [$($a:tt)*] $m:tt $h:tt $f:tt $v:tt $w:tt $n:tt $p:tt $d:tt #[$($attr:tt)*] $($rest:tt)*) => {
        $crate::__hookspec_munch! { [$($a)* #[$($attr)*]] $m $h $f $v $w $n $p $d $($rest)* }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __hookspec_duplicate {
    ($opt:ident) => {
        ::core::compile_error!(::core::concat!(
            "hookspec option `#[",
            ::core::stringify!($opt),
            "]` is given twice for one spec; keep one"
        ));
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __hookspec_const {
    ($kind:ident []) => {};
    (mode [firstresult]) => {
        const MODE: $crate::CallMode = $crate::CallMode::FirstResult;
    };
    (historic [historic]) => {
        const HISTORIC: bool = true;
    };
    (fail_fast [fail_fast]) => {
        const FAIL_FAST: bool = true;
    };
    (version [$v:literal]) => {
        const VERSION: u32 = $v;
    };
    (parallel [parallel]) => {
        const PARALLEL: bool = true;
    };
    (deadline [$ms:literal]) => {
        const DEADLINE: ::core::option::Option<::core::time::Duration> =
            ::core::option::Option::Some(::core::time::Duration::from_millis($ms));
    };
    (warn_on_impl [$w:literal]) => {
        const WARN_ON_IMPL: ::core::option::Option<&'static str> = ::core::option::Option::Some($w);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __hookspec_name {
    ([] $spec:ident) => {
        ::core::stringify!($spec)
    };
    ([$name:literal] $spec:ident) => {
        $name
    };
}
