"""Refusals of the model registry. Each message says what was refused and why."""

from __future__ import annotations


class RegistryError(Exception):
    """A publish, promote or rollback was refused; nothing visible changed."""


class BadModelDirectory(RegistryError):
    """The local path is not a Triton model directory holding the version."""


class VersionExists(RegistryError):
    """The version already has a manifest: published versions are immutable."""


class ChecksumMismatch(RegistryError):
    """Bytes differ from what was expected (catalog, local file or manifest)."""


class UploadFailed(RegistryError):
    """An upload failed midway; no manifest was written, so the version is not visible."""


class IncompleteVersion(RegistryError):
    """The version is missing or damaged in at least one region."""

    def __init__(self, message: str, regions: tuple[str, ...]):
        super().__init__(message)
        self.regions = regions


class NothingToRollBack(RegistryError):
    """The pointer has no earlier version."""
