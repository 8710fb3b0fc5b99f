//! One log for the whole host: the supervisor writes its own lines and every worker process's
//! (which they send it as JSON on their standard output) to `DATA/logs/nimbus.log`, rotated by
//! size; `nimbus logs` reads it.

pub mod file;
pub mod read;

pub use file::{LogFile, Rotation, SharedLogFile};
