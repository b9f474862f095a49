"""Refusals of the model registry. Each message says what was refused and why."""

from __future__ import annotations


class RegistryError(Exception):
    """A publish, promote or rollback was refused; nothing visible changed."""


class BadModelDirectoryError(RegistryError):
    """The local path is not a Triton model directory holding the version."""


class VersionExistsError(RegistryError):
    """The version already has a manifest: published versions are immutable."""


class ChecksumMismatchError(RegistryError):
    """Bytes differ from what was expected (catalog, local file or manifest)."""


class UploadFailedError(RegistryError):
    """An upload failed midway; no manifest was written, so the version is not visible."""


class IncompleteVersionError(RegistryError):
    """The version is missing or damaged in at least one region."""

    def __init__(self, message: str, regions: tuple[str, ...]):
        super().__init__(message)
        self.regions = regions


class NothingToRollBackError(RegistryError):
    """The pointer has no earlier version."""


class MissingBucketError(RegistryError):
    """An artifact bucket does not exist: the environment is not deployed (or misnamed)."""
