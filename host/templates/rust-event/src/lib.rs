//! {{name}}: a nimbus event component in Rust, started by messages on the queue `{{name}}`
//! (see `[[trigger.queue]]` in nimbus.toml). The SDK is in ./nimbus-sdk.

use nimbus_sdk::Context;
use nimbus_sdk::events::{Event, EventKind};

/// An `Err` fails the delivery: the message is retried, then dead-lettered.
fn handle(event: Event, _ctx: Context) -> Result<(), String> {
    if let EventKind::QueueMessage(message) = event.kind {
        println!("{{name}} got: {}", String::from_utf8_lossy(&message.body));
    }
    Ok(())
}

nimbus_sdk::event_component!(handle);
