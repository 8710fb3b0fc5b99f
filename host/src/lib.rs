//! nimbus: a serverless platform in one binary. This crate is the host: the manifest, the
//! wasmtime engine and capability linking, the HTTP gateway, and the CLI.

pub mod admin;
pub mod app;
pub mod bindings;
pub mod capabilities;
pub mod cli;
pub mod gateway;
mod invoke_fixture;
mod logging;
pub mod manifest;
pub mod routes;
pub mod runtime;
pub mod supervisor;
