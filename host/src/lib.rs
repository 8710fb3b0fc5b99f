//! nimbus: a serverless platform in one binary. This crate is the host: the manifest, the
//! wasmtime engine and capability linking, the HTTP gateway, and the CLI.

pub mod manifest;
pub mod routes;
pub mod bindings;
pub mod capabilities;
pub mod runtime;
pub mod app;
pub mod gateway;
pub mod cli;
mod invoke_fixture;
mod logging;
