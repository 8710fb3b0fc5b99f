"""Buckets (``nimbus:platform/object-store``): ``objects.open("uploads")`` opens a bucket the
manifest grants with ``buckets = { uploads = "read-write" }``."""

from dataclasses import dataclass
from typing import Iterator, List, Optional, Union

from wit_world.imports.object_store import Bucket as _Bucket

from .data import to_bytes
from .errors import call


@dataclass
class ObjectInfo:
    key: str
    size: int
    etag: str
    content_type: str
    created_at_ms: int
    updated_at_ms: int


@dataclass
class ObjectPage:
    objects: List[ObjectInfo]
    folders: List[str]
    cursor: Optional[str]


def _info(record) -> Optional[ObjectInfo]:
    if record is None:
        return None
    return ObjectInfo(
        record.key,
        record.size,
        record.etag,
        record.content_type,
        record.created_at_ms,
        record.updated_at_ms,
    )


def open(name: str) -> "Bucket":  # noqa: A001 - the SDK's verb in every language
    return Bucket(call(lambda: _Bucket.open(name)))


class Bucket:
    def __init__(self, bucket: _Bucket):
        self._bucket = bucket

    def get(self, key: str) -> Optional[bytes]:
        return call(lambda: self._bucket.get(key))

    def get_range(self, key: str, offset: int, length: int) -> Optional[bytes]:
        """``length`` bytes from ``offset``, or None when the object is absent."""
        return call(lambda: self._bucket.get_range(key, offset, length))

    def head(self, key: str) -> Optional[ObjectInfo]:
        return _info(call(lambda: self._bucket.head(key)))

    def put(
        self, key: str, body: Union[bytes, str], content_type: str = "application/octet-stream"
    ) -> ObjectInfo:
        data = to_bytes(body, "an object body")
        return _info(call(lambda: self._bucket.put(key, data, content_type)))

    def delete(self, key: str) -> bool:
        return call(lambda: self._bucket.delete(key))

    def list(
        self, prefix: str = "", delimiter: Optional[str] = None, cursor: Optional[str] = None
    ) -> ObjectPage:
        """One page; with a ``delimiter``, keys below it fold into ``folders``."""
        page = call(lambda: self._bucket.list(prefix, delimiter, cursor))
        return ObjectPage([_info(o) for o in page.objects], page.folders, page.cursor)

    def objects(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under ``prefix``, fetched a page at a time."""
        cursor = None
        while True:
            page = self.list(prefix, cursor=cursor)
            yield from page.objects
            if page.cursor is None:
                return
            cursor = page.cursor

    def signed_url(self, key: str, method: str = "GET", ttl_seconds: int = 300) -> str:
        """A URL path (starting with /storage/v1/) that lets anyone holding it ``method`` the
        object for ``ttl_seconds``."""
        return call(lambda: self._bucket.signed_url(key, method, ttl_seconds))
