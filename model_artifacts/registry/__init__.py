"""The model registry in the artifact buckets: publish, status, promote, rollback.

Library code for ``meshctl models``; bucket layout in ``layout`` and model_artifacts/README.md.
"""

from model_artifacts.registry.errors import (
    BadModelDirectoryError,
    ChecksumMismatchError,
    IncompleteVersionError,
    MissingBucketError,
    NothingToRollBackError,
    RegistryError,
    UploadFailedError,
    VersionExistsError,
)
from model_artifacts.registry.layout import Manifest, Pointer
from model_artifacts.registry.pointer import promote, rollback
from model_artifacts.registry.publish import (
    LocalFile,
    PublishResult,
    TransferSettings,
    check_model_file,
    collect_model_directory,
    publish,
)
from model_artifacts.registry.status import (
    ModelStatus,
    RegionStatus,
    VersionStatus,
    model_status,
    version_status,
)
from model_artifacts.registry.store import ArtifactStore, RegionBucket, artifact_store, read_pointer

__all__ = [
    "ArtifactStore",
    "BadModelDirectoryError",
    "ChecksumMismatchError",
    "IncompleteVersionError",
    "LocalFile",
    "Manifest",
    "MissingBucketError",
    "ModelStatus",
    "NothingToRollBackError",
    "Pointer",
    "PublishResult",
    "RegionBucket",
    "RegionStatus",
    "RegistryError",
    "TransferSettings",
    "UploadFailedError",
    "VersionExistsError",
    "VersionStatus",
    "artifact_store",
    "check_model_file",
    "collect_model_directory",
    "model_status",
    "promote",
    "publish",
    "read_pointer",
    "rollback",
    "version_status",
]
