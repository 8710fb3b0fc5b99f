//! The WebAssembly side of the host: engine, per-component loading and linking, and the
//! per-invocation store.

pub mod component;
pub mod engine;
pub mod invoke;
pub mod state;

pub use component::{Entry, LoadedComponent};
pub use engine::{EngineError, Runtime};
pub use invoke::{Invocation, InvokeError};
