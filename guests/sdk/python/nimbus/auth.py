"""The app's users (``nimbus:platform/auth``), with ``auth = "verify"`` or ``"admin"``."""

from wit_world.imports import auth as _auth

from .errors import call


def verify_token(token: str):
    """The identity (``user_id``, ``email``, ``role``) a bearer token proves; raises
    NimbusError when it is invalid or expired."""
    return call(lambda: _auth.verify_token(token))


def get_user(user_id: str):
    """A user (``id``, ``email``, ``role``, ``created_at_ms``) by id, or None."""
    return call(lambda: _auth.get_user(user_id))
