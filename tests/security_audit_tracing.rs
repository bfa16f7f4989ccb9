//! Each `AuditLog` record is also a `tracing` event of target `hookwire::audit` (level
//! `info`, its fields), and a record that cannot be written is an `error` event of that
//! target.
//!
//! A binary of its own: tracing caches callsite interest process-wide, so a test without a
//! subscriber that reaches the audit callsites first (the `security` binary's audit tests)
//! could make these tests miss their events.

use std::sync::{Arc, Mutex};

#[path = "common/log_lines.rs"]
mod log_lines;

use hookwire::security::{AuditError, AuditLog, AuditOutcome, AuditRecord};
use log_lines::Fields;
use tracing::Level;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// One captured event: its level and its fields as `name=value`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Captured {
    level: Level,
    fields: Vec<String>,
}

/// Records the events of target `hookwire::audit`.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Captured>>>);

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() == "hookwire::audit" {
            let mut fields = Fields(Vec::new());
            event.record(&mut fields);
            self.0.lock().unwrap().push(Captured {
                level: *event.metadata().level(),
                fields: fields.0,
            });
        }
    }
}

impl Capture {
    fn events(&self) -> Vec<Captured> {
        self.0.lock().unwrap().clone()
    }
}

fn record() -> AuditRecord {
    AuditRecord::new(
        "greeter",
        Some("1.2.0".to_owned()),
        "permission",
        AuditOutcome::Refused,
        "it declares permission `auth`",
    )
}

#[test]
fn a_record_is_an_info_event_of_the_audit_target_with_its_fields() {
    let capture = Capture::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path().join("audit.jsonl")).unwrap();
    let record = record();
    log.record(&record).unwrap();
    assert_eq!(
        capture.events(),
        [Captured {
            level: Level::INFO,
            fields: vec![
                "message=audit".to_owned(),
                format!("time={}", record.time),
                "plugin=greeter".to_owned(),
                "version=1.2.0".to_owned(),
                "action=permission".to_owned(),
                "outcome=refused".to_owned(),
                "detail=it declares permission `auth`".to_owned(),
            ],
        }]
    );
    // The same record is the file's line.
    let text = std::fs::read_to_string(log.path()).unwrap();
    let lines: Vec<AuditRecord> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, [record]);
}

#[cfg(target_os = "linux")]
#[test]
fn a_record_that_cannot_be_written_is_an_error_event_naming_the_file() {
    let capture = Capture::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));
    // Every write to `/dev/full` fails with "no space left on device".
    let log = AuditLog::open("/dev/full").unwrap();
    let err = log.record(&record()).unwrap_err();
    assert!(matches!(&err, AuditError::Write { path, .. } if path.as_os_str() == "/dev/full"));
    assert!(
        err.to_string()
            .starts_with("cannot write to audit log `/dev/full`: No space left on device"),
        "{err}"
    );
    assert_eq!(log.write_errors(), 1);
    let events = capture.events();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].level, Level::INFO, "the record, emitted first");
    assert_eq!(
        events[1],
        Captured {
            level: Level::ERROR,
            fields: vec![
                "message=cannot write an audit record".to_owned(),
                "path=/dev/full".to_owned(),
                "error=No space left on device (os error 28)".to_owned(),
            ],
        }
    );
}
