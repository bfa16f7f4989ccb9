//! [`AuditLog`]: one JSON line per security-relevant event, appended to a file and emitted as
//! a `tracing` event.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast::error::RecvError;

use crate::plugin::{PluginEvent, PluginState};
use crate::PluginHost;

/// A problem with the audit file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The file could not be opened (or created) for appending.
    #[error("cannot open audit log `{}` for appending: {source}; check that its folder exists and that the host may write there", .path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// A record could not be written (or synced) to the file.
    #[error("cannot write to audit log `{}`: {source}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
}

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditOutcome {
    /// It happened.
    Ok,
    /// The host or its policy refused it.
    Refused,
    /// It failed (the detail says why).
    Error,
    /// An administrator asked for it (its effects follow as their own records).
    Requested,
    /// Something happened that is recorded as it is.
    Info,
}

impl AuditOutcome {
    fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Ok => "ok",
            AuditOutcome::Refused => "refused",
            AuditOutcome::Error => "error",
            AuditOutcome::Requested => "requested",
            AuditOutcome::Info => "info",
        }
    }
}

/// One line of the audit log.
///
/// `action` is one of `load` (a plugin started), `unload` (it stopped), `restart` (a stopped
/// or failed plugin is brought up again, or a process plugin's crashed process is started
/// again: outcome `ok`, detail `instance 0 started again (attempt 1)`), `crash` (a process
/// plugin's process ended on its own: outcome `error`, the detail says how), `reload` (a new version replaced it, or tried to),
/// `fail` (it failed: init, start, stop, a crash), `permission` (the policy refused it
/// something), `integrity` (a rejected signature or a pinned file that did not match), `remove` (a removal was refused), an administrator's `stop`, `remove`,
/// `restart`, `replace`, `enable` or `disable` (outcome `requested`, or `refused` when the
/// host's admin check refused the request: nothing was done), `lagged` (the log fell behind the host's
/// events and missed some), or the name of a newer [`PluginEvent`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct AuditRecord {
    /// When, RFC 3339 in UTC with milliseconds (`2026-12-03T11:44:06.123Z`).
    pub time: String,
    /// The plugin.
    pub plugin: String,
    /// Its version, when known.
    pub version: Option<String>,
    /// What happened (see the type's docs).
    pub action: String,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// Details: a reason, an error message, `from -> to`.
    pub detail: String,
}

impl AuditRecord {
    /// A record stamped now.
    pub fn new(
        plugin: impl Into<String>,
        version: Option<String>,
        action: impl Into<String>,
        outcome: AuditOutcome,
        detail: impl Into<String>,
    ) -> Self {
        AuditRecord {
            time: rfc3339(SystemTime::now()),
            plugin: plugin.into(),
            version,
            action: action.into(),
            outcome,
            detail: detail.into(),
        }
    }

    /// The record of `event`, or `None` for a state change the log leaves out (the steps
    /// `discovered -> registered -> initialized` of a start). `version` is the plugin's, if
    /// known (a replacement's record takes the new version from the event).
    pub fn from_event(event: &PluginEvent, version: Option<&str>) -> Option<Self> {
        let version = version.map(str::to_owned);
        let (action, outcome, detail, version) = match event {
            PluginEvent::StateChanged { from, to, .. } => {
                let moved = format!("{from} -> {to}");
                match (from, to) {
                    (_, PluginState::Started) => ("load", AuditOutcome::Ok, moved, version),
                    (_, PluginState::Stopped) => ("unload", AuditOutcome::Ok, moved, version),
                    (_, PluginState::Failed(reason)) => {
                        ("fail", AuditOutcome::Error, reason.clone(), version)
                    }
                    (PluginState::Stopped | PluginState::Failed(_), PluginState::Registered) => {
                        ("restart", AuditOutcome::Ok, moved, version)
                    }
                    _ => return None,
                }
            }
            PluginEvent::Replaced {
                old_version,
                new_version,
                ..
            } => (
                "reload",
                AuditOutcome::Ok,
                format!("{old_version} -> {new_version}"),
                Some(new_version.clone()),
            ),
            PluginEvent::ReloadFailed { error, .. } => {
                ("reload", AuditOutcome::Error, error.clone(), version)
            }
            PluginEvent::RemoveRefused { dependents, .. } => (
                "remove",
                AuditOutcome::Refused,
                format!("required by {}", dependents.join(", ")),
                version,
            ),
            PluginEvent::Refused { error, .. } => {
                ("permission", AuditOutcome::Refused, error.clone(), version)
            }
            PluginEvent::IntegrityFailed { error, .. } => {
                ("integrity", AuditOutcome::Refused, error.clone(), version)
            }
            PluginEvent::Admin { action, .. } => (
                action.as_str(),
                AuditOutcome::Requested,
                String::new(),
                version,
            ),
            PluginEvent::AdminRefused { action, reason, .. } => (
                action.as_str(),
                AuditOutcome::Refused,
                reason.clone(),
                version,
            ),
            // A process plugin's supervisor: one record per crash and per restart.
            PluginEvent::Crashed {
                instance, detail, ..
            } => (
                "crash",
                AuditOutcome::Error,
                format!("instance {instance}: {detail}"),
                version,
            ),
            PluginEvent::Restarted {
                instance, attempt, ..
            } => (
                "restart",
                AuditOutcome::Ok,
                format!("instance {instance} started again (attempt {attempt})"),
                version,
            ),
            // An event added later: recorded as it is, under its name.
            #[allow(unreachable_patterns)]
            other => {
                let json = serde_json::to_value(other).unwrap_or_default();
                let name = json
                    .get("event")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("event")
                    .to_owned();
                return Some(AuditRecord::new(
                    other.plugin(),
                    version,
                    name,
                    AuditOutcome::Info,
                    json.to_string(),
                ));
            }
        };
        Some(AuditRecord::new(
            event.plugin(),
            version,
            action,
            outcome,
            detail,
        ))
    }
}

/// The audit log: appends one JSON line per [`AuditRecord`] to a file, and emits each as a
/// `tracing` event (target `hookwire::audit`, level `info`). Cheap to clone (shared).
///
/// **Durability.** Each record is one `write` on a file opened for appending, so records of
/// concurrent writers (tasks, threads, processes) never interleave. Without
/// [`fsync`](AuditLogBuilder::fsync) (the default) a written record is in the operating
/// system's cache: it survives a crash of the host process but a power loss or kernel crash
/// can lose the last records (seconds' worth). With `fsync(true)` each record is synced to
/// disk before `record` returns: a power loss loses at most the record being written, at the
/// cost of a disk flush per record.
///
/// **Errors.** A record that cannot be written is counted
/// ([`write_errors`](Self::write_errors)), logged at `error` level by `tracing`, and returned
/// by [`record`](Self::record); it never stops the host.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use hookwire::security::AuditLog;
/// use hookwire::PluginHost;
///
/// let dir = std::env::temp_dir().join(format!("hookwire-audit-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let log = AuditLog::open(dir.join("audit.jsonl")).unwrap();
/// let host = PluginHost::new();
/// let task = log.attach(&host); // records the host's events until it is dropped
/// drop(host);
/// task.await.unwrap();
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct AuditLog {
    inner: Arc<Sink>,
}

#[derive(Debug)]
struct Sink {
    file: File,
    path: PathBuf,
    fsync: bool,
    errors: AtomicU64,
}

/// Opens an [`AuditLog`] with settings.
#[derive(Debug, Clone)]
#[must_use]
pub struct AuditLogBuilder {
    path: PathBuf,
    fsync: bool,
}

impl AuditLogBuilder {
    /// Whether each record is synced to disk (`fsync`) before `record` returns; default
    /// `false`. See [`AuditLog`] for what a crash can lose either way.
    pub fn fsync(mut self, each_record: bool) -> Self {
        self.fsync = each_record;
        self
    }

    /// Opens (or creates) the file for appending.
    ///
    /// # Errors
    /// [`AuditError::Open`] naming the file and the system's reason.
    pub fn open(self) -> Result<AuditLog, AuditError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|source| AuditError::Open {
                path: self.path.clone(),
                source,
            })?;
        Ok(AuditLog {
            inner: Arc::new(Sink {
                file,
                path: self.path,
                fsync: self.fsync,
                errors: AtomicU64::new(0),
            }),
        })
    }
}

impl AuditLog {
    /// A builder for the log at `path` (settings: [`fsync`](AuditLogBuilder::fsync)).
    pub fn builder(path: impl Into<PathBuf>) -> AuditLogBuilder {
        AuditLogBuilder {
            path: path.into(),
            fsync: false,
        }
    }

    /// Opens (or creates) the log at `path` for appending, without `fsync`.
    ///
    /// # Errors
    /// [`AuditError::Open`] naming the file and the system's reason.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, AuditError> {
        Self::builder(path).open()
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How many records could not be written so far.
    pub fn write_errors(&self) -> u64 {
        self.inner.errors.load(Ordering::Relaxed)
    }

    /// Appends `record` (one `write` of one line) and emits it as a `tracing` event.
    ///
    /// # Errors
    /// [`AuditError::Write`] if the write (or the sync) failed; it is also counted and logged.
    pub fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
        tracing::info!(
            target: "hookwire::audit",
            time = %record.time,
            plugin = %record.plugin,
            version = record.version.as_deref(),
            action = %record.action,
            outcome = record.outcome.as_str(),
            detail = %record.detail,
            "audit"
        );
        let sink = &*self.inner;
        let mut line = serde_json::to_vec(record).unwrap_or_default();
        line.push(b'\n');
        // One `write_all` of the whole line: on a file opened for appending, one write(2)
        // (it loops only on a short write, which regular files do not make short of an error).
        let written = (&sink.file).write_all(&line).and_then(|()| {
            if sink.fsync {
                sink.file.sync_data()
            } else {
                Ok(())
            }
        });
        written.map_err(|source| {
            sink.errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(target: "hookwire::audit", path = %sink.path.display(), error = %source, "cannot write an audit record");
            AuditError::Write {
                path: sink.path.clone(),
                source,
            }
        })
    }

    /// Records `event` (see [`AuditRecord::from_event`]) with the plugin's `version`, if
    /// known. Any [`PluginEvent`] is accepted, including ones from other sources (a process
    /// plugin's supervisor).
    ///
    /// # Errors
    /// As [`record`](Self::record).
    pub fn record_event(
        &self,
        event: &PluginEvent,
        version: Option<&str>,
    ) -> Result<(), AuditError> {
        match AuditRecord::from_event(event, version) {
            Some(record) => self.record(&record),
            None => Ok(()),
        }
    }

    /// Records every event of `host` from now on ([`PluginHost::events`]), including its
    /// administrators' requests, allowed or refused (it turns on
    /// [`admin_events`](crate::plugin::PluginHostBuilder::admin_events)), on a task of its
    /// own, which ends when the host is dropped. Each record names the plugin's version at
    /// the time of the event: a state change carries it (a plugin removed and added again in
    /// another version is recorded with each), a replacement gives the new one, and other
    /// events the last one seen (the task holds the host weakly, to look up the version of
    /// a plugin it has seen no state change of). A write error is counted and logged, and the task goes on; if the task
    /// falls behind the host's event channel it records a `lagged` line saying how many
    /// events it missed.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn attach(&self, host: &PluginHost) -> tokio::task::JoinHandle<()> {
        let mut events = host.events();
        host.inner.admin_events.store(true, Ordering::Relaxed);
        let weak: Weak<_> = Arc::downgrade(&host.inner);
        let log = self.clone();
        tokio::spawn(async move {
            let mut versions: HashMap<String, String> = HashMap::new();
            loop {
                let event = match events.recv().await {
                    Ok(event) => event,
                    Err(RecvError::Closed) => break,
                    Err(RecvError::Lagged(n)) => {
                        let _ = log.record(&AuditRecord::new(
                            "",
                            None,
                            "lagged",
                            AuditOutcome::Error,
                            format!("the audit log fell behind and missed {n} plugin events"),
                        ));
                        continue;
                    }
                };
                let name = event.plugin();
                // A state change carries the version of the instance it was about; other
                // events get the version of the last one seen (or, before any, the host's
                // current one), and a replacement's new version.
                if let PluginEvent::StateChanged {
                    version: Some(v), ..
                } = &event
                {
                    versions.insert(name.to_owned(), v.clone());
                } else if let PluginEvent::Replaced { new_version, .. } = &event {
                    versions.insert(name.to_owned(), new_version.clone());
                } else if !versions.contains_key(name) {
                    if let Some(inner) = weak.upgrade() {
                        let host = PluginHost { inner };
                        if let Some(v) = host
                            .plugins()
                            .get(name)
                            .and_then(|p| p.meta.version.as_ref())
                        {
                            versions.insert(name.to_owned(), v.to_string());
                        }
                    }
                }
                let _ = log.record_event(&event, versions.get(name).map(String::as_str));
            }
        })
    }
}

/// `time` as RFC 3339 in UTC with milliseconds. (A dozen lines rather than a date crate: the
/// library needs nothing else of dates.)
fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's `civil_from_days`).
    let z = days.cast_signed() + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::rfc3339;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_210_096_789); // a leap day
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56.789Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00.000Z");
    }
}
