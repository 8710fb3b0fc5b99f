"""Managing the app's users (``nimbus:platform/auth-admin``), with ``auth = "admin"`` only."""

from typing import Optional

from wit_world.imports import auth_admin as _admin

from .errors import call


def create_user(email: str, password: str, role: Optional[str] = None):
    """A new user (``id``, ``email``, ``role``, ``created_at_ms``); ``role`` defaults to
    ``authenticated``."""
    return call(lambda: _admin.create_user(email, password, role))


def delete_user(user_id: str) -> None:
    call(lambda: _admin.delete_user(user_id))


def set_role(user_id: str, role: str):
    return call(lambda: _admin.set_role(user_id, role))
