//! nimbus: a serverless platform in one binary. This crate is the host: the manifest, the
//! wasmtime engine and capability linking, the HTTP gateway, and the CLI.

pub mod manifest;
pub mod routes;
