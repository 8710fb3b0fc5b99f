//! End-to-end tests: the real `nimbus` binary, real HTTP, real guest components.
//! Build the guests first (`make guests`; `make test` does it).

mod auth;
mod cli;
mod grants;
mod harness;
mod limits;
mod manifest_errors;
mod objects;
mod routing;
mod storage;
mod supabase;
