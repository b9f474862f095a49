"""Residency at the door: who the user is, where their data lives, and what to do here.

A request names its user's home jurisdiction either in a signed token (verified with the
key from config, one algorithm only, so no algorithm confusion) or in headers set by a
trusted edge (off unless configured: a client could set them too). Personal features are
only read when the user's home jurisdiction is this region's; otherwise the client is
redirected home, or served the anonymous path when the request says that is acceptable.
"""

from __future__ import annotations

import enum
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from gateway.config import JURISDICTION_PATTERN, AuthSettings
from gateway.kserve import ProtocolError

USER_ID_PATTERN = re.compile(r"^[\w.@:+-]{1,256}$")
TOKEN_CACHE_SIZE = 10_000
TOKEN_CACHE_MAX_S = 60.0


class AuthError(ValueError):
    """A credential was presented and is not acceptable (answered with 401)."""


class ResidencyError(ValueError):
    """The user's home jurisdiction has no endpoint to send them to (answered with 421)."""


@dataclass(frozen=True)
class Identity:
    """A verified user and their home jurisdiction."""

    user_id: str
    jurisdiction: str


class Action(enum.Enum):
    """What the gateway does with the request."""

    PERSONAL = "personal"
    ANONYMOUS = "anonymous"
    REDIRECT = "redirect"


@dataclass(frozen=True)
class Decision:
    """The residency verdict; ``location`` is set for redirects."""

    action: Action
    location: str | None = None
    home: str | None = None


class IdentityResolver:
    """Establishes the request's identity from a bearer token or trusted edge headers."""

    def __init__(self, settings: AuthSettings) -> None:
        self._settings = settings
        # Verifying a signature costs ~0.1 ms; a client reuses its token for many requests.
        self._verified: OrderedDict[str, tuple[float, Identity]] = OrderedDict()

    def resolve(self, headers: Mapping[str, str]) -> Identity | None:
        """The identity, None for an anonymous request; raises ``AuthError``."""
        edge = self._from_edge(headers)
        if edge is not None:
            return edge
        authorization = headers.get("authorization")
        if authorization is None:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("Authorization must be 'Bearer <token>'")
        return self._verify(token.strip())

    def _from_edge(self, headers: Mapping[str, str]) -> Identity | None:
        user_header = self._settings.edge_user_header
        jurisdiction_header = self._settings.edge_jurisdiction_header
        if not user_header or not jurisdiction_header or user_header not in headers:
            return None
        return _identity(headers.get(user_header), headers.get(jurisdiction_header), "edge header")

    def _verify(self, token: str) -> Identity:
        now = time.time()
        cached = self._verified.get(token)
        if cached is not None and cached[0] > now:
            return cached[1]
        claims = self._decode(token)
        identity = _identity(
            claims.get("sub"), claims.get(self._settings.jurisdiction_claim), "token"
        )
        until = min(float(claims["exp"]), now + TOKEN_CACHE_MAX_S)
        self._verified[token] = (until, identity)
        if len(self._verified) > TOKEN_CACHE_SIZE:
            self._verified.popitem(last=False)
        return identity

    def _decode(self, token: str) -> dict[str, Any]:
        s = self._settings
        try:
            return jwt.decode(
                token,
                s.key,
                algorithms=[s.algorithm],
                issuer=s.issuer,
                audience=s.audience,
                leeway=s.leeway_s,
                options={
                    "require": ["exp", "sub", s.jurisdiction_claim],
                    "verify_aud": s.audience is not None,
                },
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token has expired") from None
        except jwt.InvalidSignatureError:
            raise AuthError("token signature does not verify with this gateway's key") from None
        except jwt.InvalidAlgorithmError:
            raise AuthError(f"token must be signed with {s.algorithm}") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"token lacks the {exc.claim!r} claim") from None
        except jwt.DecodeError:
            raise AuthError("token is not a well-formed JWT") from None
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"token rejected: {exc}") from None


def _identity(user_id: Any, jurisdiction: Any, source: str) -> Identity:
    if not isinstance(user_id, str) or not USER_ID_PATTERN.match(user_id):
        raise AuthError(f"{source} carries no valid user id")
    if not isinstance(jurisdiction, str) or not JURISDICTION_PATTERN.match(jurisdiction):
        raise AuthError(f"{source} carries no valid jurisdiction (2-3 capital letters)")
    return Identity(user_id=user_id, jurisdiction=jurisdiction)


def decide(
    identity: Identity | None,
    parameters: Mapping[str, Any],
    *,
    local_jurisdiction: str,
    home_endpoints: Mapping[str, str],
    path: str,
) -> Decision:
    """Where and how this request may be served.

    ``parameters`` are the request's KServe parameters: ``personalise`` (default true) and
    ``allow_anonymous`` (default false: a traveller asking for personalisation is sent home).
    """
    personalise = _flag(parameters, "personalise", default=True)
    allow_anonymous = _flag(parameters, "allow_anonymous", default=False)
    if identity is None or not personalise:
        return Decision(Action.ANONYMOUS)
    if identity.jurisdiction == local_jurisdiction:
        return Decision(Action.PERSONAL)
    if allow_anonymous:
        return Decision(Action.ANONYMOUS)
    endpoint = home_endpoints.get(identity.jurisdiction)
    if endpoint is None:
        raise ResidencyError(
            f"the user's home jurisdiction {identity.jurisdiction} has no endpoint configured "
            "here; retry with parameters.allow_anonymous=true for a non-personalised answer"
        )
    return Decision(Action.REDIRECT, location=endpoint + path, home=identity.jurisdiction)


def _flag(parameters: Mapping[str, Any], name: str, *, default: bool) -> bool:
    value = parameters.get(name, default)
    if not isinstance(value, bool):
        raise ProtocolError(f"parameters.{name} must be true or false, got {value!r}")
    return value
