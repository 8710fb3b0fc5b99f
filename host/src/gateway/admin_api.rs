//! `/admin/v1`: operator endpoints, for the app's secret key only (`Authorization: Bearer` or
//! the `apikey` header, as Supabase's service-role key is sent). Today: the metered usage.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::ApiError;
use super::version::Current;
use crate::app_version::AppVersion;
use crate::host::Host;
use crate::usage::report::{GroupBy, Prices};

/// The `/admin/v1` routes.
pub fn routes() -> axum::Router<Arc<Host>> {
    axum::Router::new()
        .route("/usage", axum::routing::get(usage))
        .route("/mail", axum::routing::get(mail))
        .nest("/dlq", super::admin_dlq::routes())
}

/// Whether the request carries the app's secret key (and no user's token).
pub(super) async fn is_operator(app: &AppVersion, headers: &HeaderMap) -> bool {
    super::caller::is_service(app, headers).await
}

/// The 401 for a request without the app's secret key.
pub(super) async fn require_operator(
    app: &AppVersion,
    headers: &HeaderMap,
    request_id: &str,
) -> Result<(), Response> {
    if is_operator(app, headers).await {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNAUTHORIZED,
        "this endpoint requires the app's secret key (`nimbus keys show --secret`) as `Authorization: Bearer` or `apikey`",
        request_id,
    )
    .into_response())
}

#[derive(Deserialize)]
struct UsageQuery {
    since: Option<String>,
    by: Option<GroupBy>,
    price_gb_second: Option<f64>,
    price_million_requests: Option<f64>,
}

/// `GET /admin/v1/usage?since=24h&by=component|hour`: the usage report as JSON.
async fn usage(
    State(host): State<Arc<Host>>,
    Current(app): Current,
    headers: HeaderMap,
    query: Result<Query<UsageQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let request_id = super::edge::id_of(&headers);
    if let Err(refused) = require_operator(&app, &headers, &request_id).await {
        return refused;
    }
    let Ok(Query(query)) = query else {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "`by` is `component` or `hour`; prices are numbers",
            &request_id,
        )
        .into_response();
    };
    let since = match query
        .since
        .as_deref()
        .map(crate::manifest::HumanDuration::parse)
    {
        None => Duration::from_secs(24 * 3600),
        Some(Ok(since)) => since,
        Some(Err(why)) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("since: {why}"),
                &request_id,
            )
            .into_response();
        }
    };
    let mut prices = Prices::from_environment();
    if let Some(price) = query.price_gb_second {
        prices.price_gb_second = price;
    }
    if let Some(price) = query.price_million_requests {
        prices.price_million_requests = price;
    }
    let from = SystemTime::now()
        .checked_sub(since)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let kv = host.backends.kv.as_ref();
    match crate::usage::report::read(kv, &app.manifest.app, from).await {
        Ok(entries) => {
            let by = query.by.unwrap_or(GroupBy::Component);
            Json(crate::usage::report::report(&entries, by, &prices)).into_response()
        }
        Err(error) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "usage cannot be read now",
            &request_id,
        )
        .with_detail(error.to_string())
        .into_response(),
    }
}

#[derive(Deserialize)]
struct MailQuery {
    to: Option<String>,
    limit: Option<usize>,
}

/// `GET /admin/v1/mail?to=&limit=`: the development mailbox, newest first (empty when the
/// host sends through SMTP).
async fn mail(
    State(host): State<Arc<Host>>,
    Current(app): Current,
    headers: HeaderMap,
    Query(query): Query<MailQuery>,
) -> Response {
    let request_id = super::edge::id_of(&headers);
    if let Err(refused) = require_operator(&app, &headers, &request_id).await {
        return refused;
    }
    let mailbox =
        nimbus_mail::DevMailbox::new(std::sync::Arc::clone(&host.backends.kv), &app.manifest.app);
    let limit = query
        .limit
        .unwrap_or(50)
        .clamp(1, nimbus_mail::MAILBOX_KEEP);
    match mailbox.list(limit, query.to.as_deref()).await {
        Ok(mails) => Json(serde_json::json!({ "mails": mails })).into_response(),
        Err(error) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the mailbox cannot be read now",
            &request_id,
        )
        .with_detail(error.to_string())
        .into_response(),
    }
}
