"""The offline plan: evaluates stack programs in Pulumi's mock engine.

No Pulumi CLI, no credentials, no network. Each stack runs in its own process (the Pulumi
runtime keeps one root stack per process), regional stacks in parallel first, then the
global stacks, which see the regional plans' real outputs in place of StackReferences.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from regions.catalog import CATALOG_DIR_ENV, CatalogError, RegionCatalog, load_catalog
from stacks import naming
from stacks.settings import (
    CONFIG_KEYS,
    NAMESPACE,
    STACKS_DIR,
    GlobalSettings,
    RegionalSettings,
    StackConfigError,
    parse_settings,
)

PLAN_FORMAT_VERSION = 1
FORWARDED_ENV: tuple[str, ...] = (
    CATALOG_DIR_ENV,
    "INFERENCE_MESH_CAPACITY_DIR",
    "INFERENCE_MESH_RESIDENCY_FILE",
)
"""Where the data files live. Passed to each stack process explicitly: the fork server keeps
the environment it started with, so a later change would otherwise not reach it."""
_PRELOAD = ["meshctl.plan_preload"]


class PlanError(Exception):
    """A stack could not be planned; the message says which file and field to fix."""


@dataclass
class StackResult:
    stack: str
    document: dict[str, Any] | None = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class PlanRun:
    results: dict[str, StackResult] = field(default_factory=dict)

    @property
    def failed(self) -> list[str]:
        return [s for s, r in self.results.items() if not r.ok]


# -- stack files ---------------------------------------------------------------------------
def discover_stacks(stacks_dir: Path = STACKS_DIR) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in stacks_dir.glob("Pulumi.*.yaml"))


def is_global(stack: str) -> bool:
    return stack.endswith(f"-{naming.GLOBAL}")


def load_stack_config(stack: str, stacks_dir: Path = STACKS_DIR) -> dict[str, Any]:
    """The ``config:`` mapping of ``Pulumi.<stack>.yaml``, with unknown project keys refused."""
    path = stacks_dir / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise PlanError(f"{path}: no such stack file")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise PlanError(f"{path}: expected valid YAML: {exc}") from None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise PlanError(f"{path}: field 'config': expected a mapping of config keys")
    for key in config:
        namespace, _, name = str(key).partition(":")
        if namespace == NAMESPACE and name not in CONFIG_KEYS:
            raise PlanError(
                f"{path}: field '{key}': expected one of "
                f"{[f'{NAMESPACE}:{k}' for k in CONFIG_KEYS]}"
            )
    return config


def _engine_config(raw: dict[str, Any]) -> dict[str, str]:
    # The engine hands config to programs as strings; structured values as JSON.
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}


# -- evaluating one stack ------------------------------------------------------------------
def evaluate_stack(
    stack: str,
    stacks_dir: Path = STACKS_DIR,
    catalog: RegionCatalog | None = None,
    references: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Runs one stack program against the mock cloud and returns its plan document."""
    import pulumi  # noqa: PLC0415 (the SDK is only needed once a stack is evaluated)
    from pulumi.runtime import settings as runtime_settings  # noqa: PLC0415
    from pulumi.runtime.stack import run_pulumi_func  # noqa: PLC0415
    from pulumi.runtime.sync_await import _sync_await  # noqa: PLC0415

    from meshctl.mock_cloud import CloudMocks, RecordingMonitor  # noqa: PLC0415
    from stacks.program import run  # noqa: PLC0415

    raw = load_stack_config(stack, stacks_dir)
    catalog = catalog or load_catalog()
    try:
        settings = parse_settings(stack, raw, catalog)
    except (StackConfigError, CatalogError) as exc:
        raise PlanError(str(exc)) from None
    default_region = str(raw.get("aws:region"))
    zones = {spec.region: list(spec.availability_zones) for spec in catalog}
    mocks = CloudMocks(stack, default_region, zones, references)
    monitor = RecordingMonitor(mocks)
    runtime_settings.ROOT.set(None)
    pulumi.runtime.set_all_config(_engine_config(raw))
    pulumi.runtime.set_mocks(
        mocks, project=naming.PROJECT, stack=stack, preview=False, monitor=monitor
    )
    exported: dict[str, Any] = {}

    def program() -> None:
        exports = run(settings)
        resolved: Any = _sync_await(pulumi.Output.from_input(exports).future())
        exported.update(resolved or {})

    runtime_settings.SETTINGS.rpc_manager.clear()
    runtime_settings.SETTINGS.outputs.clear()
    _sync_await(run_pulumi_func(program))
    return _document(stack, settings, monitor, exported)


def _document(
    stack: str,
    settings: RegionalSettings | GlobalSettings,
    monitor: Any,
    exported: dict[str, Any],
) -> dict[str, Any]:
    from meshctl.mock_cloud import _plain  # noqa: PLC0415

    resources = [
        {
            "urn": r.urn,
            "type": r.type,
            "name": r.name,
            "parent": r.parent,
            "region": r.region,
            "id": r.id,
            "provider": r.provider,
            # Sorted: the SDK registers dependencies in no stable order.
            "dependencies": sorted(r.dependencies),
            "props": r.props,
            "outputs": r.outputs,
        }
        for r in monitor.recorded
        if r.type != "pulumi:pulumi:Stack"
    ]
    return {
        "formatVersion": PLAN_FORMAT_VERSION,
        "project": naming.PROJECT,
        "stack": stack,
        "environment": settings.environment,
        "kind": "global" if isinstance(settings, GlobalSettings) else "regional",
        "resources": resources,
        "outputs": _plain(exported),
    }


def _evaluate_in_worker(
    stack: str,
    stacks_dir: str,
    catalog_dir: str | None,
    references: dict[str, Any] | None,
    environment: dict[str, str],
) -> StackResult:
    import time  # noqa: PLC0415

    started = time.perf_counter()
    for key in FORWARDED_ENV:
        os.environ.pop(key, None)
    os.environ.update(environment)
    if catalog_dir:
        os.environ[CATALOG_DIR_ENV] = catalog_dir
    try:
        catalog = load_catalog(catalog_dir)
        document = evaluate_stack(stack, Path(stacks_dir), catalog, references)
        return StackResult(stack, document, None, time.perf_counter() - started)
    except (PlanError, CatalogError) as exc:
        return StackResult(stack, None, str(exc), time.perf_counter() - started)
    except Exception as exc:  # one broken stack must not hide the others
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return StackResult(stack, None, f"{stack}: {detail}", time.perf_counter() - started)


# -- planning many stacks ------------------------------------------------------------------
def plan_stacks(
    stacks: Iterable[str],
    stacks_dir: Path = STACKS_DIR,
    catalog_dir: Path | None = None,
    jobs: int | None = None,
    on_done: Callable[[StackResult], None] | None = None,
) -> PlanRun:
    """Regional stacks first, in parallel; then global stacks with their references."""
    wanted = list(dict.fromkeys(stacks))
    regional = [s for s in wanted if not is_global(s)]
    globals_ = [s for s in wanted if is_global(s)]
    run = PlanRun()
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    workers = jobs or os.cpu_count() or 1
    with ProcessPoolExecutor(workers, mp_context=context, max_tasks_per_child=1) as pool:
        _collect(run, pool, regional, stacks_dir, catalog_dir, lambda _s: None, on_done)
        if globals_:
            needed = _regional_needed(globals_, stacks_dir, catalog_dir)
            missing = [s for s in needed if s not in run.results]
            _collect(run, pool, missing, stacks_dir, catalog_dir, lambda _s: None, on_done)
            refs = {s: r.document["outputs"] for s, r in run.results.items() if r.document}
            _collect(run, pool, globals_, stacks_dir, catalog_dir, lambda _s: refs, on_done)
    return run


def _regional_needed(globals_: list[str], stacks_dir: Path, catalog_dir: Path | None) -> list[str]:
    try:
        catalog = load_catalog(catalog_dir)
    except CatalogError:
        return []
    return [
        naming.stack_name(naming.parse_stack_name(g)[0], spec.region)
        for g in globals_
        for spec in catalog
        if (stacks_dir / f"Pulumi.{naming.parse_stack_name(g)[0]}-{spec.region}.yaml").exists()
    ]


def _collect(
    run: PlanRun,
    pool: ProcessPoolExecutor,
    stacks: list[str],
    stacks_dir: Path,
    catalog_dir: Path | None,
    references: Callable[[str], dict[str, Any] | None],
    on_done: Callable[[StackResult], None] | None,
) -> None:
    futures: dict[str, Future[StackResult]] = {
        s: pool.submit(
            _evaluate_in_worker,
            s,
            str(stacks_dir),
            str(catalog_dir) if catalog_dir else None,
            references(s),
            {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ},
        )
        for s in stacks
    }
    for stack, future in futures.items():
        result = future.result()
        run.results[stack] = result
        if on_done is not None:
            on_done(result)


def write_plan(document: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{document['stack']}.json"
    path.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path
