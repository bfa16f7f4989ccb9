//! The `#[plugin]` and `#[hookimpl]` attributes of [hookwire](https://docs.rs/hookwire), used
//! as `#[hookwire::plugin]` and `#[hookimpl]`: one annotated `impl` block is a whole plugin.
//!
//! Depend on `hookwire` (feature `macros`, on by default), not on this crate: the generated code
//! names `::hookwire::...`.
//!
//! ```
//! use hookwire::{HookManager, HookReturn};
//! hookwire::hookspec! {
//!     #[name = "double"]
//!     pub struct Double(u64) -> u64;
//! }
//!
//! struct Doubler;
//!
//! #[hookwire::plugin(name = "doubler", version = "1.0.0")]
//! impl Doubler {
//!     #[hookimpl(tryfirst)]
//!     fn double(&self, x: &u64) -> HookReturn<u64> {
//!         Ok(Some(x * 2))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let pm = HookManager::builder().spec::<Double>().build();
//! pm.add_plugin(Doubler).unwrap();
//! let out = pm.hook::<Double>().call(&21).await.unwrap();
//! assert_eq!(out.into_values(), vec![42]);
//! # }
//! ```

mod expand;
mod options;

use proc_macro::TokenStream;

/// Turns an inherent `impl` block into a hookwire plugin: every method marked `#[hookimpl]` is
/// an impl of a hook, the block's `init`/`start`/`stop`/`health` methods are the plugin's
/// lifecycle, and the attribute's arguments are its metadata.
///
/// The block is kept (its methods stay callable, for tests); the macro adds what one would
/// write by hand: an `impl SyncHook<S>` (a sync method) or `impl Hook<S>` (an `async` one) or
/// `impl HookWrapper<S>` (`wrapper`) per hook, each calling the method, and an
/// `impl Plugin` whose `meta` is built from the arguments and whose `register` adds every hook
/// with its options.
///
/// # Metadata arguments
///
/// All optional; each string is checked when the plugin's dependencies are resolved, as with
/// `PluginMeta` (an invalid one is reported with the plugin's name, never a panic).
///
/// | argument | meaning | default |
/// |---|---|---|
/// | `name = "token-auth"` | the plugin's name | the type's name |
/// | `version = "1.2.0"` | its semver version | `"0.0.0"` |
/// | `description = "..."` | one line | none |
/// | `authors = ["Ada <ada@example.com>"]` | authors | none |
/// | `capabilities = ["auth"]` | capabilities or tags | none |
/// | `requires = ["db ^1", "audit"]` | required plugins: a name, then a requirement (`*` when omitted) | none |
/// | `optional = ["metrics >=0.3"]` | optional dependencies, written the same way | none |
/// | `conflicts = ["legacy-auth <2"]` | incompatible plugins, written the same way | none |
/// | `host_api = "^1"` | the host API versions the plugin works with | any |
/// | `permissions = ["auth", "net"]` | permissions it needs, checked by the host's `PluginGate` (a `SecurityPolicy`, feature `security`) | none |
///
/// A list of one may be written without brackets: `requires = "db ^1"`.
///
/// # Hook methods: `#[hookimpl(...)]`
///
/// `fn name(&self, args: &Args) -> HookReturn<Output>`, sync or `async`. The hook's spec is
/// `spec = Type`, or else the method name in UpperCamelCase (`fn on_startup` → `OnStartup`,
/// which must be in scope and whose `NAME` must be `"on_startup"`: this is checked at compile
/// time). Options, as on `ImplBuilder`:
///
/// | option | meaning |
/// |---|---|
/// | `spec = Type` | the hook this method implements |
/// | `tryfirst`, `trylast` | placement among the impls |
/// | `priority = 10` | order inside the placement (higher first) |
/// | `before = "plugin"`, `after = ["a", "b"]` | ordering constraints on other plugins |
/// | `wrapper` | an `async fn name(&self, args: &Args, next: Next<'_, Spec>) -> WrapResult<Output>` around the other impls |
/// | `timeout_ms = 50`, `timeout = Duration::from_secs(1)` | time limit of one attempt |
/// | `retry = 3`, `retry = RetryPolicy::new(3).no_jitter()` | retries (attempts, or a policy) |
/// | `breaker = BreakerConfig::new(5, Duration::from_secs(30))` | circuit breaker |
/// | `blocking` | a sync method run on tokio's blocking pool (the spec's `Args` must be `Clone`) |
/// | `optional` | pluggy's `optionalhook` |
///
/// One type implements each hook trait once: two sync (or two async) methods of the same spec
/// are a compile error (a sync or async impl, a wrapper and `blocking` ones may share a spec).
/// A method's `#[cfg(..)]` applies to everything generated for it.
///
/// # Lifecycle methods
///
/// Unmarked methods named `init`, `start`, `stop` (`async fn(&self, ctx: &PluginContext) ->
/// Result<(), BoxError>`) and `health` (`async fn(&self) -> Health`) are moved into the
/// `Plugin` impl. A `fn meta(&self) -> PluginMeta` may replace the metadata arguments (for a
/// name computed at run time). Other unmarked methods stay in the block as they are.
#[proc_macro_attribute]
pub fn plugin(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    match expand::plugin(attr.into(), item.clone()) {
        Ok(out) => out.into(),
        // The block is kept (without its markers), so that its uses do not add errors.
        Err(e) => {
            let mut out = e.into_compile_error();
            out.extend(expand::without_markers(item));
            out.into()
        }
    }
}

/// Marks a method of a `#[hookwire::plugin]` impl block as a hook impl; see
/// [`plugin`](macro@plugin) for its options. It is read by `#[hookwire::plugin]` and means
/// nothing on its own: used anywhere else, it is a compile error.
#[proc_macro_attribute]
pub fn hookimpl(_attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let err = syn::Error::new_spanned(
        &item,
        "`#[hookimpl]` marks a method of an impl block annotated with `#[hookwire::plugin]`: add `#[hookwire::plugin(name = \"..\")]` above the `impl` block",
    )
    .into_compile_error();
    quote::quote!(#err #item).into()
}
