//! A plugin whose permissions, hooks and services each test chooses.

use std::sync::{Arc, Mutex};

use hookwire::security::SecurityPolicy;
use hookwire::{
    async_trait, BoxError, Plugin, PluginContext, PluginMeta, RegisterError, Registrar,
};

hookwire::hookspec! {
    /// Needs `auth` in the tests' policy.
    pub struct Authenticate(String) -> String;
    /// Needs nothing.
    pub struct Greet(String) -> String;
}

/// A host service that needs `db` in the tests' policy.
#[derive(Debug)]
pub struct Db(pub &'static str);

/// What a [`Probe`] did: the results of its service lookups.
#[derive(Clone, Default)]
pub struct Seen(pub Arc<Mutex<Vec<String>>>);

impl Seen {
    pub fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// A plugin: `permissions` declared; impls of `Greet` then (if `auth`) `Authenticate`, each
/// answering `tag`; in `init`, looks up `Db` with `get` and `require` (if `wants_db`).
#[derive(Clone)]
pub struct Probe {
    pub name: &'static str,
    pub version: &'static str,
    pub tag: &'static str,
    pub permissions: Vec<&'static str>,
    pub auth: bool,
    pub wants_db: bool,
    pub seen: Seen,
}

impl Probe {
    pub fn new(name: &'static str) -> Self {
        Probe {
            name,
            version: "1.0.0",
            tag: "v1",
            permissions: Vec::new(),
            auth: false,
            wants_db: false,
            seen: Seen::default(),
        }
    }
    pub fn permission(mut self, p: &'static str) -> Self {
        self.permissions.push(p);
        self
    }
    pub fn auth(mut self) -> Self {
        self.auth = true;
        self
    }
    pub fn wants_db(mut self) -> Self {
        self.wants_db = true;
        self
    }
    pub fn version(mut self, version: &'static str, tag: &'static str) -> Self {
        self.version = version;
        self.tag = tag;
        self
    }
}

#[async_trait]
impl Plugin for Probe {
    fn meta(&self) -> PluginMeta {
        self.permissions
            .iter()
            .fold(PluginMeta::new(self.name, self.version), |m, p| {
                m.permission(*p)
            })
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        let tag = self.tag;
        r.sync_fn::<Greet>(move |n| Ok(Some(format!("{tag}:{n}"))))
            .add()?;
        if self.auth {
            r.sync_fn::<Authenticate>(move |t| Ok(Some(format!("{tag}:{t}"))))
                .add()?;
        }
        Ok(())
    }
    async fn init(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        if self.wants_db {
            let got = ctx.get::<Db>().map(|d| d.0.to_owned());
            let required = ctx
                .require::<Db>()
                .map(|d| d.0.to_owned())
                .map_err(|e| e.to_string());
            let mut seen = self.seen.0.lock().unwrap();
            seen.push(format!("get: {got:?}"));
            seen.push(format!("require: {required:?}"));
        }
        Ok(())
    }
}

/// `Authenticate` needs `auth`, `Db` needs `db`, `net` is defined; trusted gets everything.
pub fn policy() -> SecurityPolicy {
    SecurityPolicy::builder()
        .hook::<Authenticate>("auth")
        .service::<Db>("db")
        .permission("net")
        .build()
        .unwrap()
}

/// A temporary folder holding the folders `dirs` (relative paths): trust by folder compares
/// resolved paths, so the folders a test names must exist.
pub fn tree(dirs: &[&str]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    for dir in dirs {
        std::fs::create_dir_all(root.path().join(dir)).unwrap();
    }
    root
}
