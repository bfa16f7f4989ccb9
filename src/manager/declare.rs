//! Declaring a host spec: the rules a spec follows on its own, and what a second declaration
//! of the same hook may change (nothing: same types and options, or an error saying which).

use std::sync::Arc;

use super::registry::{warn_deprecated, Registry};
use super::slot::ErasedSlot;
use crate::error::RegisterError;
use crate::spec::{CallMode, SpecInfo};

/// Rules a spec must follow on its own.
pub(super) fn validate_spec(spec: &SpecInfo) -> Result<(), RegisterError> {
    if spec.historic && spec.mode == CallMode::FirstResult {
        return Err(RegisterError::SpecMismatch {
            hook: spec.name.to_string(),
            detail: "a historic hook cannot be first-result (every late impl gets every call replayed); drop one of the two".into(),
        });
    }
    Ok(())
}

fn same_options(a: &SpecInfo, b: &SpecInfo) -> bool {
    a.mode == b.mode
        && a.historic == b.historic
        && a.fail_fast == b.fail_fast
        && a.parallel == b.parallel
        && a.deadline == b.deadline
        && a.version == b.version
}

fn describe_options(s: &SpecInfo) -> String {
    format!(
        "mode {:?}, historic {}, fail_fast {}, parallel {}, deadline {:?}, version {}",
        s.mode, s.historic, s.fail_fast, s.parallel, s.deadline, s.version
    )
}

impl Registry {
    /// Adds (or re-validates) a host spec. `setup` runs on the slot before its impls are
    /// checked (it installs the JSON bridge).
    pub(crate) fn declare(
        &mut self,
        spec: SpecInfo,
        make: impl FnOnce(SpecInfo) -> Arc<dyn ErasedSlot>,
        setup: impl FnOnce(&Arc<dyn ErasedSlot>),
    ) -> Result<(), RegisterError> {
        validate_spec(&spec)?;
        let rec = self.hooks.get(&spec.name);
        if let Some(rec) = rec {
            if let (true, Some(old)) = (rec.declared, &rec.spec) {
                if old.types == spec.types && same_options(old, &spec) {
                    if let Some(slot) = &rec.slot {
                        setup(slot);
                    }
                    return Ok(());
                }
                if old.types == spec.types {
                    return Err(RegisterError::SpecMismatch {
                        hook: spec.name.to_string(),
                        detail: format!(
                            "already declared with other options ({}); declare it once, with one set of options",
                            describe_options(old)
                        ),
                    });
                }
                return Err(RegisterError::SpecMismatch {
                    hook: spec.name.to_string(),
                    detail: format!(
                        "already declared by spec type `{}`, cannot also declare `{}`",
                        old.types.spec_name, spec.types.spec_name
                    ),
                });
            }
        }
        let slot = match rec.and_then(|r| r.slot.clone()) {
            Some(slot) if slot.types() == spec.types => slot,
            Some(_) => {
                let other = rec
                    .and_then(|r| r.spec.as_ref())
                    .map(|s| s.types.spec_name)
                    .unwrap_or("?");
                let plugins: Vec<&str> = rec
                    .map(|r| r.impls.iter().map(|i| &*i.plugin).collect())
                    .unwrap_or_default();
                return Err(RegisterError::SpecMismatch {
                    hook: spec.name.to_string(),
                    detail: format!(
                        "spec type `{}` does not match the impls already registered by plugin(s) {} for spec type `{other}`",
                        spec.types.spec_name,
                        plugins.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
                    ),
                });
            }
            None => make(spec.clone()),
        };
        setup(&slot);
        let impls = rec.map(|r| r.impls.as_slice()).unwrap_or(&[]);
        let prepared = slot.prepare(&spec, impls, true)?;
        for i in impls {
            warn_deprecated(&spec, &i.plugin);
        }
        slot.mark_declared();
        let rec = self.hooks.entry(spec.name.clone()).or_default();
        rec.declared = true;
        rec.spec = Some(spec);
        rec.slot = Some(slot.clone());
        // No replay: a newly declared spec has no history yet.
        let _ = slot.install(prepared, None);
        Ok(())
    }
}
