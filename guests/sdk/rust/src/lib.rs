//! Write nimbus components in Rust.
//!
//! ```ignore
//! use nimbus_sdk::http::{Request, Response, Router, HttpError};
//! use nimbus_sdk::kv;
//!
//! fn handle(req: Request) -> Result<Response, HttpError> {
//!     Router::new()
//!         .get("/visits/:page", |req, params| {
//!             let count = kv::Store::open("visits")?.increment(&params["page"], 1)?;
//!             Response::json(200, &serde_json::json!({ "count": count }))
//!         })
//!         .handle(&req)
//! }
//!
//! nimbus_sdk::http_component!(handle);
//! ```
//!
//! A platform call's failure is an [`Error`] (the WIT `error`), which `?` turns into an
//! [`http::HttpError`] with its status (403, 404, 400, 503, 500). The bindings of every
//! platform interface are in [`bindings`]; the linker keeps only the imports a component
//! uses, so it needs grants only for those.

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "http-app",
        path: "wit",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "export_http_handler",
        default_bindings_module: "nimbus_sdk::bindings",
    });
}

#[doc(hidden)]
pub mod event_bindings {
    wit_bindgen::generate!({
        world: "event-app",
        path: "wit",
        with: {
            "nimbus:platform/types@0.2.0": crate::bindings::nimbus::platform::types,
            "nimbus:platform/key-value@0.2.0": crate::bindings::nimbus::platform::key_value,
            "nimbus:platform/object-store@0.2.0": crate::bindings::nimbus::platform::object_store,
            "nimbus:platform/auth@0.2.0": crate::bindings::nimbus::platform::auth,
            "nimbus:platform/auth-admin@0.2.0": crate::bindings::nimbus::platform::auth_admin,
            "nimbus:platform/config@0.2.0": crate::bindings::nimbus::platform::config,
            "nimbus:platform/queue@0.2.0": crate::bindings::nimbus::platform::queue,
        },
        pub_export_macro: true,
        export_macro_name: "export_event_handler",
        default_bindings_module: "nimbus_sdk::event_bindings",
        type_section_suffix: "events",
    });
}

pub mod auth;
pub mod config;
pub mod events;
pub mod http;
pub mod kv;
pub mod objects;
pub mod queue;

pub use bindings::nimbus::platform::types::{Context, Error, Identity, StartKind, TriggerKind};

/// What a platform call returns.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Exports `handler`, a `fn(Request) -> Result<Response, HttpError>`, as the component's
/// `nimbus:platform/http-handler`.
#[macro_export]
macro_rules! http_component {
    ($handler:path) => {
        struct NimbusHttpComponent;

        impl $crate::bindings::exports::nimbus::platform::http_handler::Guest
            for NimbusHttpComponent
        {
            fn handle(
                req: $crate::bindings::exports::nimbus::platform::http_handler::Request,
                ctx: $crate::Context,
            ) -> $crate::bindings::exports::nimbus::platform::http_handler::Response {
                $crate::http::serve(req, ctx, $handler)
            }
        }

        $crate::bindings::export_http_handler!(NimbusHttpComponent);
    };
}

/// Exports `handler`, a `fn(Event, Context) -> Result<(), String>`, as the component's
/// `nimbus:platform/event-handler`: an error makes the event be retried (then dead-lettered).
#[macro_export]
macro_rules! event_component {
    ($handler:path) => {
        struct NimbusEventComponent;

        impl $crate::event_bindings::exports::nimbus::platform::event_handler::Guest
            for NimbusEventComponent
        {
            fn handle(
                ev: $crate::events::Event,
                ctx: $crate::Context,
            ) -> ::std::result::Result<(), ::std::string::String> {
                $handler(ev, ctx)
            }
        }

        $crate::event_bindings::export_event_handler!(NimbusEventComponent);
    };
}
