//! `Principal<T>` and `Service<T>` in handlers, over real HTTP.

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use hookwire::web::{self, Decision, MissingService, Principal, RequestHooksLayer};
use hookwire::{
    async_trait, BoxError, Plugin, PluginContext, PluginHost, RegisterError, Registrar,
};
use reqwest::StatusCode;

use crate::common::{client, serve, After, Before};

#[derive(Clone, Debug, PartialEq)]
struct User {
    name: String,
}

/// A host service.
struct Clock(&'static str);
/// A service a plugin provides.
struct Greeting(&'static str);

struct Greeter;
#[async_trait]
impl Plugin for Greeter {
    fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> {
        Ok(())
    }
    async fn init(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        ctx.provide(Greeting("hello"))?;
        Ok(())
    }
}

/// `x-user: <name>` is the principal; no header, no principal.
fn app() -> (PluginHost, Router) {
    let host = PluginHost::builder().service(Clock("utc")).build();
    host.add(Greeter).unwrap();
    host.hooks()
        .register("header-auth", |r| {
            r.sync_fn::<Before>(|req| {
                Ok(req.headers().get("x-user").map(|name| {
                    Decision::proceed_with(User {
                        name: name.to_str().unwrap_or("?").to_owned(),
                    })
                }))
            })
            .add()
        })
        .unwrap();
    let router = Router::new()
        .route(
            "/me",
            get(|Principal(user): Principal<User>| async move { user.name }),
        )
        .route(
            "/maybe",
            get(|user: Option<Principal<User>>| async move {
                user.map_or("anonymous".to_owned(), |Principal(u)| u.name)
            }),
        )
        .route(
            "/services",
            get(
                |web::Service(clock): web::Service<Clock>,
                 web::Service(greeting): web::Service<Greeting>| async move {
                    format!("{} {}", greeting.0, clock.0)
                },
            ),
        )
        .route(
            "/missing",
            get(|web::Service(_): web::Service<String>| async { "unreachable" }),
        )
        .with_state(host.clone())
        .layer(RequestHooksLayer::<Before, After>::new(host.hooks()));
    (host, router)
}

#[tokio::test]
async fn principal_reaches_the_handler_and_its_absence_is_401() {
    let (host, router) = app();
    let app = serve(host, router).await;
    let http = client();
    let me = http
        .get(app.url("/me"))
        .header("x-user", "grace")
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(me.text().await.unwrap(), "grace");
    let anon = http.get(app.url("/me")).send().await.unwrap();
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(anon.text().await.unwrap(), "authentication required");
    // Optional: both kinds of caller are served.
    let maybe = http.get(app.url("/maybe")).send().await.unwrap();
    assert_eq!(maybe.text().await.unwrap(), "anonymous");
    let named = http
        .get(app.url("/maybe"))
        .header("x-user", "ada")
        .send()
        .await
        .unwrap();
    assert_eq!(named.text().await.unwrap(), "ada");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn host_and_plugin_services_are_extracted_and_a_missing_one_is_500() {
    let (host, router) = app();
    let app = serve(host.clone(), router).await;
    let http = client();
    let both = http.get(app.url("/services")).send().await.unwrap();
    assert_eq!(both.status(), StatusCode::OK);
    assert_eq!(both.text().await.unwrap(), "hello utc");
    let missing = http.get(app.url("/missing")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(missing.text().await.unwrap(), "internal server error");
    app.stop().await.unwrap();
    // The plugin's service left with the plugin; the host's stays.
    assert!(host.service::<Greeting>().is_none());
    assert_eq!(host.service::<Clock>().unwrap().0, "utc");
}

#[tokio::test]
async fn rejection_messages_say_what_to_fix() {
    use axum::extract::FromRequestParts;
    let (mut parts, ()) = axum::http::Request::new(()).into_parts();
    let host = PluginHost::new();
    let missing: MissingService = web::Service::<Greeting>::from_request_parts(&mut parts, &host)
        .await
        .unwrap_err();
    assert_eq!(missing.service, std::any::type_name::<Greeting>());
    assert_eq!(
        missing.to_string(),
        "no service of type `web::extract::Greeting`: provide it with `PluginHost::builder().service(..)`, or from a plugin's `init` with `ctx.provide(..)` (and check that the plugin started)"
    );
}

#[tokio::test]
async fn a_missing_principal_says_which_type_was_expected() {
    use axum::extract::FromRequestParts;
    let (mut parts, ()) = axum::http::Request::new(()).into_parts();
    let missing = Principal::<User>::from_request_parts(&mut parts, &())
        .await
        .unwrap_err();
    assert_eq!(
        missing.to_string(),
        "no principal of type `web::extract::User` in the request: no before-request impl let it through with `Decision::proceed_with(principal)`; the route needs authentication"
    );
}
