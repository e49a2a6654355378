"""Whether a webhook call comes from HG: a bearer token, basic auth or an HMAC signature.

Every comparison is constant-time (:func:`hmac.compare_digest`), and a refusal's reason is
for the log only: the caller gets a bare 401, so that it learns nothing about the secret.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping

from engine.definitions.receiver import ReceiverAuth, signature


class Refused(Exception):
    """The call is not authenticated; ``str()`` says why, for the log."""


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def authenticate(auth: ReceiverAuth, headers: Mapping[str, str], body: bytes, now: float) -> None:
    """Raise :class:`Refused` unless the call carries the configured credentials."""
    if auth.bearer is not None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Refused("no bearer token")
        if not _same(token.strip(), auth.bearer.get_secret_value()):
            raise Refused("wrong bearer token")
    elif auth.basic is not None:
        scheme, _, encoded = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic" or not encoded:
            raise Refused("no basic credentials")
        try:
            user, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise Refused("basic credentials are not base64 of user:password") from None
        user_ok = _same(user, auth.basic.username)
        password_ok = _same(password, auth.basic.password.get_secret_value())
        if not (user_ok and password_ok):
            raise Refused("wrong user or password")
    elif auth.hmac is not None:
        scheme = auth.hmac
        stamp = headers.get(scheme.timestamp_header.lower(), "").strip()
        given = headers.get(scheme.signature_header.lower(), "").strip()
        if not stamp or not given:
            raise Refused(f"no {scheme.signature_header} or {scheme.timestamp_header} header")
        try:
            moment = float(stamp)
        except ValueError:
            raise Refused(f"{scheme.timestamp_header} is not Unix seconds") from None
        if not abs(now - moment) <= scheme.window:  # also refuses nan
            raise Refused(f"{scheme.timestamp_header} is outside the {scheme.window:g}s window")
        if given.lower().startswith("sha256="):
            given = given[7:]
        expected = signature(scheme.secret.get_secret_value(), stamp, body)
        if not _same(given.lower(), expected):
            raise Refused("wrong signature")
