//! `/admin/v1/dlq`: the app's dead letters over HTTP, with the app's secret key, as `nimbus
//! dlq` shows them.
//!
//! - `GET /admin/v1/dlq[?queue=Q]`: the dead letters of Q, or of every trigger's dead-letter
//!   queue;
//! - `GET /admin/v1/dlq/{queue}/{id}`: one;
//! - `POST /admin/v1/dlq/{queue}/{id}/replay`, `POST /admin/v1/dlq/{queue}/replay`: deliver
//!   one, or all, again from where they died;
//! - `DELETE /admin/v1/dlq/{queue}`: remove them (up to 10,000 a call; the answer says how
//!   many).
//!
//! Only the app's dead-letter queues are served here (see `Manifest::dead_letter_queues`).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use nimbus_queue::{EventLog, Message, QueueError};
use serde::Deserialize;

use super::ApiError;
use super::version::Current;
use crate::app_version::AppVersion;
use crate::events::convert::message_json;
use crate::host::Host;

/// Most dead letters one listing returns.
const MAX_LISTED: usize = 1000;
/// Most dead letters one purge removes; the answer says how many went.
const MAX_PURGED: usize = 10_000;

/// Why a request about dead-letter queue `queue` is refused, if it is: it lacks the secret
/// key, or `queue` is not one of the app's dead-letter queues.
async fn refuse(app: &AppVersion, headers: &HeaderMap, queue: &str) -> Option<Response> {
    if let Err(refused) = operator(app, headers).await {
        return Some(refused);
    }
    refuse_unless_dead_letter_queue(app, queue, headers)
}

/// Only the app's dead-letter queues may be handled here: a typo must not purge or replay a
/// live queue.
fn refuse_unless_dead_letter_queue(
    app: &AppVersion,
    queue: &str,
    headers: &HeaderMap,
) -> Option<Response> {
    if app.manifest.dead_letter_queues().contains(queue) {
        return None;
    }
    Some(not_found(
        headers,
        format!("`{queue}` is not a dead-letter queue of this app"),
    ))
}

/// The `/admin/v1/dlq` routes.
pub fn routes() -> axum::Router<Arc<Host>> {
    axum::Router::new()
        .route("/", get(list))
        .route("/{queue}", axum::routing::delete(purge))
        .route("/{queue}/replay", post(replay_all))
        .route("/{queue}/{id}", get(show))
        .route("/{queue}/{id}/replay", post(replay_one))
}

/// The app, once the request has shown the secret key.
async fn operator(app: &AppVersion, headers: &HeaderMap) -> Result<(), Response> {
    if super::admin_api::is_operator(app, headers).await {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNAUTHORIZED,
        "this endpoint requires the app's secret key (`nimbus keys show --secret`) as `Authorization: Bearer` or `apikey`",
        &super::edge::id_of(headers),
    )
    .into_response())
}

fn not_found(headers: &HeaderMap, message: String) -> Response {
    ApiError::new(StatusCode::NOT_FOUND, message, &super::edge::id_of(headers)).into_response()
}

fn failure(error: QueueError, headers: &HeaderMap) -> Response {
    let request_id = super::edge::id_of(headers);
    match error {
        QueueError::Invalid(why) => ApiError::new(StatusCode::BAD_REQUEST, why, &request_id),
        other => {
            tracing::error!("event log failure: {other}");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the event log is unavailable",
                &request_id,
            )
        }
    }
    .into_response()
}

async fn all_of(log: &EventLog, queue: &str, into: &mut Vec<Message>) -> Result<(), QueueError> {
    let mut cursor = None;
    while into.len() < MAX_LISTED {
        let page = log.list(queue, cursor.as_deref(), 100).await?;
        into.extend(page.messages);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    into.truncate(MAX_LISTED);
    Ok(())
}

#[derive(Deserialize)]
struct ListQuery {
    queue: Option<String>,
}

async fn list(
    Current(app): Current,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    if let Err(refused) = operator(&app, &headers).await {
        return refused;
    }
    let queues: Vec<String> = match query.queue {
        Some(queue) => {
            if let Some(refused) = refuse_unless_dead_letter_queue(&app, &queue, &headers) {
                return refused;
            }
            vec![queue]
        }
        None => app.manifest.dead_letter_queues().into_iter().collect(),
    };
    let mut listed = Vec::new();
    for queue in &queues {
        if let Err(error) = all_of(&app.services.events, queue, &mut listed).await {
            return failure(error, &headers);
        }
    }
    Json(listed.iter().map(message_json).collect::<Vec<_>>()).into_response()
}

async fn show(
    Current(app): Current,
    headers: HeaderMap,
    Path((queue, id)): Path<(String, String)>,
) -> Response {
    if let Some(refused) = refuse(&app, &headers, &queue).await {
        return refused;
    }
    match app.services.events.get(&queue, &id).await {
        Ok(Some(message)) => Json(message_json(&message)).into_response(),
        Ok(None) => not_found(&headers, format!("queue `{queue}` has no message `{id}`")),
        Err(error) => failure(error, &headers),
    }
}

async fn replay_one(
    Current(app): Current,
    headers: HeaderMap,
    Path((queue, id)): Path<(String, String)>,
) -> Response {
    if let Some(refused) = refuse(&app, &headers, &queue).await {
        return refused;
    }
    match app.services.events.replay(&queue, &id).await {
        Ok(true) => {
            app.services.events.notify_published();
            Json(serde_json::json!({ "replayed": 1 })).into_response()
        }
        Ok(false) => not_found(
            &headers,
            format!("queue `{queue}` has no dead letter `{id}`"),
        ),
        Err(error) => failure(error, &headers),
    }
}

async fn replay_all(
    Current(app): Current,
    headers: HeaderMap,
    Path(queue): Path<String>,
) -> Response {
    if let Some(refused) = refuse(&app, &headers, &queue).await {
        return refused;
    }
    let mut letters = Vec::new();
    if let Err(error) = all_of(&app.services.events, &queue, &mut letters).await {
        return failure(error, &headers);
    }
    let mut replayed = 0;
    for letter in &letters {
        match app.services.events.replay(&queue, &letter.id).await {
            Ok(true) => replayed += 1,
            Ok(false) => {}
            Err(error) => return failure(error, &headers),
        }
    }
    app.services.events.notify_published();
    Json(serde_json::json!({ "replayed": replayed })).into_response()
}

async fn purge(Current(app): Current, headers: HeaderMap, Path(queue): Path<String>) -> Response {
    if let Some(refused) = refuse(&app, &headers, &queue).await {
        return refused;
    }
    match app.services.events.purge(&queue, MAX_PURGED).await {
        Ok(removed) => Json(serde_json::json!({ "removed": removed })).into_response(),
        Err(error) => failure(error, &headers),
    }
}
