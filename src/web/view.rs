//! What the request hooks see and answer: [`RequestView`], [`Decision`], [`ResponseView`] and
//! [`HeaderEdits`].

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{
    Extensions, HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri,
};
use axum::response::{IntoResponse, Response};

/// A request as the "before" and "after" hooks see it: method, URI, headers and, when the
/// server knows it, the client's address. Built once per request (one copy of the headers)
/// and shared by both hooks.
#[derive(Debug, Clone)]
pub struct RequestView {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    remote_addr: Option<SocketAddr>,
}

impl RequestView {
    /// A view of `req`: its method, URI and headers (copied), and the client's address from
    /// axum's [`ConnectInfo<SocketAddr>`] if the app was served with it (as
    /// [`Server`](super::Server) does).
    pub fn from_request<B>(req: &Request<B>) -> Self {
        RequestView {
            method: req.method().clone(),
            uri: req.uri().clone(),
            headers: req.headers().clone(),
            remote_addr: req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        }
    }

    /// A view built from its parts: for testing a plugin's hook impls without a server.
    pub fn new(
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        remote_addr: Option<SocketAddr>,
    ) -> Self {
        RequestView {
            method,
            uri,
            headers,
            remote_addr,
        }
    }

    /// The request's method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request's URI (as received: path and query; no scheme or authority from HTTP/1.1).
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The request's path.
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The request's headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The client's address, when the server recorded it.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }

    /// The token of an `Authorization: Bearer <token>` header (the scheme's case ignored),
    /// or `None` if there is no such header or it is not valid text.
    pub fn bearer_token(&self) -> Option<&str> {
        let value = self
            .headers
            .get(axum::http::header::AUTHORIZATION)?
            .to_str()
            .ok()?;
        let (scheme, token) = value.split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
    }
}

/// What a "before" hook impl answers: answer the request itself, or let it through.
///
/// The before hook is a first-result hook: the first impl (in call order) that answers
/// decides, and impls that answer nothing (`Ok(None)`) let the next one decide. When no impl
/// answers, the request goes on as with an empty `Continue`.
#[derive(Debug)]
pub enum Decision {
    /// Answer with this response; the handler is not called (e.g. 401, 403, 429).
    Respond(Response),
    /// Call the handler, with these values added to the request's extensions (e.g. the
    /// principal, for [`Principal`](super::Principal)).
    Continue(Extensions),
}

impl Decision {
    /// `Respond` with anything axum can turn into a response: a status, `(status, body)`, ...
    pub fn respond(response: impl IntoResponse) -> Self {
        Decision::Respond(response.into_response())
    }

    /// `Continue` with no extensions.
    pub fn proceed() -> Self {
        Decision::Continue(Extensions::new())
    }

    /// `Continue` with one value in the extensions: what [`Principal<T>`](super::Principal)
    /// extracts.
    pub fn proceed_with<T: Clone + Send + Sync + 'static>(value: T) -> Self {
        let mut extensions = Extensions::new();
        extensions.insert(value);
        Decision::Continue(extensions)
    }
}

/// A response as the "after" hook sees it: the request's view, the status, the headers so
/// far and how long the request took (the before hook and the handler).
#[derive(Debug)]
pub struct ResponseView {
    request: RequestView,
    status: StatusCode,
    headers: HeaderMap,
    elapsed: Duration,
}

impl ResponseView {
    /// A view built from its parts: for testing a plugin's hook impls without a server.
    pub fn new(
        request: RequestView,
        status: StatusCode,
        headers: HeaderMap,
        elapsed: Duration,
    ) -> Self {
        ResponseView {
            request,
            status,
            headers,
            elapsed,
        }
    }

    /// The request.
    pub fn request(&self) -> &RequestView {
        &self.request
    }

    /// The response's status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The response's headers, before any edit of this call.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Time from the request entering the layer to the response leaving the handler (or the
    /// before hook, when it answered).
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    pub(crate) fn into_parts(self) -> (RequestView, HeaderMap) {
        (self.request, self.headers)
    }
}

/// One change to a response's headers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderEdit {
    /// Set the header to this one value, replacing any it had.
    Insert(HeaderName, HeaderValue),
    /// Add a value, keeping those it had.
    Append(HeaderName, HeaderValue),
    /// Remove every value of the header.
    Remove(HeaderName),
}

/// What an "after" hook impl answers: header changes, applied to the response in order, the
/// impls' lists one after another in call order (so a later impl's `insert` wins).
///
/// ```
/// use axum::http::{HeaderMap, HeaderValue, header};
/// use hookwire::web::HeaderEdits;
///
/// let edits = HeaderEdits::new()
///     .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
///     .remove(header::SERVER);
/// let mut headers = HeaderMap::new();
/// headers.insert(header::SERVER, HeaderValue::from_static("secret/1.0"));
/// edits.apply(&mut headers);
/// assert_eq!(headers[header::CACHE_CONTROL], "no-store");
/// assert!(headers.get(header::SERVER).is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderEdits {
    edits: Vec<HeaderEdit>,
}

impl HeaderEdits {
    /// No changes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`, replacing what it had.
    pub fn insert(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.edits.push(HeaderEdit::Insert(name, value));
        self
    }

    /// Adds a value to `name`, keeping what it had.
    pub fn append(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.edits.push(HeaderEdit::Append(name, value));
        self
    }

    /// Removes `name`.
    pub fn remove(mut self, name: HeaderName) -> Self {
        self.edits.push(HeaderEdit::Remove(name));
        self
    }

    /// The changes, in order.
    pub fn edits(&self) -> &[HeaderEdit] {
        &self.edits
    }

    /// Whether there is no change.
    pub fn is_empty(&self) -> bool {
        self.edits.is_empty()
    }

    /// Applies the changes to `headers`, in order.
    pub fn apply(self, headers: &mut HeaderMap) {
        for edit in self.edits {
            match edit {
                HeaderEdit::Insert(name, value) => {
                    headers.insert(name, value);
                }
                HeaderEdit::Append(name, value) => {
                    headers.append(name, value);
                }
                HeaderEdit::Remove(name) => {
                    headers.remove(&name);
                }
            }
        }
    }
}
