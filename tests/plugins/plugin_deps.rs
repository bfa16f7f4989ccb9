//! Plugin metadata and dependency resolution, through the public API only.
//!
//! - every [`DependencyProblem`] kind, with assertions on the variant and on the message (names,
//!   ranges, versions);
//! - bad version strings are values, never panics;
//! - start/stop order and its independence of the input order;
//! - Cargo's caret and pre-release rules;
//! - properties: on random DAGs the order respects every edge, equals a reference model and is
//!   the same for any permutation of the input; on random graphs with a cycle, resolution fails
//!   with real cycles, one per strongly connected group.

use std::collections::{BTreeMap, BTreeSet};

use hookwire::{
    deps::DependencyProblem, deps::Resolution, error::DependencyError, error::MetaError, PluginMeta,
};
use proptest::prelude::*;
use semver::{Version, VersionReq};

fn host() -> Version {
    Version::new(1, 4, 0)
}

fn ok(plugins: &[PluginMeta]) -> Resolution {
    match Resolution::compute(plugins, &host()) {
        Ok(r) => r,
        Err(e) => panic!("expected a resolution, got: {e}"),
    }
}

fn err(plugins: &[PluginMeta]) -> DependencyError {
    match Resolution::compute(plugins, &host()) {
        Ok(r) => panic!("expected an error, got {r:?}"),
        Err(e) => e,
    }
}

/// The error's only problem.
fn only(plugins: &[PluginMeta]) -> (DependencyProblem, String) {
    let e = err(plugins);
    assert_eq!(e.problems().len(), 1, "expected one problem: {e}");
    (e.problems()[0].clone(), e.to_string())
}

fn req(s: &str) -> VersionReq {
    VersionReq::parse(s).unwrap()
}

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

fn assert_contains(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "message lacks {p:?}: {msg}");
    }
}

// ---------------------------------------------------------------------------------------------
// Metadata

#[test]
fn builder_fills_every_field() {
    let m = PluginMeta::new("token-auth", "1.2.0")
        .description("Authenticates API tokens")
        .author("Ada")
        .author("Grace")
        .capability("auth")
        .capability("http")
        .requires("audit", "^1")
        .optional("metrics", ">=0.3")
        .conflicts("legacy-auth", "<2")
        .host_api("^1");
    assert_eq!(m.name, "token-auth");
    assert_eq!(m.version, Some(v("1.2.0")));
    assert_eq!(m.description.as_deref(), Some("Authenticates API tokens"));
    assert_eq!(m.authors, ["Ada", "Grace"]);
    assert_eq!(m.capabilities, ["auth", "http"]);
    assert_eq!(m.dependencies.len(), 2);
    assert_eq!(
        (
            &*m.dependencies[0].name,
            &m.dependencies[0].req,
            m.dependencies[0].optional
        ),
        ("audit", &req("^1"), false)
    );
    assert_eq!(
        (
            &*m.dependencies[1].name,
            &m.dependencies[1].req,
            m.dependencies[1].optional
        ),
        ("metrics", &req(">=0.3"), true)
    );
    assert_eq!(m.conflicts.len(), 1);
    assert_eq!(
        (&*m.conflicts[0].name, &m.conflicts[0].req),
        ("legacy-auth", &req("<2"))
    );
    assert_eq!(m.host_api, Some(req("^1")));
    assert!(m.problems().is_empty());
    assert_eq!(m.validate(), Ok(()));
}

#[test]
fn meta_serialises_to_json() {
    let m = PluginMeta::new("token-auth", "1.2.0-rc.1")
        .author("Ada")
        .capability("auth")
        .requires("audit", "^1")
        .conflicts("legacy-auth", "<2")
        .host_api("^1");
    let json = serde_json::to_value(&m).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "name": "token-auth",
            "version": "1.2.0-rc.1",
            "authors": ["Ada"],
            "capabilities": ["auth"],
            "dependencies": [{ "name": "audit", "req": "^1", "optional": false }],
            "conflicts": [{ "name": "legacy-auth", "req": "<2" }],
            "host_api": "^1",
        })
    );
    // Invalid strings serialise as their messages instead of disappearing.
    let bad = serde_json::to_value(PluginMeta::new("x", "one")).unwrap();
    assert_eq!(bad["version"], serde_json::Value::Null);
    let problems = bad["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1);
    assert_contains(problems[0].as_str().unwrap(), &["`x`", "`one`"]);
}

#[test]
fn invalid_version_is_a_clear_error_not_a_panic() {
    let m = PluginMeta::new("token-auth", "1.2");
    assert_eq!(m.version, None);
    let e = m.validate().unwrap_err();
    assert!(
        matches!(&e, MetaError::InvalidVersion { plugin, version, .. } if plugin == "token-auth" && version == "1.2"),
        "{e:?}"
    );

    let (p, msg) = only(&[m]);
    assert!(matches!(
        p,
        DependencyProblem::InvalidMeta(MetaError::InvalidVersion { .. })
    ));
    assert_contains(
        &msg,
        &["plugin `token-auth`", "invalid version `1.2`", "1.2.0"],
    );
}

#[test]
fn invalid_requirements_are_clear_errors_not_panics() {
    let m = PluginMeta::new("token-auth", "1.2.0")
        .requires("audit", "^^1")
        .optional("metrics", "~>1")
        .conflicts("legacy-auth", "<<2")
        .host_api("one");
    // Nothing invalid is kept as a dependency, conflict or host requirement.
    assert!(m.dependencies.is_empty() && m.conflicts.is_empty() && m.host_api.is_none());
    assert_eq!(m.problems().len(), 4);

    let e = err(&[m]);
    let expect = [
        ("dependency `audit`", "^^1"),
        ("optional dependency `metrics`", "~>1"),
        ("conflict with `legacy-auth`", "<<2"),
        ("host API", "one"),
    ];
    assert_eq!(e.problems().len(), expect.len(), "{e}");
    for (p, (subj, string)) in e.problems().iter().zip(expect) {
        match p {
            DependencyProblem::InvalidMeta(MetaError::InvalidRequirement {
                plugin,
                subject,
                requirement,
                reason,
                ..
            }) => {
                assert_eq!(plugin, "token-auth");
                assert_eq!(subject, subj);
                assert_eq!(requirement, string);
                assert!(!reason.is_empty());
            }
            other => panic!("unexpected problem {other:?}"),
        }
        assert_contains(
            &p.to_string(),
            &["plugin `token-auth`", &format!("`{string}`"), subj],
        );
    }
    assert_contains(&e.to_string(), &["4 problems"]);
}

#[test]
fn empty_name_is_reported() {
    let (p, msg) = only(&[PluginMeta::new("", "1.0.0")]);
    assert!(matches!(
        p,
        DependencyProblem::InvalidMeta(MetaError::EmptyName { .. })
    ));
    assert_contains(&msg, &["empty name", "1.0.0"]);
}

// ---------------------------------------------------------------------------------------------
// Each problem kind

#[test]
fn missing_required_dependency() {
    let (p, msg) = only(&[PluginMeta::new("token-auth", "1.2.0").requires("audit", "^1")]);
    match p {
        DependencyProblem::MissingDependency {
            plugin,
            dependency,
            required,
            ..
        } => {
            assert_eq!((&*plugin, &*dependency), ("token-auth", "audit"));
            assert_eq!(required, req("^1"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_contains(
        &msg,
        &[
            "plugin `token-auth` requires `audit` ^1",
            "no plugin `audit` is present",
            "none",
        ],
    );
}

#[test]
fn version_mismatch_of_a_required_dependency() {
    let (p, msg) = only(&[
        PluginMeta::new("token-auth", "1.2.0").requires("audit", "^1"),
        PluginMeta::new("audit", "2.0.0"),
    ]);
    match p {
        DependencyProblem::VersionMismatch {
            plugin,
            dependency,
            required,
            found,
            optional,
            ..
        } => {
            assert_eq!((&*plugin, &*dependency), ("token-auth", "audit"));
            assert_eq!((required, found, optional), (req("^1"), v("2.0.0"), false));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_contains(
        &msg,
        &[
            "plugin `token-auth` requires `audit` ^1",
            "`audit` 2.0.0 is present",
        ],
    );
}

#[test]
fn present_optional_dependency_must_match() {
    let (p, msg) = only(&[
        PluginMeta::new("token-auth", "1.2.0").optional("metrics", ">=0.3"),
        PluginMeta::new("metrics", "0.2.9"),
    ]);
    assert!(
        matches!(&p, DependencyProblem::VersionMismatch { optional: true, found, required, .. }
            if *found == v("0.2.9") && *required == req(">=0.3")),
        "{p:?}"
    );
    assert_contains(
        &msg,
        &[
            "`token-auth` optionally uses `metrics` >=0.3",
            "`metrics` 0.2.9 is present",
        ],
    );
}

#[test]
fn cycle_names_the_full_path() {
    let plugins = [
        PluginMeta::new("b", "1.0.0").requires("c", "*"),
        PluginMeta::new("a", "1.0.0").requires("b", "*"),
        PluginMeta::new("c", "1.0.0").requires("a", "*"),
        PluginMeta::new("d", "1.0.0").requires("a", "*"),
    ];
    let (p, msg) = only(&plugins);
    assert_eq!(
        p,
        DependencyProblem::Cycle {
            cycle: vec!["a".into(), "b".into(), "c".into(), "a".into()]
        }
    );
    assert_contains(&msg, &["cycle: a -> b -> c -> a"]);
    let e = err(&plugins);
    assert_eq!(e.cycles().collect::<Vec<_>>(), [["a", "b", "c", "a"]]);
}

#[test]
fn self_dependency_is_a_cycle() {
    let (p, msg) = only(&[PluginMeta::new("a", "1.0.0").requires("a", "^1")]);
    assert_eq!(
        p,
        DependencyProblem::Cycle {
            cycle: vec!["a".into(), "a".into()]
        }
    );
    assert_contains(&msg, &["a -> a"]);
}

#[test]
fn a_cycle_through_a_present_optional_dependency_is_a_cycle() {
    let e = err(&[
        PluginMeta::new("a", "1.0.0").optional("b", "*"),
        PluginMeta::new("b", "1.0.0").requires("a", "*"),
    ]);
    assert_eq!(e.cycles().collect::<Vec<_>>(), [["a", "b", "a"]]);
}

#[test]
fn two_separate_cycles_are_both_reported() {
    let e = err(&[
        PluginMeta::new("x", "1.0.0").requires("y", "*"),
        PluginMeta::new("y", "1.0.0").requires("x", "*"),
        PluginMeta::new("b", "1.0.0").requires("a", "*"),
        PluginMeta::new("a", "1.0.0").requires("b", "*"),
    ]);
    assert_eq!(
        e.cycles().collect::<Vec<_>>(),
        [["a", "b", "a"], ["x", "y", "x"]]
    );
}

#[test]
fn declared_conflict() {
    let plugins = [
        PluginMeta::new("token-auth", "1.2.0").conflicts("legacy-auth", "<2"),
        PluginMeta::new("legacy-auth", "1.5.0"),
    ];
    let (p, msg) = only(&plugins);
    match p {
        DependencyProblem::DeclaredConflict {
            plugin,
            other,
            range,
            found,
            ..
        } => {
            assert_eq!((&*plugin, &*other), ("token-auth", "legacy-auth"));
            assert_eq!((range, found), (req("<2"), v("1.5.0")));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_contains(
        &msg,
        &[
            "plugin `token-auth` is incompatible with `legacy-auth` <2",
            "`legacy-auth` 1.5.0 is present",
        ],
    );
}

#[test]
fn conflicts_outside_the_range_absent_or_with_oneself_are_fine() {
    ok(&[
        PluginMeta::new("token-auth", "1.2.0").conflicts("legacy-auth", "<2"),
        PluginMeta::new("legacy-auth", "2.0.0"),
    ]);
    ok(&[PluginMeta::new("token-auth", "1.2.0").conflicts("legacy-auth", "*")]);
    ok(&[PluginMeta::new("token-auth", "1.2.0").conflicts("token-auth", "<2")]);
}

#[test]
fn host_api_mismatch() {
    let (p, msg) = only(&[PluginMeta::new("token-auth", "1.2.0").host_api("^2")]);
    match p {
        DependencyProblem::HostApiMismatch {
            plugin,
            required,
            host: h,
            ..
        } => {
            assert_eq!(plugin, "token-auth");
            assert_eq!((required, h), (req("^2"), host()));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_contains(
        &msg,
        &[
            "plugin `token-auth` requires host API ^2",
            "provides API 1.4.0",
        ],
    );
    ok(&[PluginMeta::new("token-auth", "1.2.0").host_api(">=1.3, <2")]);
}

#[test]
fn duplicate_plugin_name() {
    let (p, msg) = only(&[
        PluginMeta::new("audit", "1.1.0"),
        PluginMeta::new("audit", "1.0.0"),
    ]);
    assert_eq!(
        p,
        DependencyProblem::DuplicatePlugin {
            plugin: "audit".into(),
            versions: vec!["1.0.0".into(), "1.1.0".into()],
        }
    );
    assert_contains(&msg, &["plugin `audit` is listed 2 times", "1.0.0, 1.1.0"]);
}

#[test]
fn a_duplicate_or_invalid_target_is_reported_once_not_as_a_mismatch() {
    // Which copy of `audit` would be meant is ambiguous: only the duplicate is reported.
    let (p, _) = only(&[
        PluginMeta::new("app", "1.0.0").requires("audit", "^3"),
        PluginMeta::new("audit", "1.0.0"),
        PluginMeta::new("audit", "2.0.0"),
    ]);
    assert!(
        matches!(p, DependencyProblem::DuplicatePlugin { .. }),
        "{p:?}"
    );
    // A target whose version did not parse: only its invalid version is reported.
    let (p, _) = only(&[
        PluginMeta::new("app", "1.0.0")
            .requires("audit", "^3")
            .conflicts("audit", "*"),
        PluginMeta::new("audit", "v1"),
    ]);
    assert!(
        matches!(
            p,
            DependencyProblem::InvalidMeta(MetaError::InvalidVersion { .. })
        ),
        "{p:?}"
    );
}

#[test]
fn every_problem_is_reported_in_a_deterministic_order() {
    let plugins = vec![
        PluginMeta::new("token-auth", "1.2.0")
            .requires("audit", "^1")
            .requires("session", "^1")
            .conflicts("legacy-auth", "<2")
            .host_api("^2"),
        PluginMeta::new("audit", "2.0.0"),
        PluginMeta::new("legacy-auth", "1.0.0"),
        PluginMeta::new("broken", "x.y"),
        PluginMeta::new("p", "1.0.0").requires("q", "*"),
        PluginMeta::new("q", "1.0.0").requires("p", "*"),
    ];
    let e = err(&plugins);
    let kinds: Vec<&str> = e
        .problems()
        .iter()
        .map(|p| match p {
            DependencyProblem::InvalidMeta(_) => "invalid",
            DependencyProblem::HostApiMismatch { .. } => "host",
            DependencyProblem::MissingDependency { .. } => "missing",
            DependencyProblem::VersionMismatch { .. } => "mismatch",
            DependencyProblem::DeclaredConflict { .. } => "conflict",
            DependencyProblem::Cycle { .. } => "cycle",
            _ => "other",
        })
        .collect();
    // By plugin name (broken, token-auth), then cycles.
    assert_eq!(
        kinds,
        ["invalid", "host", "mismatch", "missing", "conflict", "cycle"]
    );
    let msg = e.to_string();
    assert_contains(
        &msg,
        &[
            "6 problems",
            "`broken`",
            "host API ^2",
            "`audit` 2.0.0",
            "`session` ^1",
            "`legacy-auth` <2",
            "p -> q -> p",
        ],
    );
    // The same error for any input order.
    let mut reversed = plugins.clone();
    reversed.reverse();
    assert_eq!(err(&reversed), e);
}

// ---------------------------------------------------------------------------------------------
// Ordering

#[test]
fn dependencies_start_first_and_stop_last() {
    let r = ok(&[
        PluginMeta::new("web", "1.0.0")
            .requires("token-auth", "^1")
            .requires("db", "^1"),
        PluginMeta::new("token-auth", "1.2.0").requires("audit", "^1"),
        PluginMeta::new("audit", "1.0.0").requires("db", "^1"),
        PluginMeta::new("db", "1.0.0"),
        PluginMeta::new("cache", "1.0.0"),
    ]);
    // Among the ready plugins, names in order: cache and db are ready first.
    assert_eq!(r.start_order, ["cache", "db", "audit", "token-auth", "web"]);
    assert_eq!(
        r.stop_order().collect::<Vec<_>>(),
        ["web", "token-auth", "audit", "db", "cache"]
    );
    assert!(r.skipped_optional.is_empty());
}

#[test]
fn ties_are_broken_by_name_not_input_order() {
    let names = ["delta", "alpha", "charlie", "bravo"];
    let forward: Vec<_> = names.iter().map(|n| PluginMeta::new(*n, "1.0.0")).collect();
    let mut backward = forward.clone();
    backward.reverse();
    assert_eq!(
        ok(&forward).start_order,
        ["alpha", "bravo", "charlie", "delta"]
    );
    assert_eq!(ok(&forward), ok(&backward));
}

#[test]
fn names_sort_byte_wise_past_their_first_sixteen_bytes() {
    // Equal in their first 16 bytes, then ordered by what follows; a name that is a prefix of
    // another sorts first, and bytes sort as bytes (`é` after `z`).
    let names = [
        "com.example.plugins.storage-b",
        "com.example.plugins.storage",
        "com.example.plugins.storage-a",
        "com.example.plugins.audit",
        "com.example.pluginz",
        "com.example.plugins.\u{e9}tat",
        "com.example.plugins.zebra",
        "com.example.plugin",
    ];
    let metas: Vec<_> = names.iter().map(|n| PluginMeta::new(*n, "1.0.0")).collect();
    let mut expected = names.to_vec();
    expected.sort_unstable();
    assert_eq!(ok(&metas).start_order, expected);
    assert_eq!(
        expected,
        [
            "com.example.plugin",
            "com.example.plugins.audit",
            "com.example.plugins.storage",
            "com.example.plugins.storage-a",
            "com.example.plugins.storage-b",
            "com.example.plugins.zebra",
            "com.example.plugins.\u{e9}tat",
            "com.example.pluginz",
        ]
    );
    // Duplicates past the first 16 bytes are found too.
    let (p, _) = only(&[
        PluginMeta::new("com.example.plugins.storage", "1.1.0"),
        PluginMeta::new("com.example.plugins.storage-a", "1.0.0"),
        PluginMeta::new("com.example.plugins.storage", "1.0.0"),
    ]);
    assert_eq!(
        p,
        DependencyProblem::DuplicatePlugin {
            plugin: "com.example.plugins.storage".into(),
            versions: vec!["1.0.0".into(), "1.1.0".into()],
        }
    );
}

#[test]
fn optional_dependencies_order_when_present_and_are_listed_when_absent() {
    let r = ok(&[
        PluginMeta::new("a", "1.0.0")
            .optional("z-metrics", ">=0.3")
            .optional("tracing", "*")
            .optional("missing-2", "*"),
        PluginMeta::new("b", "1.0.0").optional("missing-1", "^1"),
        PluginMeta::new("z-metrics", "0.4.0"),
    ]);
    // `z-metrics` is present, so it starts before `a` although its name sorts last.
    assert_eq!(r.start_order, ["b", "z-metrics", "a"]);
    assert_eq!(
        r.skipped_optional,
        [
            ("a".to_owned(), "missing-2".to_owned()),
            ("a".to_owned(), "tracing".to_owned()),
            ("b".to_owned(), "missing-1".to_owned()),
        ]
    );
}

#[test]
fn no_plugins_resolve_to_nothing() {
    let r = ok(&[]);
    assert!(r.start_order.is_empty() && r.skipped_optional.is_empty());
    assert_eq!(r.stop_order().len(), 0);
}

// ---------------------------------------------------------------------------------------------
// Cargo's caret and pre-release rules

/// Whether `dep` at `version` satisfies `requirement` as a dependency of `app`.
fn accepts(requirement: &str, version: &str) -> bool {
    let plugins = [
        PluginMeta::new("app", "1.0.0").requires("dep", requirement),
        PluginMeta::new("dep", version),
    ];
    match Resolution::compute(&plugins, &host()) {
        Ok(_) => true,
        Err(e) => {
            assert!(
                matches!(e.problems(), [DependencyProblem::VersionMismatch { .. }]),
                "{e}"
            );
            false
        }
    }
}

#[test]
fn caret_on_zero_major_versions() {
    assert!(accepts("^0.2", "0.2.0"));
    assert!(accepts("^0.2", "0.2.9"));
    assert!(!accepts("^0.2", "0.3.0"));
    assert!(!accepts("^0.2", "0.1.9"));
    assert!(accepts("0.2", "0.2.5"), "a bare version means caret");
    assert!(!accepts("0.2", "0.3.0"));
    assert!(accepts("^0.0.3", "0.0.3"));
    assert!(!accepts("^0.0.3", "0.0.4"));
    assert!(accepts("^0", "0.9.0"));
    assert!(!accepts("^0", "1.0.0"));
    assert!(accepts("^1.2", "1.9.0"));
    assert!(!accepts("^1.2", "2.0.0"));
    assert!(!accepts("^1.2", "1.1.9"));
    assert!(accepts("~1.2", "1.2.7"));
    assert!(!accepts("~1.2", "1.3.0"));
}

#[test]
fn pre_releases_only_match_requirements_that_name_them() {
    assert!(
        !accepts("^2", "2.0.0-rc.1"),
        "a plain range never admits pre-releases"
    );
    assert!(!accepts("*", "2.0.0-rc.1"));
    assert!(!accepts(">=1.0", "2.0.0-rc.1"));
    assert!(
        accepts(">=2.0.0-rc.1", "2.0.0-rc.2"),
        "same major.minor.patch"
    );
    assert!(accepts(">=2.0.0-rc.1", "2.0.0"));
    assert!(accepts(">=2.0.0-rc.1", "2.1.0"));
    assert!(
        !accepts(">=2.0.0-rc.1", "2.1.0-beta.1"),
        "other major.minor.patch"
    );
    assert!(accepts("^2.0.0-rc.1", "2.0.0-rc.1"));
    assert!(!accepts("^2.0.0-rc.2", "2.0.0-rc.1"));
    assert!(accepts("=2.0.0-rc.1", "2.0.0-rc.1"));
    assert!(accepts("^0.3.0-alpha", "0.3.0-beta"));
    assert!(!accepts("^0.3.0-alpha", "0.4.0-beta"));
}

#[test]
fn host_api_follows_the_same_rules() {
    let plugin = |r: &str| [PluginMeta::new("p", "1.0.0").host_api(r)];
    let rc = v("2.0.0-rc.1");
    assert!(Resolution::compute(&plugin("^2"), &rc).is_err());
    assert!(Resolution::compute(&plugin(">=2.0.0-rc.1"), &rc).is_ok());
    assert!(Resolution::compute(&plugin("^0.2"), &v("0.3.0")).is_err());
    assert!(Resolution::compute(&plugin("^0.2"), &v("0.2.4")).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Properties

/// Unique random names, some sharing a prefix longer than 16 bytes, some with non-ASCII
/// characters (names sort byte-wise).
fn names(max: usize) -> impl Strategy<Value = Vec<String>> {
    prop::collection::btree_set(
        "(com\\.example\\.plugins\\.(storage-)?)?[a-zé][a-z0-9é-]{0,6}",
        1..max,
    )
    .prop_map(|s| s.into_iter().collect::<Vec<_>>())
    .prop_shuffle()
}

/// Plugins named `names`, where `edges` are `(dependent, dependency)` index pairs; `optional`
/// picks the edges declared optional.
fn plugins(
    names: &[String],
    edges: &BTreeSet<(usize, usize)>,
    optional: &[bool],
) -> Vec<PluginMeta> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            edges
                .iter()
                .enumerate()
                .filter(|(_, &(from, _))| from == i)
                .fold(
                    PluginMeta::new(name.as_str(), "1.0.0"),
                    |m, (k, &(_, to))| {
                        if optional.get(k).copied().unwrap_or(false) {
                            m.optional(names[to].as_str(), "^1")
                        } else {
                            m.requires(names[to].as_str(), "^1")
                        }
                    },
                )
        })
        .collect()
}

/// Reference model: repeatedly start the smallest name whose dependencies have all started.
fn model_order(names: &[String], edges: &BTreeSet<(usize, usize)>) -> Vec<String> {
    let mut started = vec![false; names.len()];
    let mut out = Vec::new();
    while out.len() < names.len() {
        let next = (0..names.len())
            .filter(|&i| !started[i])
            .filter(|&i| edges.iter().all(|&(from, to)| from != i || started[to]))
            .min_by_key(|&i| &names[i])
            .expect("a DAG always has a ready plugin");
        started[next] = true;
        out.push(names[next].clone());
    }
    out
}

/// Node sets of the strongly connected groups that contain a cycle, by reachability.
fn cyclic_groups(n: usize, edges: &BTreeSet<(usize, usize)>) -> BTreeSet<BTreeSet<usize>> {
    let mut reach = vec![vec![false; n]; n];
    for &(a, b) in edges {
        reach[a][b] = true;
    }
    for k in 0..n {
        for i in 0..n {
            for j in 0..n {
                if reach[i][k] && reach[k][j] {
                    reach[i][j] = true;
                }
            }
        }
    }
    (0..n)
        .filter(|&i| reach[i][i])
        .map(|i| (0..n).filter(|&j| reach[i][j] && reach[j][i]).collect())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn dag_order_respects_edges_and_ignores_input_order(
        (names, edges, optional, perm) in names(24).prop_flat_map(|names| {
            let n = names.len();
            (
                Just(names),
                prop::collection::btree_set((0..n, 0..n), 0..3 * n)
                    .prop_map(|s| s.into_iter()
                        .filter(|(a, b)| a != b)
                        .map(|(a, b)| (a.max(b), a.min(b)))
                        .collect::<BTreeSet<_>>()),
                prop::collection::vec(any::<bool>(), 3 * n),
                Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
            )
        })
    ) {
        let metas = plugins(&names, &edges, &optional);
        let r = Resolution::compute(&metas, &host()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let pos: BTreeMap<&str, usize> =
            r.start_order.iter().enumerate().map(|(i, s)| (s.as_str(), i)).collect();
        prop_assert_eq!(pos.len(), names.len());
        for &(from, to) in &edges {
            prop_assert!(pos[names[to].as_str()] < pos[names[from].as_str()],
                "{} requires {} but starts first: {:?}", names[from], names[to], r.start_order);
        }
        prop_assert_eq!(&r.start_order, &model_order(&names, &edges));
        let permuted: Vec<PluginMeta> = perm.iter().map(|&i| metas[i].clone()).collect();
        prop_assert_eq!(Resolution::compute(&permuted, &host()).unwrap(), r);
    }

    #[test]
    fn graphs_with_a_cycle_fail_with_real_cycles(
        (names, edges) in names(12).prop_flat_map(|names| {
            let n = names.len();
            (
                Just(names),
                prop::collection::btree_set((0..n, 0..n), 0..2 * n),
                // A forced cycle: distinct nodes c0 -> c1 -> .. -> c0 (c0 -> c0 alone).
                Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
                1..=n,
            )
        }).prop_map(|(names, mut edges, order, k)| {
            for w in 0..k {
                edges.insert((order[w], order[(w + 1) % k]));
            }
            (names, edges)
        })
    ) {
        let metas = plugins(&names, &edges, &[]);
        let e = match Resolution::compute(&metas, &host()) {
            Ok(r) => return Err(TestCaseError::fail(format!("resolved a cyclic graph: {r:?}"))),
            Err(e) => e,
        };
        let index: BTreeMap<&str, usize> =
            names.iter().enumerate().map(|(i, s)| (s.as_str(), i)).collect();
        prop_assert!(e.problems().iter().all(|p| matches!(p, DependencyProblem::Cycle { .. })), "{}", e);
        let mut groups = BTreeSet::new();
        for cycle in e.cycles() {
            prop_assert!(cycle.len() >= 2);
            prop_assert_eq!(cycle.first(), cycle.last());
            for pair in cycle.windows(2) {
                let (a, b) = (index[pair[0].as_str()], index[pair[1].as_str()]);
                prop_assert!(edges.contains(&(a, b)), "{} -> {} is not an edge", pair[0], pair[1]);
            }
            let inner: BTreeSet<&String> = cycle[1..].iter().collect();
            prop_assert_eq!(inner.len(), cycle.len() - 1, "not a simple cycle: {:?}", cycle);
            prop_assert_eq!(Some(&cycle[0]), inner.iter().copied().min(), "starts at its smallest name");
            groups.insert(index[cycle[0].as_str()]);
        }
        // One cycle per strongly connected group that has one.
        let expected = cyclic_groups(names.len(), &edges);
        prop_assert_eq!(e.cycles().count(), expected.len(), "{}", e);
        for g in &expected {
            prop_assert!(g.iter().any(|i| groups.contains(i)), "group {:?} has no cycle reported", g);
        }
    }
}
