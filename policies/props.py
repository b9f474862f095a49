"""Reading resource properties the same way whether they are plan JSON or engine proxies.

CrossGuard hands rules read-only ``Mapping``/``Sequence`` proxies that raise
``UnknownValueError`` when a value is not known during preview; plan files hand plain dicts
and lists. Only ``present`` catches that error (a value still being computed is there, only
not known yet); everywhere else it propagates, and the engine turns it into an advisory "can't
run during preview" note, the honest answer for a value nobody knows yet. ``up`` judges the
known values again.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy.proxy import UnknownValueError

from regions.residency import CLASSIFICATION_TAG, JURISDICTION_TAG, DataClassification

ARN_REGION = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:(?P<region>[a-z0-9-]*):")
WORLD_CIDRS = frozenset({"0.0.0.0/0", "::/0"})


def get(value: Any, *path: str | int) -> Any:
    """``get(props, "vpcConfig", "endpointPublicAccess")``: ``None`` where the path breaks."""
    for step in path:
        if isinstance(step, int):
            if not is_list(value) or not -len(value) <= step < len(value):
                return None
            value = value[step]
        elif isinstance(value, Mapping):
            value = value.get(step)
        else:
            return None
    return value


def is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def items(value: Any) -> list[Any]:
    """A list property as a list; a missing or scalar value as ``[]``."""
    return list(value) if is_list(value) else []


def maps(value: Any) -> list[Mapping[str, Any]]:
    """The mapping elements of a list property (blocks such as ``rules`` or ``ingress``)."""
    return [v for v in items(value) if isinstance(v, Mapping)]


def blocks(value: Any) -> list[Mapping[str, Any]]:
    """A block that may be given alone or as a list of blocks (an EKS ``encryptionConfig``,
    an IAM ``Statement``), as a list of its mappings."""
    return maps(value) if is_list(value) else maps([value])


def strings(value: Any, key: Any = None) -> Iterator[tuple[Any, str]]:
    """Every string inside ``value``, however deep, with the mapping key that holds it
    (``None`` for list elements and for ``value`` itself)."""
    if isinstance(value, Mapping):
        for name, item in value.items():
            yield from strings(item, name)
    elif is_list(value):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        yield key, value


def flag(value: Any) -> bool | None:
    """A boolean that bridged providers sometimes carry as a string (``"true"``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def number(value: Any) -> float | None:
    """Plan files carry numbers as floats (``443.0``), the engine as ints or floats."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def enabled(block: Any) -> bool:
    """An S3 ``status`` block (versioning, replication and lifecycle rules, RTC) that is on."""
    return text(get(block, "status")) == "Enabled"


def is_set(value: Any) -> bool:
    """Present and not empty: a key ARN, an id, a non-empty list."""
    if value is None:
        return False
    if isinstance(value, str) or is_list(value) or isinstance(value, Mapping):
        return len(value) > 0
    return True


def peek(value: Any, *path: str | int) -> Any:
    """Like ``get``, but ``None`` where the value is unknown (preview)."""
    try:
        return get(value, *path)
    except UnknownValueError:
        return None


def present(value: Any, *path: str | int) -> bool:
    """Whether the property at ``path`` is set; an unknown (computed) value counts as set,
    so a key ARN that exists only after ``up`` does not fail a preview."""
    try:
        return is_set(get(value, *path))
    except UnknownValueError:
        return True


def tags(props: Mapping[str, Any]) -> Mapping[str, Any]:
    value = props.get("tags")
    return value if isinstance(value, Mapping) else {}


def classification(props: Mapping[str, Any]) -> str | None:
    value = tags(props).get(CLASSIFICATION_TAG)
    return value if isinstance(value, str) else None


def is_personal(props: Mapping[str, Any]) -> bool:
    return classification(props) == DataClassification.PERSONAL.value


def jurisdiction(props: Mapping[str, Any]) -> str | None:
    value = tags(props).get(JURISDICTION_TAG)
    return value if isinstance(value, str) else None


def arn_region(arn: Any) -> str | None:
    """``arn:aws:kms:eu-west-1:...`` -> ``eu-west-1``; ``None`` for global ARNs (S3, IAM)."""
    match = ARN_REGION.match(text(arn))
    if match is None:
        return None
    return match["region"] or None


def bucket_name(reference: Any) -> str:
    """A bucket named by name or by ARN (``arn:aws:s3:::name``), as its name."""
    value = text(reference)
    return value.rsplit(":", 1)[-1] if value.startswith("arn:") else value


def multi_region_key(reference: Any) -> bool:
    """KMS multi-Region key ids start with ``mrk-`` (also inside ARNs)."""
    value = text(reference)
    return value.startswith("mrk-") or ":key/mrk-" in value
