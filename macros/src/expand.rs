//! What `#[plugin]` generates: the impl block without the `#[hookimpl]` attributes and the
//! lifecycle methods, one hook trait impl per hook method, a compile-time check of each spec
//! taken from a method name, and the `Plugin` impl.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, Path, ReceiverKind, ReturnType, Type};

use crate::options::{ImplArgs, PluginArgs};

/// Methods moved from the block into the `Plugin` impl.
const PLUGIN_METHODS: &[&str] = &["meta", "init", "start", "stop", "health"];

/// How a hook method is called.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sync,
    Async,
    Blocking,
    Wrapper,
}

struct HookMethod {
    method: Ident,
    spec: Path,
    /// The spec was taken from the method's name (so its `NAME` is checked).
    from_name: bool,
    kind: Kind,
    args: ImplArgs,
    /// Where a type mismatch with the spec is reported: the method's argument type.
    arg_span: Span,
    /// The method's `#[cfg(..)]`s, repeated on everything generated for it.
    cfgs: Vec<syn::Attribute>,
}

pub(crate) fn plugin(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut meta_args = PluginArgs::default();
    syn::parse::Parser::parse2(syn::meta::parser(|m| meta_args.parse(m)), attr)?;
    let mut block: ItemImpl = syn::parse2(item).map_err(|e| {
        syn::Error::new(
            e.span(),
            "`#[hookwire::plugin]` goes on an inherent impl block: `impl MyPlugin { #[hookimpl] fn on_startup(&self, args: &AppInfo) -> HookReturn<String> { .. } }`",
        )
    })?;
    if let Some((path, _)) = &block.trait_ {
        return Err(syn::Error::new_spanned(
            path,
            "`#[hookwire::plugin]` goes on an inherent impl block (`impl MyPlugin { .. }`), not on a trait impl",
        ));
    }

    let mut errors: Option<syn::Error> = None;
    let mut push_err = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    let mut hooks: Vec<HookMethod> = Vec::new();
    let mut moved: Vec<ImplItemFn> = Vec::new();
    let mut kept: Vec<ImplItem> = Vec::new();
    for item in std::mem::take(&mut block.items) {
        let ImplItem::Fn(mut f) = item else {
            kept.push(item);
            continue;
        };
        let marker = f.attrs.iter().position(is_marker);
        if let Some(i) = marker {
            let attr = f.attrs.remove(i);
            match hook_method(&attr, &f) {
                Ok(h) => {
                    let twice = hooks.iter().find(|o| {
                        o.kind == h.kind && h.kind != Kind::Blocking && same_path(&o.spec, &h.spec)
                    });
                    if let Some(first) = twice {
                        push_err(syn::Error::new_spanned(
                            &f.sig.ident,
                            format!(
                                "method `{}` already implements `{}` as a {} impl, and a type implements each hook trait once: merge the two methods (or add the second with a closure in a hand-written `Plugin::register`)",
                                first.method,
                                path_string(&h.spec),
                                match h.kind {
                                    Kind::Sync => "sync",
                                    Kind::Async => "async",
                                    _ => "wrapper",
                                },
                            ),
                        ));
                    } else {
                        hooks.push(h);
                    }
                }
                Err(e) => push_err(e),
            }
            kept.push(ImplItem::Fn(f));
            continue;
        }
        let name = f.sig.ident.to_string();
        if name == "register" {
            push_err(syn::Error::new_spanned(
                &f.sig.ident,
                "`#[hookwire::plugin]` writes `register` itself from the `#[hookimpl]` methods: mark each hook method with `#[hookimpl]` and remove `register` (or write the `Plugin` impl by hand)",
            ));
        } else if PLUGIN_METHODS.contains(&name.as_str()) {
            match lifecycle_method(&mut f) {
                Ok(()) => moved.push(f),
                Err(e) => push_err(e),
            }
        } else {
            kept.push(ImplItem::Fn(f));
        }
    }
    let user_meta = moved.iter().find(|f| f.sig.ident == "meta");
    if let (Some(f), Some(span)) = (user_meta, meta_args.any) {
        let mut e = syn::Error::new(
            span,
            "the metadata is given twice: keep these `#[plugin(..)]` arguments or the `fn meta`, not both",
        );
        e.combine(syn::Error::new_spanned(&f.sig.ident, "`fn meta` is here"));
        push_err(e);
    }
    if let Some(e) = errors {
        return Err(e);
    }
    block.items = kept;

    let self_ty = &block.self_ty;
    let (impl_generics, _, where_clause) = block.generics.split_for_impl();
    let mut out = TokenStream::new();
    let mut register = TokenStream::new();
    for (i, h) in hooks.iter().enumerate() {
        let this = if i + 1 == hooks.len() {
            quote!(self)
        } else {
            quote!(::std::sync::Arc::clone(&self))
        };
        let (hook_impl, stmt) = expand_hook(h, &this);
        let cfgs = &h.cfgs;
        if let Some((hook_trait, body)) = hook_impl {
            out.extend(quote! {
                #(#cfgs)*
                impl #impl_generics #hook_trait for #self_ty #where_clause { #body }
            });
        }
        register.extend(quote!(#(#cfgs)* { #stmt }));
        if h.from_name {
            let check = name_check(h);
            out.extend(quote!(#(#cfgs)* #check));
        }
    }
    if hooks.is_empty() {
        register.extend(quote!(let _ = registrar;));
    }
    let meta = match user_meta {
        Some(_) => TokenStream::new(),
        None => meta_fn(&meta_args, self_ty)?,
    };
    let plugin_impl = quote! {
        #[::hookwire::async_trait]
        impl #impl_generics ::hookwire::Plugin for #self_ty #where_clause {
            #meta
            fn register(
                self: ::std::sync::Arc<Self>,
                registrar: &mut ::hookwire::Registrar,
            ) -> ::core::result::Result<(), ::hookwire::RegisterError> {
                #register
                ::core::result::Result::Ok(())
            }
            #(#moved)*
        }
    };
    Ok(quote! {
        #block
        #out
        #plugin_impl
    })
}

/// The block as written, without its `#[hookimpl]` markers (what is emitted beside errors).
pub(crate) fn without_markers(item: TokenStream) -> TokenStream {
    let Ok(mut block) = syn::parse2::<ItemImpl>(item) else {
        return TokenStream::new();
    };
    for item in &mut block.items {
        if let ImplItem::Fn(f) = item {
            f.attrs.retain(|a| !is_marker(a));
        }
    }
    block.into_token_stream()
}

fn is_marker(a: &syn::Attribute) -> bool {
    a.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "hookimpl")
}

/// Parses a `#[hookimpl]` method: its options, signature and spec.
fn hook_method(attr: &syn::Attribute, f: &ImplItemFn) -> syn::Result<HookMethod> {
    let mut args = ImplArgs::default();
    if !matches!(attr.meta, syn::Meta::Path(_)) {
        attr.parse_nested_meta(|m| args.parse(m))?;
    }
    let is_async = f.sig.asyncness.is_some();
    args.check(is_async)?;
    let kind = match (&args.wrapper, &args.blocking, is_async) {
        (Some(_), _, _) => Kind::Wrapper,
        (_, Some(_), _) => Kind::Blocking,
        (_, _, true) => Kind::Async,
        (_, _, false) => Kind::Sync,
    };
    let arg_span = check_signature(f, kind == Kind::Wrapper)?;
    let method = f.sig.ident.clone();
    let (spec, from_name) = match args.spec.take() {
        Some(path) => (path, false),
        None => {
            let camel = upper_camel(&method.to_string());
            (Path::from(Ident::new(&camel, method.span())), true)
        }
    };
    let cfgs = f
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg"))
        .cloned()
        .collect();
    Ok(HookMethod {
        method,
        spec,
        from_name,
        kind,
        args,
        arg_span,
        cfgs,
    })
}

/// Checks the shape of a hook method's signature (the types are checked by the compiler
/// against the spec); returns the span of the argument type.
fn check_signature(f: &ImplItemFn, wrapper: bool) -> syn::Result<Span> {
    let sig = &f.sig;
    let name = &sig.ident;
    let asyncness = if sig.asyncness.is_some() {
        "async "
    } else {
        ""
    };
    let expected = if wrapper {
        format!("write `async fn {name}(&self, args: &Args, next: Next<'_, Spec>) -> WrapResult<Output>`")
    } else {
        format!("write `{asyncness}fn {name}(&self, args: &Args) -> HookReturn<Output>`, with the spec's `Args` and `Output` types")
    };
    let fail = |tokens: &dyn ToTokens, what: &str| {
        Err(syn::Error::new_spanned(
            tokens,
            format!("{what}: {expected}"),
        ))
    };
    if !sig.generics.params.is_empty() {
        return fail(&sig.generics, "a hook method cannot be generic");
    }
    match sig.inputs.first() {
        Some(FnArg::Receiver(r))
            if r.mutability.is_none() && matches!(r.kind, ReceiverKind::Reference(_, _, None)) => {}
        Some(first) => return fail(first, "a hook method takes `&self`"),
        None => return fail(name, "a hook method takes `&self` and the hook's arguments"),
    }
    let want = if wrapper { 3 } else { 2 };
    if sig.inputs.len() != want {
        let what = if wrapper {
            "a wrapper takes `&self`, the hook's arguments by reference and `next`"
        } else {
            "a hook method takes `&self` and the hook's arguments by reference, nothing else"
        };
        return fail(&sig.inputs, what);
    }
    let span = match &sig.inputs[1] {
        FnArg::Typed(t) => match &*t.ty {
            Type::Reference(r) if r.mutability.is_none() => t.ty.span(),
            other => {
                return fail(
                    other,
                    &format!(
                        "a hook's arguments are passed by shared reference (`&{}`)",
                        strip_ref(other)
                    ),
                )
            }
        },
        FnArg::Receiver(r) => return fail(r, "`self` comes first"),
    };
    if let ReturnType::Default = sig.output {
        let what = if wrapper {
            "a wrapper returns `WrapResult<Output>`"
        } else {
            "a hook method returns `HookReturn<Output>`: `Ok(Some(value))`, `Ok(None)` for no answer, or `Err(e)`"
        };
        return fail(name, what);
    }
    Ok(span)
}

fn strip_ref(ty: &Type) -> String {
    let ty = match ty {
        Type::Reference(r) => &*r.elem,
        other => other,
    };
    ty.to_token_stream().to_string()
}

/// Checks a lifecycle (or `meta`) method's shape; the types are checked against the trait.
fn lifecycle_method(f: &mut ImplItemFn) -> syn::Result<()> {
    let name = f.sig.ident.to_string();
    let (expected, must_be_async) = match name.as_str() {
        "meta" => ("fn meta(&self) -> PluginMeta".to_owned(), false),
        "health" => ("async fn health(&self) -> Health".to_owned(), true),
        _ => (
            format!("async fn {name}(&self, ctx: &PluginContext) -> Result<(), BoxError>"),
            true,
        ),
    };
    if f.sig.asyncness.is_some() != must_be_async {
        return Err(syn::Error::new_spanned(
            &f.sig.ident,
            format!("`{name}` is the plugin's `Plugin::{name}`: write `{expected}` (or mark it `#[hookimpl]` if it is a hook, or rename it if it is a helper)"),
        ));
    }
    // The `Plugin` impl's methods take the trait's visibility.
    f.vis = syn::Visibility::Inherited;
    Ok(())
}

/// The hook trait impl (the trait and the impl's body) and the registration statement of one
/// hook method.
fn expand_hook(
    h: &HookMethod,
    this: &TokenStream,
) -> (Option<(TokenStream, TokenStream)>, TokenStream) {
    let HookMethod {
        method, spec, kind, ..
    } = h;
    let args_ty = quote!(<#spec as ::hookwire::HookSpec>::Args);
    let out_ty = quote!(<#spec as ::hookwire::HookSpec>::Output);
    let calls = h.args.builder_calls();
    let args = quote_spanned!(h.arg_span=> args);
    // Spanned at the method: a type mismatch with the spec points there.
    let call = quote_spanned!(method.span()=> Self::#method(self, #args));
    let call_wrap = quote_spanned!(method.span()=> Self::#method(self, #args, next));
    // What `#[async_trait]` makes of the trait's `async fn`, written out so that the method's
    // own future is boxed once, as in a hand-written impl (no second future around it).
    let boxed = |output: TokenStream| {
        quote! {
            ::core::pin::Pin<::std::boxed::Box<
                dyn ::core::future::Future<Output = #output> + ::core::marker::Send + 'async_trait
            >>
        }
    };
    match kind {
        Kind::Sync => (
            Some((
                quote!(::hookwire::SyncHook<#spec>),
                quote! {
                    #[inline]
                    fn call(&self, args: &#args_ty) -> ::hookwire::HookReturn<#out_ty> {
                        #call
                    }
                },
            )),
            quote_spanned! {method.span()=>
                registrar.sync_hook::<#spec>(#this)#calls.add()?;
            },
        ),
        Kind::Async => {
            let ret = boxed(quote!(::hookwire::HookReturn<#out_ty>));
            (
                Some((
                    quote!(::hookwire::Hook<#spec>),
                    quote! {
                        fn call<'life0, 'life1, 'async_trait>(
                            &'life0 self,
                            args: &'life1 #args_ty,
                        ) -> #ret
                        where
                            'life0: 'async_trait,
                            'life1: 'async_trait,
                            Self: 'async_trait,
                        {
                            ::std::boxed::Box::pin(#call)
                        }
                    },
                )),
                quote_spanned! {method.span()=>
                    registrar.hook::<#spec>(#this)#calls.add()?;
                },
            )
        }
        Kind::Wrapper => {
            let ret = boxed(quote!(::hookwire::hook::WrapResult<#out_ty>));
            (
                Some((
                    quote!(::hookwire::hook::HookWrapper<#spec>),
                    quote! {
                        fn wrap<'life0, 'life1, 'life2, 'async_trait>(
                            &'life0 self,
                            args: &'life1 #args_ty,
                            next: ::hookwire::hook::Next<'life2, #spec>,
                        ) -> #ret
                        where
                            'life0: 'async_trait,
                            'life1: 'async_trait,
                            'life2: 'async_trait,
                            Self: 'async_trait,
                        {
                            ::std::boxed::Box::pin(#call_wrap)
                        }
                    },
                )),
                quote_spanned! {method.span()=>
                    registrar.wrapper::<#spec>(#this)#calls.add()?;
                },
            )
        }
        Kind::Blocking => {
            let this_var = format_ident!("this");
            (
                None,
                quote_spanned! {method.span()=>
                    let #this_var = #this;
                    registrar
                        .blocking_fn::<#spec>(move |args| Self::#method(&#this_var, #args))
                        #calls
                        .add()?;
                },
            )
        }
    }
}

/// `fn on_startup` implements `OnStartup`: a compile error unless `OnStartup::NAME` is
/// `"on_startup"`.
fn name_check(h: &HookMethod) -> TokenStream {
    let spec = &h.spec;
    let name = h.method.to_string();
    let name = name.strip_prefix("r#").unwrap_or(&name);
    let msg = format!(
        "method `{name}` implements spec `{}` (taken from its name), but that spec's `NAME` is not \"{name}\": write `#[hookimpl(spec = ..)]` with the spec this method implements",
        path_string(spec)
    );
    quote_spanned! {h.method.span()=>
        const _: () = {
            if !::hookwire::__private::str_eq(<#spec as ::hookwire::HookSpec>::NAME, #name) {
                ::core::panic!(#msg);
            }
        };
    }
}

fn meta_fn(args: &PluginArgs, self_ty: &Type) -> syn::Result<TokenStream> {
    let name = match &args.name {
        Some(name) => name.to_token_stream(),
        None => match self_ty {
            Type::Path(p) if p.qself.is_none() => {
                let Some(last) = p.path.segments.last() else {
                    return Err(syn::Error::new_spanned(
                        self_ty,
                        "name the plugin: `#[hookwire::plugin(name = \"..\")]`",
                    ));
                };
                last.ident.to_string().to_token_stream()
            }
            _ => {
                return Err(syn::Error::new_spanned(
                    self_ty,
                    "name the plugin: `#[hookwire::plugin(name = \"..\")]`",
                ))
            }
        },
    };
    let version = match &args.version {
        Some(v) => v.to_token_stream(),
        None => quote!("0.0.0"),
    };
    let description = args.description.iter();
    let authors = args.authors.iter();
    let capabilities = args.capabilities.iter();
    let (req_names, req_reqs): (Vec<_>, Vec<_>) = args.requires.iter().cloned().unzip();
    let (opt_names, opt_reqs): (Vec<_>, Vec<_>) = args.optional.iter().cloned().unzip();
    let (con_names, con_reqs): (Vec<_>, Vec<_>) = args.conflicts.iter().cloned().unzip();
    let host_api = args.host_api.iter();
    let permissions = args.permissions.iter();
    Ok(quote! {
        fn meta(&self) -> ::hookwire::PluginMeta {
            ::hookwire::PluginMeta::new(#name, #version)
                #(.description(#description))*
                #(.author(#authors))*
                #(.capability(#capabilities))*
                #(.requires(#req_names, #req_reqs))*
                #(.optional(#opt_names, #opt_reqs))*
                #(.conflicts(#con_names, #con_reqs))*
                #(.host_api(#host_api))*
                #(.permission(#permissions))*
        }
    })
}

/// `on_startup` → `OnStartup` (`r#type` → `Type`).
fn upper_camel(name: &str) -> String {
    let name = name.strip_prefix("r#").unwrap_or(name);
    let mut out = String::with_capacity(name.len());
    for part in name.split('_').filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(c) = chars.next() {
            out.extend(c.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out
}

fn same_path(a: &Path, b: &Path) -> bool {
    path_string(a) == path_string(b)
}

fn path_string(p: &Path) -> String {
    p.to_token_stream().to_string().replace(' ', "")
}
