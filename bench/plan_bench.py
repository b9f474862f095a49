"""How long ``meshctl plan`` takes: the shipped stacks, then generated 10- and 20-region catalogs.

Targets (issue 2): all shipped stacks in under 30 s on a 2-core machine; 20 regions costing
no more than 2.2 times 10 regions. Prints figures; asserts nothing.

    .venv/bin/python bench/plan_bench.py
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from capacity.errors import CAPACITY_DIR_ENV, data_file  # noqa: E402
from meshctl.plan_engine import discover_stacks, plan_stacks  # noqa: E402
from regions.catalog import CATALOG_DIR, CATALOG_DIR_ENV, load_catalog  # noqa: E402
from stacks.settings import STACKS_DIR  # noqa: E402


def _time_plan(stacks: list[str], stacks_dir: Path, catalog_dir: Path | None) -> tuple[float, int]:
    started = time.perf_counter()
    run = plan_stacks(stacks, stacks_dir, catalog_dir)
    elapsed = time.perf_counter() - started
    failed = {s: r.error for s, r in run.results.items() if not r.ok}
    if failed:
        raise SystemExit(f"plan failed: {failed}")
    resources = sum(len(r.document["resources"]) for r in run.results.values() if r.document)
    return elapsed, resources


def generate_capacity_data(
    bases: dict[str, str], shares: dict[str, float], directory: Path
) -> Path:
    """Prices and latencies for cloned regions: each clone has its base region's prices and
    round-trip times (5 ms between two clones of one base), and one user area of its own."""
    out = directory / "capacity"
    out.mkdir()
    prices = yaml.safe_load(data_file("prices.yaml").read_text())
    prices["regions"] = {name: prices["regions"][base] for name, base in bases.items()}
    (out / "prices.yaml").write_text(yaml.safe_dump(prices))
    latency = yaml.safe_load(data_file("latency.yaml").read_text())
    anchor_rtt = {a["anchor_region"]: a["rtt_ms"] for a in latency["areas"].values()}
    latency["areas"] = {
        f"users-{name}": {
            "jurisdiction": load_catalog(CATALOG_DIR).get(base).jurisdiction,
            "anchor_region": name,
            "demand_share": shares[name],
            "rtt_ms": {
                other: (anchor_rtt[base][other_base] if other_base != base else 0.0)
                + (5.0 if other != name and other_base == base else 0.0)
                for other, other_base in bases.items()
            },
        }
        for name, base in bases.items()
    }
    (out / "latency.yaml").write_text(yaml.safe_dump(latency))
    shutil.copy(data_file("demand.yaml"), out / "demand.yaml")
    return out


def generate_catalog(count: int, directory: Path) -> tuple[Path, Path]:
    """``count`` regions cloned from the shipped ones (same jurisdictions and GPU types),
    with their own CIDRs and zones, plus prod stack files for each and a global stack."""
    shipped = list(load_catalog(CATALOG_DIR))
    regions_dir, stacks_dir = directory / "regions", directory / "stacks"
    regions_dir.mkdir(parents=True)
    stacks_dir.mkdir()
    template = yaml.safe_load((STACKS_DIR / f"Pulumi.prod-{shipped[0].region}.yaml").read_text())
    bases: dict[str, str] = {}
    shares: dict[str, float] = {}
    for i in range(count):
        base = shipped[i % len(shipped)]
        name = base.region if i < len(shipped) else f"{base.region[:2]}-bench{chr(97 + i)}-1"
        doc = {
            "region": name,
            "jurisdiction": base.jurisdiction,
            "availability_zones": [f"{name}{z}" for z in "abc"],
            "vpc_cidr": f"10.{100 + i}.0.0/16",
            "gpu_candidates": list(base.gpu_candidates),
            "demand_share": round(1 / count, 12)
            if i < count - 1
            else round(1 - (count - 1) * round(1 / count, 12), 12),
            "artifact_primary": i == 0,
        }
        (regions_dir / f"{name}.yaml").write_text(yaml.safe_dump(doc))
        bases[name], shares[name] = base.region, float(doc["demand_share"])
        # Region-specific values (certificate ARNs) follow the region the file is cloned for.
        text = yaml.safe_dump(template).replace(shipped[0].region, name)
        (stacks_dir / f"Pulumi.prod-{name}.yaml").write_text(text)
    shutil.copy(STACKS_DIR / "Pulumi.prod-global.yaml", stacks_dir / "Pulumi.prod-global.yaml")
    generate_capacity_data(bases, shares, directory)
    return regions_dir, stacks_dir


def main() -> None:
    cores = os.cpu_count()
    shipped = discover_stacks()
    seconds, resources = _time_plan(shipped, STACKS_DIR, None)
    print(
        f"shipped: {len(shipped)} stacks, {resources} resources, {seconds:.1f} s on {cores} cores "
        f"(target < 30 s on 2 cores)"
    )
    timings = {}
    for count in (10, 20):
        with tempfile.TemporaryDirectory() as tmp:
            regions_dir, stacks_dir = generate_catalog(count, Path(tmp))
            os.environ[CATALOG_DIR_ENV] = str(regions_dir)
            os.environ[CAPACITY_DIR_ENV] = str(Path(tmp) / "capacity")
            try:
                seconds, resources = _time_plan(
                    discover_stacks(stacks_dir), stacks_dir, regions_dir
                )
            finally:
                os.environ.pop(CATALOG_DIR_ENV, None)
                os.environ.pop(CAPACITY_DIR_ENV, None)
            timings[count] = seconds
            print(f"{count} regions: {count + 1} stacks, {resources} resources, {seconds:.1f} s")
    ratio = timings[20] / timings[10]
    print(f"20 regions / 10 regions: {ratio:.2f}x (target <= 2.2x)")


if __name__ == "__main__":
    main()
