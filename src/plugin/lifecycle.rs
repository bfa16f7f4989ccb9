//! The plugin lifecycle as a state machine (documented in [`crate::plugin`](mod@crate::plugin)): the host moves
//! a plugin's state only through [`PluginState::advance`], which refuses any other move.

use std::fmt;

/// Where a plugin is in its life (`Discovered` by default): `Discovered → Registered →
/// Initialized → Started → Stopped`, or `Failed(reason)` from any state but `Failed`. Only the
/// [`PluginHost`](crate::PluginHost) moves it; see [the lifecycle](mod@crate::plugin#lifecycle).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "reason")]
#[non_exhaustive]
pub enum PluginState {
    /// Found (linked in, or a manifest read), nothing done yet.
    #[default]
    Discovered,
    /// Its impls are registered with the hook manager.
    Registered,
    /// `init` ran: it has its context and provided its services.
    Initialized,
    /// `start` ran: it serves.
    Started,
    /// `stop` ran. [`PluginHost::restart`](crate::PluginHost::restart) brings it back
    /// (`→ Registered`).
    Stopped,
    /// Something failed; the reason says what (e.g. "dependency `db` failed").
    /// [`PluginHost::restart`](crate::PluginHost::restart) tries again (`→ Registered`).
    Failed(String),
}

impl PluginState {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            PluginState::Discovered => "discovered",
            PluginState::Registered => "registered",
            PluginState::Initialized => "initialized",
            PluginState::Started => "started",
            PluginState::Stopped => "stopped",
            PluginState::Failed(_) => "failed",
        }
    }

    /// The regular next state, if any.
    fn successor(&self) -> Option<PluginState> {
        Some(match self {
            PluginState::Discovered => PluginState::Registered,
            PluginState::Registered => PluginState::Initialized,
            PluginState::Initialized => PluginState::Started,
            PluginState::Started => PluginState::Stopped,
            // A restart goes round again.
            PluginState::Stopped | PluginState::Failed(_) => PluginState::Registered,
        })
    }

    /// Whether moving from `self` to `next` is allowed.
    pub(crate) fn can_advance_to(&self, next: &PluginState) -> bool {
        match next {
            PluginState::Failed(_) => !matches!(self, PluginState::Failed(_)),
            _ => self.successor().as_ref() == Some(next),
        }
    }

    /// Moves to `next`.
    ///
    /// # Errors
    /// [`IllegalTransition`] when the lifecycle does not allow it; the state is unchanged.
    pub(crate) fn advance(&mut self, next: PluginState) -> Result<(), IllegalTransition> {
        if !self.can_advance_to(&next) {
            return Err(IllegalTransition {
                from: self.clone(),
                to: next,
            });
        }
        *self = next;
        Ok(())
    }

    /// `true` for [`PluginState::Failed`].
    pub fn is_failed(&self) -> bool {
        matches!(self, PluginState::Failed(_))
    }
}

impl fmt::Display for PluginState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginState::Failed(reason) => write!(f, "failed: {reason}"),
            other => f.write_str(other.name()),
        }
    }
}

/// A lifecycle move that is not allowed: a bug in the host, never caused by a plugin (the
/// host only logs it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("illegal plugin state change: {} -> {} (allowed next: {})", from.name(), to.name(), allowed(from))]
pub(crate) struct IllegalTransition {
    /// The state the plugin is in.
    from: PluginState,
    /// The state asked for.
    to: PluginState,
}

fn allowed(from: &PluginState) -> String {
    let mut next: Vec<&str> = from.successor().iter().map(|s| s.name()).collect();
    if !from.is_failed() {
        next.push("failed");
    }
    if next.is_empty() {
        "none".to_owned()
    } else {
        next.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<PluginState> {
        vec![
            PluginState::Discovered,
            PluginState::Registered,
            PluginState::Initialized,
            PluginState::Started,
            PluginState::Stopped,
            PluginState::Failed("boom".into()),
        ]
    }

    #[test]
    fn every_transition_is_allowed_or_refused_as_specified() {
        let legal = [
            ("discovered", "registered"),
            ("registered", "initialized"),
            ("initialized", "started"),
            ("started", "stopped"),
            ("stopped", "registered"),
            ("failed", "registered"),
        ];
        for from in all() {
            for to in all() {
                let expected = legal.contains(&(from.name(), to.name()))
                    || (to.is_failed() && !from.is_failed());
                let mut s = from.clone();
                let r = s.advance(to.clone());
                assert_eq!(r.is_ok(), expected, "{from} -> {to}");
                if expected {
                    assert_eq!(s, to);
                } else {
                    assert_eq!(s, from, "a refused move changes nothing");
                    let msg = r.unwrap_err().to_string();
                    assert!(
                        msg.contains(&format!("{} -> {}", from.name(), to.name())),
                        "{msg}"
                    );
                }
            }
        }
    }

    #[test]
    fn stopped_and_failed_plugins_can_only_be_restarted() {
        let mut s = PluginState::Failed("dependency `db` failed".into());
        assert_eq!(s.to_string(), "failed: dependency `db` failed");
        let err = s.advance(PluginState::Started).unwrap_err();
        assert!(
            err.to_string().ends_with("(allowed next: registered)"),
            "{err}"
        );
        s.advance(PluginState::Registered).unwrap();
        let mut s = PluginState::Stopped;
        let err = s.advance(PluginState::Started).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("(allowed next: registered, failed)"),
            "{err}"
        );
        s.advance(PluginState::Registered).unwrap();
    }
}
