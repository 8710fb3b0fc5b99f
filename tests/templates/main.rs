//! `nimbus new` for every template, built and run outside this repository. A test binary of
//! its own: cargo runs test binaries one after another, so these builds (cargo,
//! componentize-js and componentize-py each take both cores for a while) never run beside the
//! end-to-end tests that measure retry gaps and schedule ticks.

#[path = "../e2e/harness.rs"]
#[allow(
    dead_code,
    reason = "the end-to-end tests' harness; these tests use part of it"
)]
mod harness;
mod templates;
