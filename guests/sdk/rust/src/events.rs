//! What starts an event component (see [`crate::event_component!`]).

pub use crate::event_bindings::exports::nimbus::platform::event_handler::{
    Event, EventKind, KvChanged, KvOp, ObjectCreated, ObjectDeleted, QueueMessage, Schedule,
};
