//! Plugin metadata: who a plugin is, what it needs and what it cannot live with.
//!
//! [`PluginMeta`] is built with chained methods from strings, the way a plugin author writes it
//! (`PluginMeta::new("token-auth", "1.2.0").requires("audit", "^1")`) or a manifest loader fills
//! it in. Versions are [semver](https://semver.org) and requirements use Cargo's syntax and
//! rules ([`semver::VersionReq`]): `"1.2"` means `^1.2`, `^0.2` does not accept `0.3`, and a
//! pre-release such as `2.0.0-rc.1` only matches a requirement that names a pre-release of the
//! same `2.0.0`.
//!
//! # Bad strings are values, not panics
//!
//! Every builder method is infallible. A version or requirement string that does not parse is
//! recorded as a [`MetaError`] naming the plugin and the string; [`PluginMeta::problems`] lists
//! them, [`PluginMeta::validate`] returns the first, and [`Resolution::compute`](crate::deps::Resolution::compute) reports
//! them all with the other dependency problems. We chose this over a panicking `new` because
//! metadata is input: a typo in one plugin's manifest (or in a literal of a third-party plugin)
//! must become that plugin's error for the operator to read, not a crash of the host. And a
//! `Result` from every builder step would make the common, literal case unreadable.

use semver::{Version, VersionReq};
use serde::{Serialize, Serializer};

/// A plugin's metadata: name, version, description, authors, capabilities, dependencies,
/// conflicts and the host API it was built for.
///
/// Build it with [`PluginMeta::new`] and the chained methods; read it through the public
/// fields. The struct is `#[non_exhaustive]`, so new fields can be added without breaking you.
///
/// # Invalid strings
///
/// Invalid version or requirement strings never panic: they are kept as
/// [`problems`](PluginMeta::problems) and make [`Resolution::compute`](crate::deps::Resolution::compute) fail with a clear
/// message naming the plugin and the string. Metadata is input: a typo in one plugin's manifest
/// (or in a literal of a third-party plugin) must become that plugin's error for the operator to
/// read, not a crash of the host; and a `Result` from every builder step would make the common,
/// literal case unreadable. Call [`validate`](PluginMeta::validate) to fail early.
///
/// ```
/// use hookwire::PluginMeta;
///
/// let meta = PluginMeta::new("token-auth", "1.2.0")
///     .description("Authenticates API tokens")
///     .author("Ada <ada@example.com>")
///     .capability("auth")
///     .requires("audit", "^1")
///     .optional("metrics", ">=0.3")
///     .conflicts("legacy-auth", "<2")
///     .host_api("^1");
/// assert!(meta.validate().is_ok());
/// assert_eq!(meta.version, Some(semver::Version::new(1, 2, 0)));
/// assert_eq!(meta.dependencies[0].name, "audit");
/// assert!(meta.dependencies[1].optional);
///
/// // A typo is a value, reported with the plugin's name and the string:
/// let bad = PluginMeta::new("token-auth", "1.2.0").requires("audit", "^^1");
/// let err = bad.validate().unwrap_err();
/// assert!(err.to_string().contains("`token-auth`"));
/// assert!(err.to_string().contains("`^^1`"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PluginMeta {
    /// The plugin's name: unique among the plugins of one host.
    pub name: String,
    /// The plugin's version; `None` when the string given to [`new`](PluginMeta::new) is not
    /// valid semver (the reason is in [`problems`](PluginMeta::problems)).
    pub version: Option<Version>,
    /// A one-line description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Authors, in the order they were added (`"Name <email>"` by convention).
    pub authors: Vec<String>,
    /// Capabilities or tags (`"auth"`, `"storage"`), in the order they were added.
    pub capabilities: Vec<String>,
    /// Required and optional dependencies, in the order they were declared.
    pub dependencies: Vec<Dependency>,
    /// Plugins (and version ranges) this plugin cannot be loaded together with.
    pub conflicts: Vec<Conflict>,
    /// The host API versions the plugin works with; `None` accepts any host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_api: Option<VersionReq>,
    /// The permissions the plugin needs (`"net"`, `"auth"`), in the order they were declared.
    /// A host with a [`PluginGate`](super::PluginGate) checks them (feature `security`:
    /// `SecurityPolicy`); without one they are not used.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
    /// Strings that did not parse; serialised as their messages.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "serialize_messages"
    )]
    problems: Vec<MetaError>,
}

/// A dependency on another plugin, required or optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Dependency {
    /// The name of the plugin depended on.
    pub name: String,
    /// The versions of it that are accepted.
    pub req: VersionReq,
    /// `true` for [`optional`](PluginMeta::optional): the plugin also works without it (but
    /// when it is present, its version must match and it starts first).
    pub optional: bool,
}

/// A declared incompatibility: this plugin cannot be loaded together with `name` at a version
/// matching `req`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Conflict {
    /// The name of the incompatible plugin.
    pub name: String,
    /// Its incompatible versions.
    pub req: VersionReq,
}

/// A string in a [`PluginMeta`] that is not valid: each names the plugin and the string.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetaError {
    /// The plugin's name is empty.
    #[error("a plugin has an empty name (version `{version}`); give it a name")]
    EmptyName {
        /// The version string the nameless plugin was given.
        version: String,
    },
    /// The plugin's version is not valid semver.
    #[error("plugin `{plugin}` has an invalid version `{version}`: {reason}; use MAJOR.MINOR.PATCH, such as `1.2.0` or `2.0.0-rc.1`")]
    InvalidVersion {
        /// The plugin.
        plugin: String,
        /// The string as given.
        version: String,
        /// What the semver parser rejected.
        reason: String,
    },
    /// A dependency, conflict or host API requirement is not a valid version requirement.
    #[error("plugin `{plugin}` has an invalid version requirement `{requirement}` for {subject}: {reason}; use Cargo's syntax, such as `^1.2`, `>=0.3, <0.5` or `*`")]
    InvalidRequirement {
        /// The plugin.
        plugin: String,
        /// What the requirement is for: ``dependency `audit` ``, ``optional dependency
        /// `metrics` ``, ``conflict with `legacy-auth` `` or `host API`.
        subject: String,
        /// The string as given.
        requirement: String,
        /// What the semver parser rejected.
        reason: String,
    },
}

impl PluginMeta {
    /// Metadata for plugin `name` at `version` (semver, such as `"1.2.0"`).
    ///
    /// Never fails: an invalid `version` (or an empty `name`) is recorded in
    /// [`problems`](PluginMeta::problems) and reported by [`validate`](PluginMeta::validate)
    /// and [`Resolution::compute`](crate::deps::Resolution::compute).
    pub fn new(name: impl Into<String>, version: &str) -> Self {
        let name = name.into();
        let mut problems = Vec::new();
        if name.is_empty() {
            problems.push(MetaError::EmptyName {
                version: version.to_owned(),
            });
        }
        let version = match Version::parse(version) {
            Ok(v) => Some(v),
            Err(e) => {
                problems.push(MetaError::InvalidVersion {
                    plugin: name.clone(),
                    version: version.to_owned(),
                    reason: e.to_string(),
                });
                None
            }
        };
        PluginMeta {
            name,
            version,
            description: None,
            authors: Vec::new(),
            capabilities: Vec::new(),
            dependencies: Vec::new(),
            conflicts: Vec::new(),
            host_api: None,
            permissions: Vec::new(),
            problems,
        }
    }

    /// Sets the one-line description.
    #[must_use]
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    /// Adds an author (`"Name <email>"` by convention).
    #[must_use]
    pub fn author(mut self, author: impl Into<String>) -> Self {
        self.authors.push(author.into());
        self
    }

    /// Adds a capability or tag (`"auth"`, `"storage"`).
    #[must_use]
    pub fn capability(mut self, capability: impl Into<String>) -> Self {
        self.capabilities.push(capability.into());
        self
    }

    /// Declares a permission the plugin needs (`"net"`, `"auth"`): a host whose
    /// [`PluginGate`](super::PluginGate) ties a hook or service to it lets the plugin use
    /// them only if it declared it (and its trust level may be granted it).
    #[must_use]
    pub fn permission(mut self, permission: impl Into<String>) -> Self {
        self.permissions.push(permission.into());
        self
    }

    /// Requires plugin `name` at a version matching `req` (Cargo syntax: `"^1"`, `"1.2"`,
    /// `">=0.3, <0.5"`, `"*"`). It starts before this plugin and stops after it.
    ///
    /// An invalid `req` is recorded in [`problems`](PluginMeta::problems), never a panic.
    #[must_use]
    pub fn requires(self, name: impl Into<String>, req: &str) -> Self {
        self.dependency(name.into(), req, false)
    }

    /// Uses plugin `name` when it is present: absent, it is skipped (and listed in
    /// [`Resolution::skipped_optional`](crate::deps::Resolution::skipped_optional)); present, its
    /// version must match `req` and it starts before this plugin, like a required one. If it
    /// fails to start, this plugin starts without it, as if it were absent (listed in
    /// [`StartReport::skipped_optional`](crate::plugin::StartReport::skipped_optional); the services it
    /// provided are gone).
    ///
    /// An invalid `req` is recorded in [`problems`](PluginMeta::problems), never a panic.
    #[must_use]
    pub fn optional(self, name: impl Into<String>, req: &str) -> Self {
        self.dependency(name.into(), req, true)
    }

    /// Declares that this plugin cannot be loaded together with plugin `name` at a version
    /// matching `req` (`.conflicts("legacy-auth", "<2")`: incompatible with `legacy-auth`
    /// below 2). A conflict with the plugin's own name is ignored.
    ///
    /// An invalid `req` is recorded in [`problems`](PluginMeta::problems), never a panic.
    #[must_use]
    pub fn conflicts(mut self, name: impl Into<String>, req: &str) -> Self {
        let name = name.into();
        let subject = format!("conflict with `{name}`");
        if let Some(req) = self.parse_req(req, subject) {
            self.conflicts.push(Conflict { name, req });
        }
        self
    }

    /// Requires the host API version (the `host_api` given to [`Resolution::compute`](crate::deps::Resolution::compute)) to
    /// match `req`, such as `"^1"`. Calling it again replaces the requirement.
    ///
    /// An invalid `req` is recorded in [`problems`](PluginMeta::problems), never a panic.
    #[must_use]
    pub fn host_api(mut self, req: &str) -> Self {
        if let Some(req) = self.parse_req(req, "host API".to_owned()) {
            self.host_api = Some(req);
        }
        self
    }

    /// The strings given to this metadata that are not valid, in the order they were given;
    /// empty when everything parsed.
    pub fn problems(&self) -> &[MetaError] {
        &self.problems
    }

    /// Checks the strings given to this metadata, for callers that want to fail early
    /// ([`Resolution::compute`](crate::deps::Resolution::compute) checks them anyway).
    ///
    /// # Errors
    /// The first of [`problems`](PluginMeta::problems) (the others stay listed there).
    pub fn validate(&self) -> Result<(), MetaError> {
        match self.problems.first() {
            Some(p) => Err(p.clone()),
            None => Ok(()),
        }
    }

    fn dependency(mut self, name: String, req: &str, optional: bool) -> Self {
        let subject = if optional {
            format!("optional dependency `{name}`")
        } else {
            format!("dependency `{name}`")
        };
        if let Some(req) = self.parse_req(req, subject) {
            self.dependencies.push(Dependency {
                name,
                req,
                optional,
            });
        }
        self
    }

    fn parse_req(&mut self, req: &str, subject: String) -> Option<VersionReq> {
        match VersionReq::parse(req) {
            Ok(r) => Some(r),
            Err(e) => {
                self.problems.push(MetaError::InvalidRequirement {
                    plugin: self.name.clone(),
                    subject,
                    requirement: req.to_owned(),
                    reason: e.to_string(),
                });
                None
            }
        }
    }
}

fn serialize_messages<S: Serializer>(problems: &[MetaError], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(problems.iter().map(ToString::to_string))
}
