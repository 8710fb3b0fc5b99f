//! App routes: match the manifest's routes, check the caller, turn the request into a trigger
//! for the invoker, and its verdict (or its failure) into an HTTP response carrying
//! `x-request-id`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};

use super::caller::Credentials;
use super::error::ApiError;
use super::guest_response::{final_status, from_record, sanitize_headers};
use crate::app_version::{AppVersion, RouteTarget};
use crate::host::Host;
use crate::manifest::RouteAuth;
use crate::routes::RouteMatch;
use crate::runtime::{LoadedComponent, Meta, Output, Trigger};
use crate::traces::{InSpan as _, Span};

/// Request headers that carry the verified identity to `wasi:http` components. Whatever a
/// client sends under these names is removed first.
const IDENTITY_HEADERS: [HeaderName; 3] = [
    HeaderName::from_static("x-nimbus-user-id"),
    HeaderName::from_static("x-nimbus-user-email"),
    HeaderName::from_static("x-nimbus-user-role"),
];

/// The fallback handler: every request that is not a built-in API goes to the app's routes.
pub async fn dispatch(State(host): State<Arc<Host>>, request: Request<Body>) -> Response {
    let request_id = super::edge::id_of(request.headers());
    let app = host.current();
    let credentials = Credentials::read(&app, request.headers(), request.uri().query()).await;
    let routed = app
        .router
        .route(request.method().as_str(), request.uri().path());
    match routed {
        RouteMatch::Found { target, params } => {
            let mut request = request;
            // A GET route answers HEAD: the guest answers a GET and the server sends only the
            // head of that answer.
            let head = request.method() == http::Method::HEAD;
            if head {
                *request.method_mut() = http::Method::GET;
            }
            let trace_parent = super::trace_context::trace_parent(request.headers());
            crate::runtime::set_trace_parent(request.headers_mut(), trace_parent.as_deref());
            // A limit per address counts every request, whatever its credentials; one per user
            // only those whose token was verified.
            let limits = host.limits.as_ref();
            let by_address = super::rate_limit::by_address(limits, &app, target, &request);
            if let Some(refused) = by_address.refusal(&request_id) {
                count_rate_limited(&app, target);
                return refused;
            }
            let checked = check_caller(&app, &credentials, target, &mut request, &request_id);
            let identity = match checked.await {
                Ok(identity) => identity,
                Err(error) => return error.into_response(),
            };
            let by_user = super::rate_limit::by_user(limits, target, identity.as_ref());
            if let Some(refused) = by_user.refusal(&request_id) {
                count_rate_limited(&app, target);
                return refused;
            }
            let Some(component) = app.components.get(target.component) else {
                return ApiError::new(StatusCode::NOT_FOUND, "no such component", &request_id)
                    .into_response();
            };
            let (request, claim) = if component.spec.idempotency
                && super::idempotency::applies(request.method(), request.headers())
            {
                let caller = caller_of(&app, identity.as_ref(), &request);
                let decided = super::idempotency::decide(
                    std::sync::Arc::clone(&host.backends.kv),
                    &app.manifest.app,
                    &component.spec.name,
                    &caller,
                    component.spec.limits.timeout,
                    request,
                    &request_id,
                )
                .await;
                match decided {
                    super::idempotency::Decision::Run(run) => {
                        let (request, claim) = *run;
                        (request, Some(claim))
                    }
                    super::idempotency::Decision::Answer(answer) => return answer,
                }
            } else {
                (request, None)
            };
            let meta = Meta {
                identity,
                trace_parent,
                ..Meta::new(request_id)
            };
            let span = Span::request(
                if head {
                    &http::Method::HEAD
                } else {
                    request.method()
                },
                component
                    .spec
                    .routes
                    .get(target.route)
                    .map(|route| route.pattern.path()),
                meta.trace_parent.as_deref(),
            );
            let trigger = Trigger::Http {
                request,
                params,
                route: Some(target.route),
            };
            let request_id = meta.request_id.clone();
            let (host, component) = (Arc::clone(&host), Arc::clone(component));
            // The invocation runs in a task of its own rather than inside the connection's:
            // polled within hyper's connection task, the same invocation measured markedly more
            // core time per request. The reason was not pinned down (a flat profile, every
            // function dearer), so the choice is empirical: measure again (`bench/run.sh`, the
            // record handlers against their ceilings) before folding it back.
            let finished = match claim {
                // Cancelled when the client leaves, as it would be in the connection's task.
                None => {
                    let mut task = CancelOnDrop(tokio::spawn(
                        async move { invoke(&host, &component, trigger, meta).await }
                            .in_span(span.clone()),
                    ));
                    (&mut task.0).await
                }
                // A request holding an idempotency key runs to its end, so that its answer is
                // kept even when the client leaves midway: the retry that follows must get it,
                // not run the write again.
                Some(claim) => {
                    tokio::spawn(
                        async move {
                            let response = invoke(&host, &component, trigger, meta).await;
                            claim.settle(response).await
                        }
                        .in_span(span.clone()),
                    )
                    .await
                }
            };
            let response = finished.unwrap_or_else(|error| {
                if error.is_panic() {
                    tracing::error!(request_id, "the invocation's task panicked");
                }
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the request stopped",
                    &request_id,
                )
                .into_response()
            });
            span.record_status(response.status().as_u16());
            response
        }
        RouteMatch::MethodNotAllowed(allowed) => {
            ApiError::method_not_allowed(&allowed, &request_id).into_response()
        }
        RouteMatch::NotFound => match super::not_offered::unclaimed(request.uri().path()) {
            Some(answer) => answer,
            None => ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "no route matches {} {}",
                    request.method(),
                    request.uri().path()
                ),
                &request_id,
            )
            .into_response(),
        },
    }
}

/// A spawned invocation, aborted when the request that waits for it is dropped (the abort
/// takes effect at the task's next turn, where it is dropped unfinished).
struct CancelOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for CancelOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Who makes a request, for its idempotency key: the verified user, else its client address
/// (never an unverified header, which anyone could copy).
fn caller_of(
    app: &AppVersion,
    identity: Option<&nimbus_auth::Identity>,
    request: &Request<Body>,
) -> String {
    if let Some(identity) = identity {
        return format!("user:{}", identity.user_id);
    }
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    match peer {
        Some(peer) => {
            let (trusted, header) = (&app.manifest.trusted_proxies, app.manifest.forwarded_header);
            let ip = super::client_address::client_ip(trusted, header, peer, request.headers());
            format!("ip:{ip}")
        }
        None => "ip:unknown".to_string(),
    }
}

fn count_rate_limited(app: &AppVersion, target: RouteTarget) {
    if let Some(component) = app.components.get(target.component) {
        component
            .metrics(crate::bindings::types::TriggerKind::Http)
            .rate_limited();
    }
}

/// Applies the app's API key rule and the route's `auth`; returns the verified identity and
/// puts it in the identity headers (after removing any the client sent).
async fn check_caller(
    app: &AppVersion,
    credentials: &Credentials,
    target: RouteTarget,
    request: &mut Request<Body>,
    request_id: &str,
) -> Result<Option<nimbus_auth::Identity>, ApiError> {
    if !credentials.api_key_ok() {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this app requires its publishable key in the `apikey` header",
            request_id,
        ));
    }
    let headers = request.headers_mut();
    for name in IDENTITY_HEADERS {
        headers.remove(name);
    }
    if target.auth == RouteAuth::None {
        return Ok(None);
    }
    let identity = match credentials.claims(app).await {
        Ok(None) if credentials.is_service() => Some(nimbus_auth::Identity::service_role()),
        Ok(Some(claims)) => Some(claims.identity()),
        Err(error) => {
            return Err(
                ApiError::new(StatusCode::UNAUTHORIZED, error.to_string(), request_id)
                    .with_www_authenticate(),
            );
        }
        Ok(None) if target.auth == RouteAuth::Required => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "this route requires `Authorization: Bearer <access token>`; get one from POST /auth/v1/token",
                request_id,
            )
            .with_www_authenticate());
        }
        Ok(None) => None,
    };
    let headers = request.headers_mut();
    if let Some(identity) = &identity {
        // The service role is no user: it gets no user id header (an empty one would read as
        // a user called "").
        let values = [
            Some(identity.user_id.as_str()).filter(|id| !id.is_empty()),
            identity.email.as_deref(),
            Some(identity.role.as_str()),
        ];
        for (name, value) in IDENTITY_HEADERS.into_iter().zip(values) {
            if let Some(value) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
                headers.insert(name, value);
            }
        }
    }
    Ok(identity)
}

/// Invokes `component` once for `trigger` and answers with what it produced.
async fn invoke(
    host: &Host,
    component: &Arc<LoadedComponent>,
    trigger: Trigger,
    meta: Meta,
) -> Response {
    let request_id = meta.request_id.clone();
    let response = match host.runtime.invoke(component, trigger, meta).await {
        Ok(output) => match to_response(output) {
            Ok(response) => response,
            Err(why) => invalid_response(component, &why, &request_id),
        },
        Err(error) => ApiError::from_invoke(error, &request_id).into_response(),
    };
    #[cfg(debug_assertions)]
    let response = with_instantiation_counts(response, host);
    response
}

/// Debug builds only: the process' instantiation counts so far, for tests that check where
/// instances were made. Release builds never send it.
#[cfg(debug_assertions)]
fn with_instantiation_counts(mut response: Response, host: &Host) -> Response {
    let made = host.runtime.instantiations();
    let counts = format!("request={}; ahead={}", made.on_request(), made.ahead());
    if let Ok(value) = HeaderValue::from_str(&counts) {
        response.headers_mut().insert(
            HeaderName::from_static("x-nimbus-debug-instantiations"),
            value,
        );
    }
    response
}

/// The HTTP response for what a guest produced, once it passes the checks of
/// [`super::guest_response`].
pub fn to_response(output: Output) -> Result<Response, String> {
    match output {
        Output::Record(answer) => from_record(answer),
        Output::Stream(response) => {
            let (mut parts, body) = response.into_parts();
            final_status(parts.status.as_u16())?;
            sanitize_headers(&mut parts.headers)?;
            Ok(Response::from_parts(parts, Body::new(body)))
        }
        Output::Event(_) => Err("an HTTP request got an event handler's result".to_string()),
    }
}

/// The 500 for a guest response that cannot go out as it is.
pub fn invalid_response(loaded: &LoadedComponent, why: &str, request_id: &str) -> Response {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!(
            "component `{}` returned an invalid response: {why}",
            loaded.spec.name
        ),
        request_id,
    )
    .with_detail(format!(
        "component `{}` returned an invalid response: {why}",
        loaded.spec.name
    ))
    .into_response()
}
