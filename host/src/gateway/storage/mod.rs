//! `/storage/v1`: the app's buckets over HTTP, in the wire format of Supabase's storage
//! server, so `@supabase/storage-js` works unchanged. Access follows each bucket's `access`;
//! signed URLs need no other credential.
//!
//! Operations (`list`, `list-v2`, `sign`, `upload`, `public`, `authenticated`, `info`, `move`,
//! `copy`, `render`) are literal path segments where a bucket name could stand; the manifest
//! reserves those words ([`crate::manifest::RESERVED_BUCKET_NAMES`]) so that the two never
//! collide.

mod access;
mod buckets;
mod context;
mod error;
mod listing;
mod listing_v2;
mod objects;
mod relocate;
mod render;
mod signed;
mod transfer;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use axum::routing::{MethodFilter, MethodRouter, delete, get, on, post};

use self::error::StorageError;
use crate::host::Host;

/// The `/storage/v1` routes.
pub fn routes() -> axum::Router<Arc<Host>> {
    let read = MethodFilter::GET.or(MethodFilter::HEAD);
    axum::Router::new()
        .route(
            "/bucket",
            only(get(buckets::list_buckets).post(buckets::create_refused)),
        )
        .route(
            "/bucket/{name}",
            only(
                get(buckets::get_bucket)
                    .put(buckets::update_refused)
                    .delete(buckets::delete_refused),
            ),
        )
        .route("/bucket/{name}/empty", only(post(buckets::empty_refused)))
        .route(
            "/object/list/{bucket}",
            only(post(listing::folder).get(listing::page)),
        )
        .route(
            "/object/list-v2/{bucket}",
            only(post(listing_v2::folder_v2)),
        )
        .route("/object/sign/{bucket}", only(post(signed::create_many)))
        .route(
            "/object/sign/{bucket}/{*key}",
            only(post(signed::create).on(read.or(MethodFilter::PUT), signed::access)),
        )
        .route(
            "/object/upload/sign/{bucket}/{*key}",
            only(post(signed::create_upload).put(signed::upload)),
        )
        .route(
            "/object/public/{bucket}/{*key}",
            only(on(read, objects::public_download)),
        )
        .route(
            "/object/authenticated/{bucket}/{*key}",
            only(on(read, objects::download)),
        )
        .route("/object/info/{bucket}/{*key}", only(get(objects::info)))
        .route(
            "/render/image/public/{bucket}/{*key}",
            only(get(render::public)),
        )
        .route(
            "/render/image/authenticated/{bucket}/{*key}",
            only(get(render::authenticated)),
        )
        .route(
            "/render/image/sign/{bucket}/{*key}",
            only(get(render::signed)),
        )
        .route("/object/move", only(post(relocate::move_object)))
        .route("/object/copy", only(post(relocate::copy_object)))
        .route("/object/{bucket}", only(delete(objects::remove_many)))
        .route(
            "/object/{bucket}/{*key}",
            only(
                on(MethodFilter::POST.or(MethodFilter::PUT), objects::upload)
                    .on(read, objects::download)
                    .delete(objects::delete),
            ),
        )
}

/// `routes`, answering other methods in the storage API's error shape.
fn only(routes: MethodRouter<Arc<Host>>) -> MethodRouter<Arc<Host>> {
    routes.fallback(|method: Method| async move {
        StorageError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("{method} is not supported on this path"),
        )
    })
}
