// {{name}}: a nimbus event component in JavaScript, started by messages on the queue
// `{{name}}` (see `[[trigger.queue]]` in nimbus.toml). The SDK is in ./nimbus.
import * as events from "./nimbus/events.js";

// A handler that throws fails the delivery: the message is retried, then dead-lettered.
export const eventHandler = events.handler((event) => {
  if (event.type === "queue-message") console.log(`{{name}} got: ${event.text()}`);
});
