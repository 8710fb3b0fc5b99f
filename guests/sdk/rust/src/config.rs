//! The component's `config` values and granted `secrets` (`nimbus:platform/config`).

pub use crate::bindings::nimbus::platform::config::get;
