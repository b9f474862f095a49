"""Global peak request rate per environment (``capacity/demand.yaml``)."""

from __future__ import annotations

from pathlib import Path

from capacity.errors import (
    CapacityDataError,
    check_fields,
    data_file,
    mapping,
    positive,
    read_yaml,
)

DEMAND_FILE = Path(__file__).resolve().parent / "demand.yaml"


def load_global_peaks(path: str | Path | None = None) -> dict[str, float]:
    """environment -> global peak requests/s, validated."""
    file = Path(path) if path is not None else data_file(DEMAND_FILE.name)
    top = mapping(read_yaml(file), "(document)", "a mapping with 'global_peak_rps'", file)
    check_fields(top, {"global_peak_rps": "a mapping"}, frozenset(), "", file)
    peaks = mapping(
        top["global_peak_rps"], "global_peak_rps", "a mapping of environment -> requests/s", file
    )
    return {str(env): positive(rps, f"global_peak_rps.{env}", file) for env, rps in peaks.items()}


def global_peak_rps(environment: str, path: str | Path | None = None) -> float:
    peaks = load_global_peaks(path)
    if environment not in peaks:
        file = path if path is not None else DEMAND_FILE
        raise CapacityDataError(
            file, f"global_peak_rps.{environment}", f"one of the environments {sorted(peaks)}"
        )
    return peaks[environment]
