"""Event handlers (``nimbus:platform/event-handler``): what queue messages, schedules and
object or key-value changes start. ``EventHandler = events.handler(handle)``."""

import json
import sys
import traceback
from typing import Any, Callable

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import event_handler as _wit


class Event:
    """The event as handlers see it: ``id`` and ``type`` (``queue-message``, ``schedule``,
    ``object-created``, ``object-deleted``, ``kv-changed``), and the fields of its kind as
    attributes (a queue message's ``queue``, ``message_id``, ``body``, ``attempt``; a
    schedule's ``name``; an object's ``bucket`` and ``key``; a change's ``store``, ``key``,
    ``op``)."""

    def __init__(self, record: "_wit.Event"):
        self.id = record.id
        kind = record.kind
        fields = dict(vars(kind.value))
        if isinstance(kind, _wit.EventKind_QueueMessage):
            self.type = "queue-message"
            fields["message_id"] = fields.pop("id")
            fields["body"] = bytes(fields["body"])
        elif isinstance(kind, _wit.EventKind_Schedule):
            self.type = "schedule"
        elif isinstance(kind, _wit.EventKind_ObjectCreated):
            self.type = "object-created"
        elif isinstance(kind, _wit.EventKind_ObjectDeleted):
            self.type = "object-deleted"
        else:
            self.type = "kv-changed"
            fields["op"] = "set" if fields["op"] == _wit.KvOp.SET else "delete"
        self.__dict__.update(fields)

    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return json.loads(self.body)


def handler(handle: Callable[[Event, Any], None]) -> type:
    """The class a component's module exports as ``EventHandler``. A handler that raises fails
    the delivery with the error's message: the event is retried, then dead-lettered."""

    class EventHandler(exports.EventHandler):
        def handle(self, ev: "_wit.Event", ctx: Any) -> None:
            try:
                handle(Event(ev), ctx)
            except Err:
                raise
            except Exception as error:  # noqa: BLE001 - every failure fails the delivery
                traceback.print_exception(error, file=sys.stderr)
                raise Err(str(error)) from None

    return EventHandler
