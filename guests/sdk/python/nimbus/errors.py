"""Platform failures as exceptions."""

from typing import Callable, TypeVar

from componentize_py_types import Err

T = TypeVar("T")

_KINDS = {
    "Error_AccessDenied": ("access-denied", 403),
    "Error_NotFound": ("not-found", 404),
    "Error_Invalid": ("invalid", 400),
    "Error_Unavailable": ("unavailable", 503),
    "Error_Other": ("other", 500),
}


class NimbusError(Exception):
    """A platform call the platform refused. ``kind`` is the WIT ``error`` case
    (``access-denied``, ``not-found``, ``invalid``, ``unavailable``, ``other``), ``status``
    the HTTP status a handler would answer with."""

    def __init__(self, kind: str, detail: str = "", status: int = 500):
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail
        self.status = status


def call(platform_call: Callable[[], T]) -> T:
    """Runs a platform call, turning the bindings' ``Err(error)`` into a NimbusError."""
    try:
        return platform_call()
    except Err as failure:
        error = failure.value
        kind, status = _KINDS.get(type(error).__name__, ("other", 500))
        detail = getattr(error, "value", "")
        raise NimbusError(kind, detail if isinstance(detail, str) else "", status) from None
