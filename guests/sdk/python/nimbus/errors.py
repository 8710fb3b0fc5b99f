"""Platform failures as exceptions."""

from typing import Callable, TypeVar

from componentize_py_types import Err

T = TypeVar("T")

_KINDS = {
    "Error_AccessDenied": "access-denied",
    "Error_NotFound": "not-found",
    "Error_Invalid": "invalid",
    "Error_Unavailable": "unavailable",
    "Error_Other": "other",
}
_STATUS = {"access-denied": 403, "not-found": 404, "invalid": 400, "unavailable": 503, "other": 500}


class NimbusError(Exception):
    """A platform call the platform refused. ``kind`` is the WIT ``error`` case
    (``access-denied``, ``not-found``, ``invalid``, ``unavailable``, ``other``), ``status``
    the HTTP status a handler would answer with."""

    def __init__(self, kind: str, detail: str = ""):
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail
        self.status = _STATUS.get(kind, 500)


def call(platform_call: Callable[[], T]) -> T:
    """Runs a platform call, turning the bindings' ``Err(error)`` into a NimbusError."""
    try:
        return platform_call()
    except Err as failure:
        error = failure.value
        kind = _KINDS.get(type(error).__name__, "other")
        detail = getattr(error, "value", "")
        raise NimbusError(kind, detail if isinstance(detail, str) else "") from None
