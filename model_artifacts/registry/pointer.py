"""Move ``pointers/<model>/active.json``, the version serving loads, in every region.

The pointer moves only to a version complete in every region (see ``status``), so no
region is ever told to load files it does not have. The primary's pointer is the reference:
the new pointer is computed from it, written to the other regions first and to the primary
last. If a write fails midway the primary still holds the old pointer, and re-running the
same command computes the same new pointer and converges every region.
"""

from __future__ import annotations

from datetime import UTC, datetime

from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    BotoCoreError,
    ClientError,
)

from model_artifacts.registry.errors import (
    IncompleteVersionError,
    NothingToRollBackError,
    RegistryError,
)
from model_artifacts.registry.layout import POINTER_HISTORY, Pointer, pointer_key
from model_artifacts.registry.status import VersionStatus, version_status
from model_artifacts.registry.store import ArtifactStore, read_pointer


def promote(
    store: ArtifactStore, model: str, version: int, *, verify_content: bool = False
) -> Pointer:
    _require_complete(store, model, version, "promote", verify_content)
    current = read_pointer(store.primary, model)
    if current is None:
        history: tuple[int, ...] = ()
    elif current.active == version:
        history = current.history
    else:
        history = (current.active, *(v for v in current.history if v != current.active))
    pointer = Pointer(model, version, history[:POINTER_HISTORY], _now())
    _write_everywhere(store, pointer)
    return pointer


def rollback(store: ArtifactStore, model: str, *, verify_content: bool = False) -> Pointer:
    """Make the previous active version active again; the rolled-back one leaves history."""
    current = read_pointer(store.primary, model)
    if current is None or current.previous is None:
        state = "no active pointer" if current is None else f"only version {current.active}"
        raise NothingToRollBackError(
            f"{model}: nothing to roll back to ({state} in {store.primary.url(pointer_key(model))})"
        )
    target = current.previous
    _require_complete(store, model, target, "rollback", verify_content)
    pointer = Pointer(model, target, current.history[1:], _now())
    _write_everywhere(store, pointer)
    return pointer


def _require_complete(
    store: ArtifactStore, model: str, version: int, action: str, verify_content: bool
) -> VersionStatus:
    status = version_status(store, model, version, verify_content=verify_content)
    if status.complete_everywhere:
        return status
    if not status.published:
        reason = f"{model} version {version} is not published"
    else:
        details = "; ".join(
            f"{r.region}: {', '.join(r.problems[:3])}{' ...' if len(r.problems) > 3 else ''}"
            for r in status.regions
            if not r.complete
        )
        reason = (
            f"{model} version {version} is not complete in "
            f"{', '.join(status.incomplete_regions)} ({details})"
        )
    raise IncompleteVersionError(
        f"{action} refused: {reason}; the active version is unchanged", status.incomplete_regions
    )


def _write_everywhere(store: ArtifactStore, pointer: Pointer) -> None:
    body = pointer.to_json()
    key = pointer_key(pointer.model)
    done: list[str] = []
    for target in (*store.replicas, store.primary):
        try:
            target.s3.put_object(
                Bucket=target.bucket, Key=key, Body=body, ContentType="application/json"
            )
        except (BotoCoreError, ClientError) as exc:
            raise RegistryError(
                f"{pointer.model}: writing the pointer to {target.url(key)} failed ({exc}); "
                f"already moved to version {pointer.active} in {done or 'no region'}, the "
                "primary still holds the old pointer: re-run the command to converge"
            ) from exc
        done.append(target.region)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
