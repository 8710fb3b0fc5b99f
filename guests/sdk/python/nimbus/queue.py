"""Queues (``nimbus:platform/queue``), with ``queues = ["emails"]``."""

import json
from typing import Any, Optional

from wit_world.imports import queue as _queue

from .data import is_data, to_bytes
from .errors import call


def publish(
    queue: str, body: Any, delay_seconds: Optional[float] = None, dedupe_key: Optional[str] = None
) -> str:
    """Publishes bytes, a string or (as JSON) any other value; returns the message id."""
    data = to_bytes(body, "a message") if is_data(body) else json.dumps(body).encode()
    delay_ms = None if delay_seconds is None else round(delay_seconds * 1000)
    options = _queue.PublishOptions(delay_ms, dedupe_key)
    return call(lambda: _queue.publish(queue, data, options))
