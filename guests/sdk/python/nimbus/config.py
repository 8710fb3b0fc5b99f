"""The component's ``config`` values and granted ``secrets`` (``nimbus:platform/config``)."""

from typing import Optional

from wit_world.imports import config as _config

from .errors import call


def get(name: str) -> Optional[str]:
    """The value, or None when it is not declared."""
    return call(lambda: _config.get(name))
