//! nimbus: a serverless platform in one binary. This crate is the host: the manifest, the
//! wasmtime engine and capability linking, the HTTP gateway, and the CLI.

pub mod admin;
pub mod app_version;
mod auth_mail;
mod background;
pub mod backup;
pub mod bindings;
pub mod capabilities;
pub mod cli;
pub mod data_dir;
pub mod events;
pub mod gateway;
pub mod guest_wit;
pub mod host;
pub mod host_log;
mod invoke_fixture;
mod keeper;
mod logging;
pub mod metering;
pub mod metrics;
pub use nimbus_manifest as manifest;
pub use nimbus_manifest::routes;
pub mod render;
pub mod runtime;
pub mod secrets;
pub mod services;
pub mod supervisor;
pub mod traces;
mod upkeep;
pub mod usage;
