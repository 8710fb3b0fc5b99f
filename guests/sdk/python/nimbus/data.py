"""Text and bytes for the platform: the SDK takes ``str`` (as UTF-8) or bytes-like values and
refuses others, since ``bytes(5)`` would quietly be five zero bytes."""

from typing import Any, Union

Data = Union[bytes, bytearray, memoryview, str]


def is_data(value: Any) -> bool:
    return isinstance(value, (str, bytes, bytearray, memoryview))


def to_bytes(value: Any, what: str, hint: str = "") -> bytes:
    """``value`` as bytes; ``what`` and ``hint`` name it in the error for anything else."""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} is bytes or a string, not {type(value).__name__}{hint}")
