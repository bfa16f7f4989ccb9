//! `[conditions]`: what must hold for a manifest's plugin to load — environment variables, the
//! target OS, features the host declares at run time.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::{Deserialize, Serialize};
use toml::Spanned;

/// The values of `std::env::consts::OS` a manifest may name.
const KNOWN_OS: [&str; 15] = [
    "linux",
    "macos",
    "windows",
    "ios",
    "android",
    "freebsd",
    "netbsd",
    "openbsd",
    "dragonfly",
    "solaris",
    "illumos",
    "haiku",
    "aix",
    "wasi",
    "emscripten",
];

/// A manifest's `[conditions]`: every one given must hold for the plugin to load.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Conditions {
    /// `env_set`: these environment variables are set (to anything).
    pub env_set: Vec<String>,
    /// `env`: these environment variables are set to these values.
    pub env: BTreeMap<String, String>,
    /// `os`: the target OS ([`std::env::consts::OS`]) is one of these.
    pub os: Vec<String>,
    /// `features`: the host declared every one of these
    /// ([`DiscoveryOptions::features`](super::DiscoveryOptions::features)).
    pub features: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConditions {
    #[serde(default)]
    env_set: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    os: Vec<Spanned<String>>,
    #[serde(default)]
    features: Vec<String>,
}

impl RawConditions {
    /// The conditions, or the span, field and message of the first invalid one.
    pub(super) fn validate(self) -> Result<Conditions, (Range<usize>, String, String)> {
        let mut os = Vec::with_capacity(self.os.len());
        for name in self.os {
            if !KNOWN_OS.contains(&name.get_ref().as_str()) {
                return Err((
                    name.span(),
                    "conditions.os".to_owned(),
                    format!(
                        "conditions.os names {:?}, not a known OS (expected one of {})",
                        name.get_ref(),
                        KNOWN_OS.join(", ")
                    ),
                ));
            }
            os.push(name.into_inner());
        }
        Ok(Conditions {
            env_set: self.env_set,
            env: self.env,
            os,
            features: self.features,
        })
    }
}

impl Conditions {
    /// Whether every condition holds with the environment `env` (a variable's value, or
    /// `None` if unset), the target OS `os` and the host's `features`; `Err` says the first
    /// that fails, for the operator.
    ///
    /// # Errors
    /// A message naming the first condition that failed, e.g.
    /// `environment variable MODE is "dev", not "prod"`.
    pub fn check(
        &self,
        env: impl Fn(&str) -> Option<String>,
        os: &str,
        features: &[String],
    ) -> Result<(), String> {
        for var in &self.env_set {
            if env(var).is_none() {
                return Err(format!("environment variable {var} is not set"));
            }
        }
        for (var, want) in &self.env {
            match env(var) {
                None => {
                    return Err(format!(
                        "environment variable {var} is not set (expected {want:?})"
                    ))
                }
                Some(v) if &v != want => {
                    return Err(format!("environment variable {var} is {v:?}, not {want:?}"))
                }
                Some(_) => {}
            }
        }
        if !self.os.is_empty() && !self.os.iter().any(|o| o == os) {
            return Err(format!(
                "the target OS is {os}, not one of {}",
                self.os.join(", ")
            ));
        }
        for feature in &self.features {
            if !features.contains(feature) {
                return Err(format!("the host does not declare feature {feature:?}"));
            }
        }
        Ok(())
    }
}
