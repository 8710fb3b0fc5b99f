"""{{name}}: a nimbus event component in Python, started by messages on the queue `{{name}}`
(see `[[trigger.queue]]` in nimbus.toml). The SDK is in ./nimbus."""

from nimbus import events


def handle(event, ctx):
    """Raising fails the delivery: the message is retried, then dead-lettered."""
    if event.type == "queue-message":
        print(f"{{name}} got: {event.text()}")


EventHandler = events.handler(handle)
