//! Parsing the arguments of `#[plugin(...)]` and `#[hookimpl(...)]`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::meta::ParseNestedMeta;
use syn::parse::ParseStream;
use syn::{Expr, Ident, Lit, LitStr, Path, Token};

/// The metadata given to `#[plugin(...)]`.
#[derive(Default)]
pub(crate) struct PluginArgs {
    pub(crate) name: Option<LitStr>,
    pub(crate) version: Option<LitStr>,
    pub(crate) description: Option<LitStr>,
    pub(crate) authors: Vec<LitStr>,
    pub(crate) capabilities: Vec<LitStr>,
    pub(crate) requires: Vec<(LitStr, LitStr)>,
    pub(crate) optional: Vec<(LitStr, LitStr)>,
    pub(crate) conflicts: Vec<(LitStr, LitStr)>,
    pub(crate) host_api: Option<LitStr>,
    pub(crate) permissions: Vec<LitStr>,
    /// Some argument other than `name` was given (a hand-written `meta` excludes them all).
    pub(crate) any: Option<Span>,
}

const PLUGIN_ARGS: &[&str] = &[
    "name",
    "version",
    "description",
    "authors",
    "capabilities",
    "requires",
    "optional",
    "conflicts",
    "host_api",
    "permissions",
];

impl PluginArgs {
    pub(crate) fn parse(&mut self, meta: ParseNestedMeta) -> syn::Result<()> {
        let Some(ident) = meta.path.get_ident().cloned() else {
            return Err(unknown(
                &meta.path,
                "plugin argument",
                PLUGIN_ARGS,
                PLUGIN_HELP,
            ));
        };
        self.any.get_or_insert(ident.span());
        let key = ident.to_string();
        match key.as_str() {
            "name" => set_once(&mut self.name, &ident, lit_str(&meta)?)?,
            "version" => set_once(&mut self.version, &ident, lit_str(&meta)?)?,
            "description" => set_once(&mut self.description, &ident, lit_str(&meta)?)?,
            "host_api" => set_once(&mut self.host_api, &ident, lit_str(&meta)?)?,
            "authors" => self.authors.extend(str_list(&meta)?),
            "capabilities" => self.capabilities.extend(str_list(&meta)?),
            "permissions" => self.permissions.extend(str_list(&meta)?),
            "requires" | "optional" | "conflicts" => {
                let deps = str_list(&meta)?
                    .iter()
                    .map(split_dependency)
                    .collect::<syn::Result<Vec<_>>>()?;
                match key.as_str() {
                    "requires" => self.requires.extend(deps),
                    "optional" => self.optional.extend(deps),
                    _ => self.conflicts.extend(deps),
                }
            }
            _ => {
                return Err(unknown(
                    &meta.path,
                    "plugin argument",
                    PLUGIN_ARGS,
                    PLUGIN_HELP,
                ))
            }
        }
        Ok(())
    }
}

const PLUGIN_HELP: &str = "name = \"..\", version = \"1.2.0\", description = \"..\", authors = [\"..\"], capabilities = [\"..\"], requires = [\"db ^1\"], optional = [\"metrics >=0.3\"], conflicts = [\"legacy <2\"], host_api = \"^1\", permissions = [\"net\"]";

/// `"db ^1"` → (`"db"`, `"^1"`); `"db"` → (`"db"`, `"*"`).
fn split_dependency(s: &LitStr) -> syn::Result<(LitStr, LitStr)> {
    let value = s.value();
    let value = value.trim();
    let (name, req) = match value.split_once(char::is_whitespace) {
        Some((name, req)) => (name, req.trim()),
        None => (value, "*"),
    };
    if name.is_empty() {
        return Err(syn::Error::new_spanned(
            s,
            "a dependency is a plugin name, then a version requirement: write \"db ^1\" (or \"db\" for any version)",
        ));
    }
    Ok((LitStr::new(name, s.span()), LitStr::new(req, s.span())))
}

/// The options of one `#[hookimpl(...)]`.
#[derive(Default)]
pub(crate) struct ImplArgs {
    pub(crate) spec: Option<Path>,
    pub(crate) tryfirst: Option<Ident>,
    pub(crate) trylast: Option<Ident>,
    pub(crate) priority: Option<Expr>,
    pub(crate) before: Vec<LitStr>,
    pub(crate) after: Vec<LitStr>,
    pub(crate) wrapper: Option<Ident>,
    pub(crate) timeout: Option<(Ident, TokenStream)>,
    pub(crate) retry: Option<(Ident, TokenStream)>,
    pub(crate) breaker: Option<(Ident, Expr)>,
    pub(crate) blocking: Option<Ident>,
    pub(crate) optional: Option<Ident>,
}

const IMPL_OPTIONS: &[&str] = &[
    "spec",
    "tryfirst",
    "trylast",
    "priority",
    "before",
    "after",
    "wrapper",
    "timeout_ms",
    "timeout",
    "retry",
    "breaker",
    "blocking",
    "optional",
];

const IMPL_HELP: &str = "spec = Type, tryfirst, trylast, priority = 10, before = \"plugin\", after = [\"a\", \"b\"], wrapper, timeout_ms = 50, timeout = Duration::from_secs(1), retry = 3, breaker = BreakerConfig::new(5, Duration::from_secs(30)), blocking, optional";

impl ImplArgs {
    pub(crate) fn parse(&mut self, meta: ParseNestedMeta) -> syn::Result<()> {
        let Some(ident) = meta.path.get_ident().cloned() else {
            return Err(unknown(
                &meta.path,
                "hookimpl option",
                IMPL_OPTIONS,
                IMPL_HELP,
            ));
        };
        match ident.to_string().as_str() {
            "spec" => {
                let path: Path = meta.value()?.parse()?;
                set_once(&mut self.spec, &ident, path)?;
            }
            "tryfirst" => set_once(&mut self.tryfirst, &ident, ident.clone())?,
            "trylast" => set_once(&mut self.trylast, &ident, ident.clone())?,
            "wrapper" => set_once(&mut self.wrapper, &ident, ident.clone())?,
            "blocking" => set_once(&mut self.blocking, &ident, ident.clone())?,
            "optional" => set_once(&mut self.optional, &ident, ident.clone())?,
            "priority" => {
                let e: Expr = meta.value()?.parse()?;
                set_once(&mut self.priority, &ident, e)?;
            }
            "before" => self.before.extend(str_list(&meta)?),
            "after" => self.after.extend(str_list(&meta)?),
            "timeout_ms" => {
                let e: Expr = meta.value()?.parse()?;
                let d = quote_spanned!(ident.span()=> ::core::time::Duration::from_millis(#e));
                set_once(&mut self.timeout, &ident, (ident.clone(), d))?;
            }
            "timeout" => {
                let e: Expr = meta.value()?.parse()?;
                set_once(&mut self.timeout, &ident, (ident.clone(), quote!(#e)))?;
            }
            "retry" => {
                let e: Expr = meta.value()?.parse()?;
                let policy = match &e {
                    Expr::Lit(l) if matches!(l.lit, Lit::Int(_)) => {
                        quote_spanned!(ident.span()=> ::hookwire::policy::RetryPolicy::new(#e))
                    }
                    _ => quote!(#e),
                };
                set_once(&mut self.retry, &ident, (ident.clone(), policy))?;
            }
            "breaker" => {
                let e: Expr = meta.value()?.parse()?;
                set_once(&mut self.breaker, &ident, (ident.clone(), e))?;
            }
            _ => {
                return Err(unknown(
                    &meta.path,
                    "hookimpl option",
                    IMPL_OPTIONS,
                    IMPL_HELP,
                ))
            }
        }
        Ok(())
    }

    /// Rejects contradictory options, spanned at the second one.
    pub(crate) fn check(&self, is_async: bool) -> syn::Result<()> {
        if let (Some(_), Some(last)) = (&self.tryfirst, &self.trylast) {
            return Err(syn::Error::new_spanned(
                last,
                "`tryfirst` and `trylast` contradict each other: keep one",
            ));
        }
        if let Some(w) = &self.wrapper {
            let policy = self
                .timeout
                .as_ref()
                .map(|t| &t.0)
                .or(self.retry.as_ref().map(|r| &r.0))
                .or(self.breaker.as_ref().map(|b| &b.0))
                .or(self.blocking.as_ref());
            if let Some(p) = policy {
                return Err(syn::Error::new_spanned(
                    p,
                    format!("`{p}` applies to plain impls, not to wrappers: remove it (give the call a `deadline` instead)"),
                ));
            }
            if !is_async {
                return Err(syn::Error::new_spanned(
                    w,
                    "a wrapper is an `async fn name(&self, args: &Args, next: Next<'_, Spec>) -> WrapResult<Output>`: add `async`",
                ));
            }
        }
        if let (Some(b), true) = (&self.blocking, is_async) {
            return Err(syn::Error::new_spanned(
                b,
                "`blocking` runs a sync method on tokio's blocking pool: remove `async` from the method, or remove `blocking`",
            ));
        }
        Ok(())
    }

    /// The `ImplBuilder` calls these options make, in order.
    pub(crate) fn builder_calls(&self) -> TokenStream {
        let mut calls = TokenStream::new();
        if let Some(t) = &self.tryfirst {
            calls.extend(quote_spanned!(t.span()=> .tryfirst()));
        }
        if let Some(t) = &self.trylast {
            calls.extend(quote_spanned!(t.span()=> .trylast()));
        }
        if let Some(p) = &self.priority {
            calls.extend(quote!(.priority(#p)));
        }
        for b in &self.before {
            calls.extend(quote!(.before(#b)));
        }
        for a in &self.after {
            calls.extend(quote!(.after(#a)));
        }
        if let Some((_, d)) = &self.timeout {
            calls.extend(quote!(.timeout(#d)));
        }
        if let Some((_, r)) = &self.retry {
            calls.extend(quote!(.retry(#r)));
        }
        if let Some((_, b)) = &self.breaker {
            calls.extend(quote!(.circuit_breaker(#b)));
        }
        if let Some(o) = &self.optional {
            calls.extend(quote_spanned!(o.span()=> .optional()));
        }
        calls
    }
}

fn set_once<T>(slot: &mut Option<T>, ident: &Ident, value: T) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new_spanned(
            ident,
            format!("`{ident}` is given twice: keep one"),
        ));
    }
    *slot = Some(value);
    Ok(())
}

fn lit_str(meta: &ParseNestedMeta) -> syn::Result<LitStr> {
    let key = meta
        .path
        .get_ident()
        .map(ToString::to_string)
        .unwrap_or_default();
    let value = meta.value()?;
    value.parse::<LitStr>().map_err(|e| {
        syn::Error::new(
            e.span(),
            format!("`{key}` takes a string: write `{key} = \"..\"`"),
        )
    })
}

/// `key = "a"` or `key = ["a", "b"]`.
fn str_list(meta: &ParseNestedMeta) -> syn::Result<Vec<LitStr>> {
    let key = meta
        .path
        .get_ident()
        .map(ToString::to_string)
        .unwrap_or_default();
    let value = meta.value()?;
    parse_str_list(value).map_err(|e| {
        syn::Error::new(
            e.span(),
            format!(
                "`{key}` takes a string or a list of strings: write `{key} = [\"..\", \"..\"]`"
            ),
        )
    })
}

fn parse_str_list(input: ParseStream) -> syn::Result<Vec<LitStr>> {
    if input.peek(LitStr) {
        return Ok(vec![input.parse()?]);
    }
    let content;
    syn::bracketed!(content in input);
    let items = content.parse_terminated(|p: ParseStream| p.parse::<LitStr>(), Token![,])?;
    Ok(items.into_iter().collect())
}

/// "unknown X `foo`; did you mean `bar`? the Xs are: ...".
fn unknown(path: &Path, what: &str, known: &[&str], help: &str) -> syn::Error {
    let name = quote!(#path).to_string().replace(' ', "");
    let closest = known
        .iter()
        .map(|k| (edit_distance(&name, k), *k))
        .min()
        .filter(|(d, _)| *d <= 2);
    let hint = match closest {
        Some((_, k)) => format!("; did you mean `{k}`?"),
        None => ".".to_owned(),
    };
    syn::Error::new_spanned(
        path,
        format!("unknown {what} `{name}`{hint} Write any of: {help}"),
    )
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
