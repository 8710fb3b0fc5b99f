//! nimbus: a serverless platform in one binary. This crate is the host: the manifest, the
//! wasmtime engine and capability linking, the HTTP gateway, and the CLI.

pub mod admin;
pub mod app;
pub mod bindings;
pub mod capabilities;
pub mod cli;
pub mod data_dir;
pub mod gateway;
mod invoke_fixture;
mod logging;
pub use nimbus_manifest as manifest;
pub use nimbus_manifest::routes;
pub mod runtime;
pub mod supervisor;
mod upkeep;
