//! The WebAssembly side of the host: engine, per-component loading and linking, the
//! per-invocation store, and the invoker that every trigger goes through.

pub mod code_cache;
pub mod component;
pub mod counted_body;
mod cpu_clock;
pub mod engine;
pub mod invoke;
pub mod invoker;
pub mod kept;
pub mod slot;
pub mod state;

pub use component::{Entry, LoadedComponent};
pub use engine::{EngineError, Runtime};
pub use invoke::InvokeError;
pub use invoker::{MAX_REQUEST_BODY, Meta, Output, TRACE_PARENT_HEADER, Trigger, set_trace_parent};
