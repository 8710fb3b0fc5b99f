"""Key-value stores (``nimbus:platform/key-value``): ``kv.open("todos")`` opens a store the
manifest grants with ``key_value = ["todos"]``; any other name raises NimbusError
``access-denied``. Stores belong to the app and are shared by its components."""

import json
from typing import Any, Iterator, Optional, Tuple

from wit_world.imports.key_value import Store as _Store

from .data import Data, to_bytes
from .errors import call

Value = Data


def _bytes(value: Value) -> bytes:
    return to_bytes(value, "a value", "; use set_json for other values")


def open(name: str) -> "KvStore":  # noqa: A001 - the SDK's verb in every language
    return KvStore(call(lambda: _Store.open(name)))


class KvStore:
    def __init__(self, store: _Store):
        self._store = store

    def get(self, key: str) -> Optional[bytes]:
        return call(lambda: self._store.get(key))

    def get_text(self, key: str) -> Optional[str]:
        value = self.get(key)
        return None if value is None else value.decode()

    def get_json(self, key: str) -> Any:
        value = self.get(key)
        return None if value is None else json.loads(value)

    def set(self, key: str, value: Value, ttl_seconds: Optional[int] = None) -> None:
        """Stores a string or bytes; with ``ttl_seconds``, the key expires after that long."""
        data = _bytes(value)
        if ttl_seconds is None:
            call(lambda: self._store.set(key, data))
        else:
            call(lambda: self._store.set_expiring(key, data, ttl_seconds))

    def set_json(self, key: str, value: Any, ttl_seconds: Optional[int] = None) -> None:
        self.set(key, json.dumps(value), ttl_seconds)

    def delete(self, key: str) -> bool:
        """True when there was a value to delete."""
        return call(lambda: self._store.delete(key))

    def exists(self, key: str) -> bool:
        return call(lambda: self._store.exists(key))

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every key starting with ``prefix``, in order, fetched a page at a time."""
        cursor = None
        while True:
            page = call(lambda: self._store.list_keys(prefix, cursor))
            yield from page.keys
            if page.cursor is None:
                return
            cursor = page.cursor

    def entries(self, prefix: str = "") -> Iterator[Tuple[str, bytes]]:
        """Every (key, value) starting with ``prefix``, in order."""
        cursor = None
        while True:
            page = call(lambda: self._store.list_entries(prefix, cursor, 1000))
            yield from page.entries
            if page.cursor is None:
                return
            cursor = page.cursor

    def increment(self, key: str, delta: int = 1) -> int:
        """Adds ``delta`` to the number stored as text and returns the new value."""
        return call(lambda: self._store.increment(key, delta))

    def compare_and_swap(self, key: str, old: Optional[Value], new: Value) -> bool:
        """Writes ``new`` only when the current value is ``old`` (None = absent)."""
        expected = None if old is None else _bytes(old)
        return call(lambda: self._store.compare_and_swap(key, expected, _bytes(new)))

    def compare_and_delete(self, key: str, old: Value) -> bool:
        """Deletes ``key`` only when its value is ``old``; True when deleted."""
        return call(lambda: self._store.compare_and_delete(key, _bytes(old)))
