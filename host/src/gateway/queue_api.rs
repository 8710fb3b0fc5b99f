//! `/queue/v1/{queue}`: publishing to the app's queues over HTTP, with the app's secret key.
//! The raw request body is the message; the answer comes once it is durable.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use nimbus_queue::{MAX_MESSAGE_BYTES, Payload, Publish, QueueError};
use serde::Deserialize;

use super::ApiError;
use super::version::Current;
use crate::host::Host;

/// The `/queue/v1` routes.
pub fn routes() -> axum::Router<Arc<Host>> {
    axum::Router::new().route("/{queue}", axum::routing::post(publish))
}

#[derive(Deserialize)]
struct PublishQuery {
    delay_ms: Option<u64>,
    dedupe_key: Option<String>,
}

/// `POST /queue/v1/{queue}?delay_ms=&dedupe_key=`: `202 {"id", "duplicate"}`.
async fn publish(
    Current(app): Current,
    Path(queue): Path<String>,
    headers: HeaderMap,
    query: Result<Query<PublishQuery>, axum::extract::rejection::QueryRejection>,
    body: Body,
) -> Response {
    let request_id = super::edge::id_of(&headers);
    let fail =
        |status, message: String| ApiError::new(status, message, &request_id).into_response();
    if !super::admin_api::is_operator(&app, &headers).await {
        return fail(
            StatusCode::UNAUTHORIZED,
            "publishing requires the app's secret key (`nimbus keys show --secret`) as `Authorization: Bearer` or `apikey`".into(),
        );
    }
    if !app.manifest.queues.contains(&queue) {
        return fail(
            StatusCode::NOT_FOUND,
            format!(
                "the app has no queue `{queue}`; a queue exists when a [[trigger.queue]], a trigger's `dead_letter` or a component's `queues` names it"
            ),
        );
    }
    let Ok(Query(query)) = query else {
        return fail(
            StatusCode::BAD_REQUEST,
            "`delay_ms` is a whole number of milliseconds; `dedupe_key` is text".into(),
        );
    };
    let body = match axum::body::to_bytes(body, MAX_MESSAGE_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            return fail(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("a message may have at most {MAX_MESSAGE_BYTES} bytes"),
            );
        }
    };
    let publish = Publish {
        delay: Duration::from_millis(query.delay_ms.unwrap_or(0)),
        dedupe_key: query.dedupe_key,
        ..Publish::now(Payload::Message(body.to_vec()))
    };
    match app.services.events.publish(&queue, publish).await {
        Ok(published) => (
            StatusCode::ACCEPTED,
            axum::Json(serde_json::json!({
                "id": published.id,
                "duplicate": published.duplicate,
            })),
        )
            .into_response(),
        Err(QueueError::Invalid(why)) => fail(StatusCode::BAD_REQUEST, why),
        Err(error) => {
            tracing::error!(queue = %queue, "cannot publish: {error}");
            fail(
                StatusCode::SERVICE_UNAVAILABLE,
                "the queue is unavailable; try again".into(),
            )
        }
    }
}
