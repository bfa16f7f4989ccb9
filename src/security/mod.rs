//! Plugin security (feature `security`): trust levels and permissions checked by a
//! [`SecurityPolicy`], and an [`AuditLog`].
//!
//! - [`SecurityPolicy`] is a [`PluginGate`](crate::plugin::PluginGate): install it with
//!   [`PluginHostBuilder::gate`](crate::plugin::PluginHostBuilder::gate). It says which hooks
//!   and services need which permission, and which [`TrustLevel`] may be granted what; the host
//!   assigns each plugin its level from where it came from
//!   ([`TrustSource`](crate::plugin::TrustSource)). Build it in code or read it from the
//!   `[security]` table of the host's configuration file ([`SecurityPolicy::from_toml`]). A
//!   signed manifest plugin gets the more trusted of its folder's and its key's level; a
//!   `sandboxed` one is admitted only as a process plugin, which discovery starts under the
//!   Landlock sandbox and [`SandboxLimits`].
//! - [`AuditLog`] appends one JSON line per load, unload, reload, refusal, integrity failure,
//!   failure, restart and administrator action to a file, and emits each as a `tracing` event;
//!   [`AuditLog::attach`] feeds it from a host's [`PluginEvent`](crate::plugin::PluginEvent)s.
//!
//! **Integrity**:
//! - **Pinned files**: a manifest's `[sha256]` table pins the sha256 of every file the plugin
//!   runs (its program or script and the files beside it). [`verified_copy`] copies exactly
//!   those files into a private folder (mode 0700), hashes the copies and refuses on any
//!   mismatch; the plugin runs from the copy, so a file changed after the check is not what
//!   runs. Discovery does this before every start and restart of a process plugin that pins
//!   files (feature `process`). [`check_pins`] checks them in place (for `hookwire plugins
//!   verify`).
//! - **Signatures**: `plugin.toml.sig` ([`SIGNATURE_FILE`]) holds an ed25519 signature of the
//!   exact bytes of `plugin.toml` and the signing key's [`KeyId`]; since the manifest pins
//!   every file, one signature covers them all. A [`SignaturePolicy`] (code, or the host
//!   config's `[security]` table) lists the trusted keys and may require signatures: then
//!   discovery does not load an unsigned or badly signed plugin
//!   ([`DiscoveryStatus::SignatureRejected`](crate::discovery::DiscoveryStatus::SignatureRejected))
//!   and records the signer of the others
//!   ([`DiscoveredPlugin::signed_by`](crate::discovery::DiscoveredPlugin::signed_by)).
//! - **CLI** (with feature `cli`): `hookwire keys generate`, `hookwire plugins sign`,
//!   `hookwire plugins verify`.
//!
//! Linked plugins are compiled into the host: they are not signed (a `kind = "linked"`
//! manifest that configures one is, when signatures are required).
//!
//! What this does not protect against: an in-process plugin (linked, or added in code) runs
//! with the host's rights — permissions decide what it may register and which services it is
//! handed, not what its code can do. Only process plugins are confined (by the operating
//! system: sandbox and limits). A signature says who approved the files, not that they are
//! harmless; a trusted private key that leaks lets anyone sign.

mod audit;
mod integrity;
mod policy;
mod signing;

pub use audit::{AuditError, AuditLog, AuditLogBuilder, AuditOutcome, AuditRecord};
pub use integrity::{check_pins, sha256_hex, verified_copy, IntegrityError, VerifiedCopy};
pub use policy::{
    PolicyError, SandboxLimits, SecurityPolicy, SecurityPolicyBuilder, TrustLevel, UnknownName,
};
pub use signing::{
    sign_plugin, verify_signature, KeyError, KeyId, PrivateKey, PublicKey, SignatureError,
    SignaturePolicy, TrustedKeys, Verified, SIGNATURE_FILE,
};
