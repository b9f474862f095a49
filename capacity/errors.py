"""One error type for every capacity data file, shaped like ``regions.catalog.CatalogError``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml


class CapacityDataError(ValueError):
    """A capacity data file (prices, latency, demand, scenario) is invalid."""

    def __init__(self, file: str | Path, field: str, expected: str, got: object = None):
        self.file = str(file)
        self.field = field
        self.expected = expected
        got_text = "" if got is None else f", got {got!r}"
        super().__init__(f"{self.file}: field '{field}': expected {expected}{got_text}")


def read_yaml(path: str | Path) -> Any:
    """Parse ``path``; unreadable or malformed files raise ``CapacityDataError``."""
    file = Path(path)
    try:
        return yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CapacityDataError(file, "(document)", "a readable file", exc.strerror) from exc
    except yaml.YAMLError as exc:
        first_line = str(exc).splitlines()[0]
        raise CapacityDataError(file, "(document)", "valid YAML", first_line) from exc


def mapping(value: Any, field: str, expected: str, path: str | Path) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CapacityDataError(path, field, expected, type(value).__name__)
    return value


def number(value: Any, field: str, path: str | Path, *, minimum: float = 0.0) -> float:
    """A real number >= ``minimum`` (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise CapacityDataError(path, field, f"a number >= {minimum}", value)
    return float(value)


def positive(value: Any, field: str, path: str | Path) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise CapacityDataError(path, field, "a number greater than 0", value)
    return float(value)


def text(value: Any, field: str, path: str | Path) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CapacityDataError(path, field, "a non-empty string", value)
    return value


def check_fields(
    body: dict[str, Any],
    allowed: dict[str, str],
    optional: frozenset[str],
    where: str,
    path: str | Path,
) -> None:
    prefix = f"{where}." if where else ""
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise CapacityDataError(
            path, prefix + str(unknown[0]), f"no such field; allowed fields are {sorted(allowed)}"
        )
    for name, expected in allowed.items():
        if name not in body and name not in optional:
            raise CapacityDataError(path, prefix + name, f"{expected}; the field is missing")


CAPACITY_DIR_ENV = "INFERENCE_MESH_CAPACITY_DIR"
"""Points the planner at another directory of prices/latency/demand files (tests, bench)."""


def data_file(name: str) -> Path:
    """``capacity/<name>``, or ``$INFERENCE_MESH_CAPACITY_DIR/<name>`` when that is set."""
    override = os.environ.get(CAPACITY_DIR_ENV)
    return (Path(override) if override else Path(__file__).resolve().parent) / name
