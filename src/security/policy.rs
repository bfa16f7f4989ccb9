//! [`SecurityPolicy`]: trust levels, which hooks and services need which permission, and which
//! level may be granted what — a [`PluginGate`] for the [`PluginHost`](crate::PluginHost).

use std::any::TypeId;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::plugin::{DeclaredNames, GateSubject, Isolation, PluginGate, Refusal, TrustSource};
use crate::security::SignaturePolicy;
use crate::spec::HookSpec;

/// How far the host trusts a plugin. The host assigns it from where the plugin came from
/// ([`TrustSource`]), never from what the plugin says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TrustLevel {
    /// Runs in the host's process with the host's rights: plugins compiled into the host
    /// (always), and manifest plugins from folders (or keys) the policy trusts. May be granted
    /// every permission (by default it is).
    Trusted,
    /// Admitted only as a process plugin started under a Landlock sandbox and resource limits
    /// (discovery turns both on for it, with the policy's [`SandboxLimits`] where its
    /// manifest sets none); may be granted only the permissions the policy lists for it (none
    /// by default). A linked (in-process) plugin at this level is refused.
    Sandboxed,
    /// Refused: a plugin at this level is not loaded. A manifest plugin from a folder (or
    /// signed by a key) the policy does not list is untrusted.
    Untrusted,
}

impl TrustLevel {
    /// Its name in the configuration: `trusted`, `sandboxed`, `untrusted`.
    pub fn as_str(self) -> &'static str {
        match self {
            TrustLevel::Trusted => "trusted",
            TrustLevel::Sandboxed => "sandboxed",
            TrustLevel::Untrusted => "untrusted",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        match name {
            "trusted" => Some(TrustLevel::Trusted),
            "sandboxed" => Some(TrustLevel::Sandboxed),
            "untrusted" => Some(TrustLevel::Untrusted),
            _ => None,
        }
    }
}

impl std::fmt::Display for TrustLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The resource limits a [`TrustLevel::Sandboxed`] process plugin runs under when its
/// manifest's `[process.limits]` does not set them (a manifest's own value is kept: it can
/// only ask for a limit, and the policy's is a default, not a ceiling). Set with
/// [`SecurityPolicyBuilder::sandbox_limits`] or the `[security.sandbox]` table.
///
/// ```
/// use hookwire::security::SandboxLimits;
/// let limits = SandboxLimits::default().memory_mb(512).cpu_seconds(3600);
/// assert_eq!(limits.memory_mb, Some(512));
/// assert_eq!(limits.open_files, Some(256)); // the default
/// ```
// Not `external::ResourceLimits`, though the builders look alike: this module must build
// without the `process` feature, and the two differ where it matters — these are defaults a
// manifest's own limits override (1024 MiB and 256 files unless set; `memory_mb`, as in
// `[process.limits]` and `[security.sandbox]`), those the limits a launch applies (none unless
// set; `address_space_mib`). One shared type in `limits.rs` would need `external/launch.rs`
// to re-export it, a breaking rename on one side, and these defaults moved to the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct SandboxLimits {
    /// The address space in MiB (`RLIMIT_AS`); default 1024.
    pub memory_mb: Option<u64>,
    /// CPU seconds over the process's life (`RLIMIT_CPU`); default none (a long-running
    /// plugin would reach any fixed value).
    pub cpu_seconds: Option<u64>,
    /// Open file descriptors (`RLIMIT_NOFILE`); default 256.
    pub open_files: Option<u64>,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            memory_mb: Some(1024),
            cpu_seconds: None,
            open_files: Some(256),
        }
    }
}

impl SandboxLimits {
    /// Sets [`memory_mb`](Self::memory_mb).
    #[must_use]
    pub fn memory_mb(mut self, mib: u64) -> Self {
        self.memory_mb = Some(mib);
        self
    }

    /// Sets [`cpu_seconds`](Self::cpu_seconds).
    #[must_use]
    pub fn cpu_seconds(mut self, seconds: u64) -> Self {
        self.cpu_seconds = Some(seconds);
        self
    }

    /// Sets [`open_files`](Self::open_files).
    #[must_use]
    pub fn open_files(mut self, files: u64) -> Self {
        self.open_files = Some(files);
        self
    }
}

/// A policy that does not hold together, or a `[security]` table that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The file is not valid TOML, or a value has the wrong type.
    #[error("{file}, line {line}, column {column}: {message}")]
    Parse {
        /// The file (or the name given to [`SecurityPolicy::from_toml`]).
        file: String,
        /// 1-based line.
        line: u32,
        /// 1-based column.
        column: u32,
        /// What was wrong and what was expected.
        message: String,
    },
    /// A value of the `[security]` table is not one the policy accepts.
    #[error("{file}, line {line}: `security.{key}`: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// 1-based line of the value.
        line: u32,
        /// The key (`grants.sandboxed`, `folders."/opt/plugins"`).
        key: String,
        /// What was wrong and what was expected.
        message: String,
    },
    /// A grant names a permission no hook, service or `permissions` entry defines.
    #[error("the policy grants trust level `{level}` the unknown permission `{permission}`; known permissions: {}; tie it to a hook or service, or list it in the policy's permissions", list(.known))]
    UnknownPermission {
        /// The permission.
        permission: String,
        /// The level it was granted to.
        level: TrustLevel,
        /// The permissions the policy defines.
        known: Vec<String>,
    },
    /// A permission was granted to `untrusted`, which is never loaded.
    #[error("the policy grants permission `{permission}` to trust level `untrusted`, whose plugins are never loaded; grant it to `trusted` or `sandboxed`")]
    GrantToUntrusted {
        /// The permission.
        permission: String,
    },
    /// The policy names hooks or services the host does not declare (checked when the host
    /// starts: [`PluginGate::check_names`]); each would guard nothing.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    UnknownNames(Vec<UnknownName>),
    /// A signature setting of the table (`require_signatures`, `trusted_keys`,
    /// `trusted_key_files`) is invalid: a value of the wrong type, a key that does not parse,
    /// a key file that cannot be read.
    #[error(transparent)]
    Signatures(crate::security::KeyError),
    /// The file could not be read.
    #[error("cannot read security policy `{path}`: {message}")]
    Io {
        /// The file.
        path: String,
        /// The system's message.
        message: String,
    },
}

/// A hook or service the policy names that the host does not declare: see
/// [`PolicyError::UnknownNames`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnknownName {
    /// `hook` or `service`.
    pub kind: &'static str,
    /// The name as the policy writes it.
    pub name: String,
    /// Where the policy names it: `app.toml, line 3: security.hooks.authenticate`, or the
    /// builder method.
    pub origin: String,
    /// The declared name closest to it, if one is close.
    pub suggestion: Option<String>,
    /// What the host declares (of that kind).
    pub declared: Vec<String>,
}

impl std::fmt::Display for UnknownName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, name) = (self.kind, &self.name);
        write!(
            f,
            "{}: the host declares no {kind} `{name}`, so this rule guards nothing",
            self.origin
        )?;
        if let Some(s) = &self.suggestion {
            write!(f, "; did you mean `{s}`?")?;
        }
        const SHOWN: usize = 20;
        let mut declared = list(&self.declared[..self.declared.len().min(SHOWN)]);
        if self.declared.len() > SHOWN {
            declared.push_str(&format!(" and {} more", self.declared.len() - SHOWN));
        }
        if kind == "hook" {
            write!(f, " (a hook is named as its spec names it: `HookSpec::NAME`, the spec struct's name unless `#[name = \"..\"]` gives another, or a JSON hook's name; declared hooks: {declared})")
        } else {
            write!(f, " (a service is named by its full type name, as `std::any::type_name` writes it; the host's services and those of its running plugins: {declared}; a service a plugin provides is known once that plugin runs: guard it with `SecurityPolicyBuilder::service::<T>()`)")
        }
    }
}

/// The declared name closest to `name`: the same but for case, the same last path segment
/// (a service's type), or one a few edits away.
fn closest<'a>(name: &str, declared: &[&'a str]) -> Option<&'a str> {
    let last = |n: &str| n.rsplit("::").next().unwrap_or(n).to_lowercase();
    let lower = name.to_lowercase();
    if let Some(d) = declared.iter().find(|d| d.to_lowercase() == lower) {
        return Some(d);
    }
    if name.contains("::") {
        if let Some(d) = declared.iter().find(|d| last(d) == last(name)) {
            return Some(d);
        }
    }
    declared
        .iter()
        .map(|d| (strsim::jaro_winkler(&lower, &d.to_lowercase()), *d))
        .filter(|(score, _)| *score >= 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, d)| d)
}

/// A hook or service the policy names by a string (from TOML or `*_named`), checked against
/// what the host declares when it starts.
#[derive(Debug, Clone)]
struct NamedRule {
    kind: &'static str,
    name: String,
    origin: String,
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// The host's security policy: a [`PluginGate`] to install with
/// [`PluginHostBuilder::gate`](crate::plugin::PluginHostBuilder::gate).
///
/// - **Permissions** are names (`"auth"`, `"db"`, `"net"`). A hook or a service may need one
///   ([`hook`](SecurityPolicyBuilder::hook), [`service`](SecurityPolicyBuilder::service));
///   [`permission`](SecurityPolicyBuilder::permission) defines one that nothing in the host
///   needs (a process plugin's network access, say).
/// - A plugin **declares** the permissions it needs ([`PluginMeta::permission`](crate::PluginMeta::permission),
///   or its manifest's `permissions`). It is refused when it declares one that is unknown or
///   that its trust level may not be granted; and it may register an impl of a hook (or get a
///   service) only if it declared the permission that hook (or service) needs.
/// - **Trust levels** come from where the plugin came from: code added by the host is
///   [`TrustLevel::Trusted`]; a manifest plugin gets the level of the longest
///   [`folder`](SecurityPolicyBuilder::folder) its folder is in; a manifest whose signature
///   was verified ([`TrustSource::Signed`]) gets the **more trusted** of its folder's level
///   and its signing [`key`](SecurityPolicyBuilder::key)'s level (each vouches on its own: a
///   release key lifts a plugin wherever it is installed, a trusted folder keeps its level
///   whoever signed). A folder or key the policy does not list gives `Untrusted` (refused).
///   `Trusted` may be granted every permission unless [`grant`](SecurityPolicyBuilder::grant)
///   lists its permissions; `Sandboxed` only those granted to it.
/// - **Isolation**: a `Sandboxed` plugin is admitted only as a process plugin that runs under
///   a Landlock sandbox and resource limits ([`Isolation::Sandboxed`]; discovery imposes both,
///   with [`SandboxLimits`] for limits its manifest does not set); `Trusted` ones run in the
///   host's process or as processes, as they are.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use hookwire::security::SecurityPolicy;
/// use hookwire::{Plugin, PluginHost, PluginMeta, Registrar, RegisterError};
/// hookwire::hookspec! { pub struct Authenticate(String) -> String; }
///
/// struct TokenAuth { declare: bool }
/// impl Plugin for TokenAuth {
///     fn meta(&self) -> PluginMeta {
///         let meta = PluginMeta::new("token-auth", "1.0.0");
///         if self.declare { meta.permission("auth") } else { meta }
///     }
///     fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
///         r.sync_fn::<Authenticate>(|t| Ok(Some(format!("user-{t}")))).add()
///     }
/// }
///
/// let policy = SecurityPolicy::builder().hook::<Authenticate>("auth").build().unwrap();
/// let host = PluginHost::builder().gate(policy).build();
/// host.add(TokenAuth { declare: false }).unwrap();
/// let report = host.start().await.unwrap();
/// // It did not declare `auth`: it failed, and none of its impls is registered.
/// assert!(report.failed[0].1.contains("needs permission `auth`"));
/// assert!(host.hook::<Authenticate>().impls().is_empty());
/// # });
/// ```
#[derive(Debug, Clone, Default)]
pub struct SecurityPolicy {
    hooks: HashMap<String, String>,
    /// The names of `hooks` and `service_names` given as strings, with where.
    named: Vec<NamedRule>,
    services: HashMap<TypeId, String>,
    service_names: HashMap<String, String>,
    known: BTreeSet<String>,
    folders: Vec<(PathBuf, TrustLevel)>,
    keys: HashMap<String, TrustLevel>,
    sandbox: SandboxLimits,
    /// What discovery requires of manifests' signatures, with the keys it trusts.
    signatures: SignaturePolicy,
    /// `None`: every known permission (trusted's default).
    trusted: Option<BTreeSet<String>>,
    sandboxed: BTreeSet<String>,
}

/// Builds a [`SecurityPolicy`]; see there.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct SecurityPolicyBuilder {
    policy: SecurityPolicy,
    grants: Vec<(TrustLevel, String)>,
}

impl SecurityPolicyBuilder {
    /// Hook `S` needs `permission`.
    pub fn hook<S: HookSpec>(mut self, permission: &str) -> Self {
        self.policy
            .hooks
            .insert(S::NAME.to_owned(), permission.to_owned());
        self.policy.known.insert(permission.to_owned());
        self
    }

    /// The hook named `hook` (a JSON or dynamic hook, or a typed one by its name,
    /// `HookSpec::NAME`) needs `permission`. The host checks the name when it starts: one it
    /// does not declare fails the start ([`PolicyError::UnknownNames`]).
    pub fn hook_named(self, hook: &str, permission: &str) -> Self {
        let origin = format!("security policy: `SecurityPolicyBuilder::hook_named({hook:?}, ..)`");
        self.rule("hook", hook, permission, origin)
    }

    /// The service of type `T` (what [`PluginContext::get`](crate::PluginContext::get)`::<T>()`
    /// returns) needs `permission`.
    pub fn service<T: 'static>(mut self, permission: &str) -> Self {
        self.policy
            .services
            .insert(TypeId::of::<T>(), permission.to_owned());
        self.policy
            .service_names
            .insert(std::any::type_name::<T>().to_owned(), permission.to_owned());
        self.policy.known.insert(permission.to_owned());
        self
    }

    /// The service whose type is named `type_name` (as `std::any::type_name` writes it,
    /// `my_app::db::Db`) needs `permission`: how the TOML policy names services. The host
    /// checks the name when it starts against its services and those of its running plugins:
    /// one it does not know fails the start ([`PolicyError::UnknownNames`]).
    pub fn service_named(self, type_name: &str, permission: &str) -> Self {
        let origin =
            format!("security policy: `SecurityPolicyBuilder::service_named({type_name:?}, ..)`");
        self.rule("service", type_name, permission, origin)
    }

    /// A hook's or service's rule given by name, checked when the host starts.
    fn rule(mut self, kind: &'static str, name: &str, permission: &str, origin: String) -> Self {
        let rules = if kind == "hook" {
            &mut self.policy.hooks
        } else {
            &mut self.policy.service_names
        };
        rules.insert(name.to_owned(), permission.to_owned());
        self.policy
            .named
            .retain(|r| !(r.kind == kind && r.name == name));
        self.policy.named.push(NamedRule {
            kind,
            name: name.to_owned(),
            origin,
        });
        self.policy.known.insert(permission.to_owned());
        self
    }

    /// Defines `permission` although no hook or service needs it, so that plugins may declare
    /// it and levels be granted it (say `net`, for what a process plugin may reach).
    pub fn permission(mut self, permission: &str) -> Self {
        self.policy.known.insert(permission.to_owned());
        self
    }

    /// Manifest plugins in `folder` (or below it) get `level`; the longest matching folder
    /// wins. Paths are compared once resolved (`..` and symbolic links, as
    /// `std::fs::canonicalize` does): `core/../inbox/x`, or a link in `core` to a folder
    /// elsewhere, is not in `core`. A plugin folder (or a listed folder) that cannot be
    /// resolved — it does not exist — is in no listed folder: `untrusted`.
    pub fn folder(mut self, folder: impl Into<PathBuf>, level: TrustLevel) -> Self {
        self.policy.folders.push((folder.into(), level));
        self
    }

    /// Manifest plugins signed by the key with id `key_id` (as
    /// [`KeyId`](crate::security::KeyId) displays it) get `level`, or their folder's if that
    /// is more trusted.
    pub fn key(mut self, key_id: &str, level: TrustLevel) -> Self {
        self.policy.keys.insert(key_id.to_owned(), level);
        self
    }

    /// What discovery requires of the signatures of manifests (whether they are required,
    /// and the public keys that verify them), as the `[security]` table's
    /// `require_signatures`, `trusted_keys` and `trusted_key_files` say. The host's
    /// [`discover`](crate::PluginHost::discover) applies it (with the options' own
    /// [`DiscoveryOptions::signatures`](crate::discovery::DiscoveryOptions::signatures), if
    /// any: required if either requires, every key either trusts). Default: not required, no
    /// key.
    pub fn signatures(mut self, policy: SignaturePolicy) -> Self {
        self.policy.signatures = policy;
        self
    }

    /// The limits a `sandboxed` process plugin runs under where its manifest sets none
    /// (default: [`SandboxLimits::default`]).
    pub fn sandbox_limits(mut self, limits: SandboxLimits) -> Self {
        self.policy.sandbox = limits;
        self
    }

    /// Level `level` may be granted `permissions` (added to what it may be granted already).
    /// Granting anything to `trusted` limits it to what is granted.
    pub fn grant<I, P>(mut self, level: TrustLevel, permissions: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        if level == TrustLevel::Trusted && self.policy.trusted.is_none() {
            self.policy.trusted = Some(BTreeSet::new());
        }
        self.grants
            .extend(permissions.into_iter().map(|p| (level, p.into())));
        self
    }

    /// The policy.
    ///
    /// # Errors
    /// [`PolicyError::UnknownPermission`] for a grant of a permission the policy does not
    /// define; [`PolicyError::GrantToUntrusted`] for a grant to `untrusted`.
    pub fn build(mut self) -> Result<SecurityPolicy, PolicyError> {
        for (level, permission) in self.grants {
            if !self.policy.known.contains(&permission) {
                return Err(PolicyError::UnknownPermission {
                    permission,
                    level,
                    known: self.policy.known.iter().cloned().collect(),
                });
            }
            match level {
                TrustLevel::Trusted => {
                    self.policy
                        .trusted
                        .get_or_insert_with(BTreeSet::new)
                        .insert(permission);
                }
                TrustLevel::Sandboxed => {
                    self.policy.sandboxed.insert(permission);
                }
                TrustLevel::Untrusted => return Err(PolicyError::GrantToUntrusted { permission }),
            }
        }
        Ok(self.policy)
    }
}

/// The `[security]` table of the host's configuration file.
#[derive(Deserialize)]
struct HostFile {
    #[serde(default)]
    security: Option<RawPolicy>,
}

type SpannedMap = BTreeMap<Spanned<String>, Spanned<String>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    permissions: Vec<Spanned<String>>,
    #[serde(default)]
    hooks: SpannedMap,
    #[serde(default)]
    services: SpannedMap,
    #[serde(default)]
    folders: SpannedMap,
    #[serde(default)]
    keys: SpannedMap,
    #[serde(default)]
    grants: BTreeMap<Spanned<String>, Vec<Spanned<String>>>,
    #[serde(default)]
    sandbox: Option<SandboxLimits>,
    // The signature settings of the same table, read by `SignaturePolicy` below.
    #[serde(default, rename = "require_signatures")]
    _require_signatures: Option<toml::Value>,
    #[serde(default, rename = "trusted_keys")]
    _trusted_keys: Option<toml::Value>,
    #[serde(default, rename = "trusted_key_files")]
    _trusted_key_files: Option<toml::Value>,
}

fn line_col(text: &str, pos: usize) -> (u32, u32) {
    let before = text.get(..pos).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    (clamp(line), clamp(column))
}

fn quoted_key(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

impl SecurityPolicy {
    /// A builder: permissions of hooks and services, folders, keys, grants.
    pub fn builder() -> SecurityPolicyBuilder {
        SecurityPolicyBuilder::default()
    }

    /// The policy of the `[security]` table of a host configuration file (the file
    /// [`HostConfig::parse`](crate::config::HostConfig::parse) reads; it ignores this table).
    /// `source` names the file in messages. Without a `[security]` table: an empty policy
    /// (code plugins may implement any hook; manifest plugins are untrusted).
    ///
    /// ```toml
    /// [security]
    /// permissions = ["net"]                     # defined though no hook or service needs them
    /// hooks = { Authenticate = "auth" }         # hook name (`HookSpec::NAME`) = permission
    /// services = { "my_app::db::Db" = "db" }    # service type name (`type_name`) = permission
    /// folders = { "/opt/plugins" = "sandboxed", "/opt/plugins/core" = "trusted" }
    /// keys = { "3f2a9c0d1e4b5a6f" = "trusted" } # signing key id = level
    /// grants = { sandboxed = ["net"] }          # level = permissions it may be granted
    /// require_signatures = true                 # discovery loads only plugins signed by
    /// trusted_keys = ["noCFqDmccGCvKQe4S84SqDkiYYSXd0jadle4H6pYTOo="]  # one of these keys
    /// trusted_key_files = ["/etc/app/release.pub"]
    ///
    /// [security.sandbox]                        # limits of sandboxed process plugins
    /// memory_mb = 512                           # (defaults: 1024 MiB, 256 files, no CPU limit)
    /// cpu_seconds = 3600
    /// open_files = 128
    /// ```
    ///
    /// Hook and service names are checked when the host starts, against what it declares: a
    /// name it does not know fails the start ([`PolicyError::UnknownNames`], with the line and
    /// the closest declared name), as the rule would guard nothing.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use hookwire::security::SecurityPolicy;
    /// use hookwire::{HookManager, PluginHost};
    /// hookwire::hookspec! { pub struct Authenticate(String) -> String; }
    ///
    /// let text = "[security]\nhooks = { authenticate = \"auth\" }\n";
    /// let host = PluginHost::builder()
    ///     .hooks(HookManager::builder().spec::<Authenticate>().build())
    ///     .gate(SecurityPolicy::from_toml(text, "app.toml").unwrap())
    ///     .build();
    /// let err = host.start().await.unwrap_err().to_string();
    /// assert!(err.starts_with("app.toml, line 2: `security.hooks.authenticate`: the host declares no hook `authenticate`, so this rule guards nothing; did you mean `Authenticate`?"));
    /// # });
    /// ```
    ///
    /// # Errors
    /// [`PolicyError::Parse`] (line, column, what was expected) for bad TOML, a value of the
    /// wrong type or an unknown key; [`PolicyError::Invalid`] (line, key) for an unknown trust
    /// level, a grant of an unknown permission or a grant to `untrusted`.
    pub fn from_toml(text: &str, source: &str) -> Result<Self, PolicyError> {
        let file: HostFile = toml::from_str(text).map_err(|e| {
            let (line, column) = line_col(text, e.span().map_or(0, |s| s.start));
            PolicyError::Parse {
                file: source.to_owned(),
                line,
                column,
                message: e.message().trim().to_owned(),
            }
        })?;
        let Some(raw) = file.security else {
            return Ok(SecurityPolicy::default());
        };
        let invalid = |at: usize, key: String, message: String| PolicyError::Invalid {
            file: source.to_owned(),
            line: line_col(text, at).0,
            key,
            message,
        };
        let level = |table: &str, key: &Spanned<String>, value: &Spanned<String>| {
            TrustLevel::parse(value.get_ref()).ok_or_else(|| {
                invalid(
                    value.span().start,
                    format!("{table}.{}", quoted_key(key.get_ref())),
                    format!(
                        "unknown trust level `{}`; expected `trusted`, `sandboxed` or `untrusted`",
                        value.get_ref()
                    ),
                )
            })
        };
        let mut b = SecurityPolicy::builder();
        for p in &raw.permissions {
            b = b.permission(p.get_ref());
        }
        let origin = |table: &str, key: &Spanned<String>| {
            format!(
                "{source}, line {}: `security.{table}.{}`",
                line_col(text, key.span().start).0,
                quoted_key(key.get_ref())
            )
        };
        for (hook, permission) in &raw.hooks {
            let at = origin("hooks", hook);
            b = b.rule("hook", hook.get_ref(), permission.get_ref(), at);
        }
        for (service, permission) in &raw.services {
            let at = origin("services", service);
            b = b.rule("service", service.get_ref(), permission.get_ref(), at);
        }
        for (folder, lvl) in &raw.folders {
            b = b.folder(folder.get_ref(), level("folders", folder, lvl)?);
        }
        for (key, lvl) in &raw.keys {
            b = b.key(key.get_ref(), level("keys", key, lvl)?);
        }
        for (lvl, permissions) in &raw.grants {
            let key = format!("grants.{}", quoted_key(lvl.get_ref()));
            let level = TrustLevel::parse(lvl.get_ref()).ok_or_else(|| {
                invalid(
                    lvl.span().start,
                    key.clone(),
                    format!(
                        "unknown trust level `{}`; expected `trusted` or `sandboxed`",
                        lvl.get_ref()
                    ),
                )
            })?;
            for p in permissions {
                if level == TrustLevel::Untrusted {
                    return Err(invalid(
                        p.span().start,
                        key,
                        format!("`untrusted` plugins are never loaded and cannot be granted `{}`; grant it to `trusted` or `sandboxed`", p.get_ref()),
                    ));
                }
                if !b.policy.known.contains(p.get_ref()) {
                    return Err(invalid(
                        p.span().start,
                        key,
                        format!(
                            "unknown permission `{}`; known permissions: {}; tie it to a hook or service, or list it in `security.permissions`",
                            p.get_ref(),
                            list(&b.policy.known.iter().cloned().collect::<Vec<_>>())
                        ),
                    ));
                }
            }
            b = b.grant(level, permissions.iter().map(|p| p.get_ref().clone()));
        }
        if let Some(limits) = raw.sandbox {
            b = b.sandbox_limits(limits);
        }
        // The signature settings, read as `SignaturePolicy::from_config` reads them.
        let table: toml::Table = toml::from_str(text).unwrap_or_default();
        if let Some(security) = table.get("security") {
            let signatures = SignaturePolicy::from_security_table(security, source)
                .map_err(PolicyError::Signatures)?;
            b = b.signatures(signatures);
        }
        b.build()
    }

    /// [`from_toml`](Self::from_toml) of the file at `path`.
    ///
    /// # Errors
    /// [`PolicyError::Io`] if it cannot be read; otherwise as [`from_toml`](Self::from_toml).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, PolicyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// The trust level the policy gives a plugin from `source`: `trusted` for the host's
    /// code; a folder's level (the longest listed folder it is in); a key's level; for a
    /// signed manifest, the more trusted of its folder's and its key's; `untrusted` for a
    /// folder or key the policy does not list, and for a folder that cannot be resolved
    /// (folders are compared with `..` and symbolic links resolved).
    ///
    /// ```
    /// use hookwire::plugin::TrustSource;
    /// use hookwire::security::{SecurityPolicy, TrustLevel};
    /// let plugins = std::env::temp_dir().join(format!("hookwire-level-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(plugins.join("auth"))?;
    /// let policy = SecurityPolicy::builder()
    ///     .folder(&plugins, TrustLevel::Sandboxed)
    ///     .key("3f2a9c0d1e4b5a6f", TrustLevel::Trusted)
    ///     .build()?;
    /// let signed = |key: &str| TrustSource::Signed { folder: plugins.join("auth"), key: key.into() };
    /// assert_eq!(policy.level(&signed("3f2a9c0d1e4b5a6f")), TrustLevel::Trusted);
    /// assert_eq!(policy.level(&signed("0000000000000000")), TrustLevel::Sandboxed);
    /// // Out of the folder through `..`: not in it.
    /// let out = TrustSource::Folder(plugins.join("auth/../.."));
    /// assert_eq!(policy.level(&out), TrustLevel::Untrusted);
    /// # std::fs::remove_dir_all(&plugins)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn level(&self, source: &TrustSource) -> TrustLevel {
        let key = |key: &str| self.keys.get(key).copied().unwrap_or(TrustLevel::Untrusted);
        let folder = |dir: &Path| self.folder_level(dir).unwrap_or(TrustLevel::Untrusted);
        match source {
            TrustSource::Code => TrustLevel::Trusted,
            TrustSource::Folder(dir) => folder(dir),
            TrustSource::SignedBy(k) => key(k),
            // `Trusted < Sandboxed < Untrusted`: the smaller is the more trusted.
            TrustSource::Signed {
                folder: dir,
                key: k,
            } => folder(dir).min(key(k)),
            // A source this policy does not know of is not trusted.
            #[allow(unreachable_patterns)]
            _ => TrustLevel::Untrusted,
        }
    }

    /// The level of the longest listed folder `dir` is in, both resolved (`..` and symbolic
    /// links: a link inside a trusted folder pointing out of it is not in it); `None` when
    /// `dir` cannot be resolved (it does not exist) or is in no folder that can.
    fn folder_level(&self, dir: &Path) -> Option<TrustLevel> {
        let dir = std::fs::canonicalize(dir).ok()?;
        self.folders
            .iter()
            .filter_map(|(f, level)| {
                let f = std::fs::canonicalize(f).ok()?;
                dir.starts_with(&f)
                    .then(|| (f.components().count(), *level))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, level)| level)
    }

    /// What discovery requires of manifests' signatures (see
    /// [`SecurityPolicyBuilder::signatures`]).
    pub fn signatures(&self) -> &SignaturePolicy {
        &self.signatures
    }

    /// The limits a `sandboxed` process plugin runs under where its manifest sets none.
    pub fn sandbox_limits(&self) -> SandboxLimits {
        self.sandbox
    }

    /// Whether level `level` may be granted `permission`.
    pub fn grants(&self, level: TrustLevel, permission: &str) -> bool {
        match level {
            TrustLevel::Trusted => self
                .trusted
                .as_ref()
                .map_or(self.known.contains(permission), |g| g.contains(permission)),
            TrustLevel::Sandboxed => self.sandboxed.contains(permission),
            TrustLevel::Untrusted => false,
        }
    }

    /// Why `plugin` lacks `permission` (declared permissions are grantable: `admit` checked
    /// them), or `None` if it has it.
    fn lacks(&self, plugin: &GateSubject<'_>, permission: &str) -> Option<String> {
        if !plugin.meta.permissions.iter().any(|p| p == permission) {
            return Some(format!(
                "it did not declare; add `{permission}` to the plugin's permissions (its manifest's `permissions`, or `PluginMeta::permission`)"
            ));
        }
        let level = self.level(plugin.source);
        (!self.grants(level, permission)).then(|| {
            format!("its trust level `{level}` (from {}) may not be granted; grant it in the policy's `grants`", plugin.source)
        })
    }
}

impl PluginGate for SecurityPolicy {
    fn admit(&self, plugin: &GateSubject<'_>) -> Result<(), Refusal> {
        let level = self.level(plugin.source);
        let refuse = |permission: Option<&String>, reason: String| Refusal::Plugin {
            plugin: plugin.name().to_owned(),
            permission: permission.cloned(),
            reason,
        };
        if level == TrustLevel::Untrusted {
            return Err(refuse(None, format!(
                "it comes from {}, which the security policy gives trust level `untrusted`; list its folder (or signing key) in the policy with level `trusted` or `sandboxed`",
                plugin.source
            )));
        }
        for p in &plugin.meta.permissions {
            if !self.known.contains(p) {
                return Err(refuse(Some(p), format!(
                    "it declares the unknown permission `{p}` (known permissions: {}); fix its name, or define it in the security policy",
                    list(&self.known.iter().cloned().collect::<Vec<_>>())
                )));
            }
            if !self.grants(level, p) {
                return Err(refuse(Some(p), format!(
                    "it declares permission `{p}`, which its trust level `{level}` (from {}) may not be granted; grant it in the policy (`grants = {{ {level} = [\"{p}\"] }}`) or remove it from the plugin's permissions",
                    plugin.source
                )));
            }
        }
        if level == TrustLevel::Sandboxed && plugin.isolation != Isolation::Sandboxed {
            return Err(refuse(None, format!(
                "it comes from {}, which the security policy gives trust level `sandboxed`, and it would run {}: a sandboxed plugin runs only as a process plugin under a Landlock sandbox and resource limits; ship it as a `kind = \"process\"` plugin, or give its folder (or signing key) level `trusted`",
                plugin.source, plugin.isolation
            )));
        }
        Ok(())
    }

    fn check_hook(&self, plugin: &GateSubject<'_>, hook: &str) -> Result<(), Refusal> {
        let Some(permission) = self.hooks.get(hook) else {
            return Ok(());
        };
        match self.lacks(plugin, permission) {
            None => Ok(()),
            Some(reason) => Err(Refusal::Hook {
                plugin: plugin.name().to_owned(),
                hook: hook.to_owned(),
                permission: permission.clone(),
                reason,
            }),
        }
    }

    /// Every hook and service the policy names by a string (the TOML table,
    /// [`hook_named`](SecurityPolicyBuilder::hook_named),
    /// [`service_named`](SecurityPolicyBuilder::service_named)) must be declared by the host;
    /// those given by type are right by construction.
    fn check_names(&self, declared: &DeclaredNames<'_>) -> Result<(), crate::BoxError> {
        let hooks: Vec<&str> = declared.hooks.iter().map(String::as_str).collect();
        let unknown: Vec<UnknownName> = self
            .named
            .iter()
            .filter_map(|rule| {
                let names: &[&str] = if rule.kind == "hook" {
                    &hooks
                } else {
                    declared.services
                };
                (!names.contains(&rule.name.as_str())).then(|| UnknownName {
                    kind: rule.kind,
                    name: rule.name.clone(),
                    origin: rule.origin.clone(),
                    suggestion: closest(&rule.name, names).map(str::to_owned),
                    declared: names.iter().map(|n| (*n).to_owned()).collect(),
                })
            })
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(Box::new(PolicyError::UnknownNames(unknown)))
        }
    }

    fn check_service(
        &self,
        plugin: &GateSubject<'_>,
        service: TypeId,
        type_name: &'static str,
    ) -> Result<(), Refusal> {
        let Some(permission) = self
            .services
            .get(&service)
            .or_else(|| self.service_names.get(type_name))
        else {
            return Ok(());
        };
        match self.lacks(plugin, permission) {
            None => Ok(()),
            Some(reason) => Err(Refusal::Service {
                plugin: plugin.name().to_owned(),
                service: type_name.to_owned(),
                permission: permission.clone(),
                reason,
            }),
        }
    }
}
