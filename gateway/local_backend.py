"""A local KServe v2 server that really runs ONNX models with onnxruntime.

It stands in for Triton on a laptop and in tests: same protocol (JSON and the binary tensor
extension), same model repository layout (``<repo>/<model>/<version>/model.onnx``). It is
not the production server and has no batching or scheduling of its own.

    python -m gateway.local_backend --port 8001 --repository model_artifacts/repository \\
        --alias resnet50=resnet50-lite
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.config import TensorSpec
from gateway.direct_body import ProtocolFactory, direct_body
from gateway.kserve import (
    HEADER_LENGTH,
    NUMPY_TYPES,
    ProtocolError,
    encode_response,
    error_body,
    parse_infer_request,
)
from gateway.runtime import tune_for_latency

ONNX_TYPES = {
    "tensor(float)": "FP32",
    "tensor(float16)": "FP16",
    "tensor(double)": "FP64",
    "tensor(int64)": "INT64",
    "tensor(int32)": "INT32",
    "tensor(int8)": "INT8",
    "tensor(uint8)": "UINT8",
    "tensor(bool)": "BOOL",
}
MAX_BATCH_PATTERN = re.compile(r"^\s*max_batch_size\s*:\s*(\d+)", re.MULTILINE)
DEFAULT_MAX_BATCH = 8
MAX_BODY_BYTES = 64 << 20
"""Largest request body read straight into one buffer; larger ones are read in pieces."""


@dataclass
class LoadedModel:
    """An onnxruntime session and its KServe signature."""

    name: str
    version: str
    session: Any
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    max_batch_size: int


def load_model(name: str, path: Path, version: str = "1", threads: int = 1) -> LoadedModel:
    """Opens ``path`` with onnxruntime (CPU) and reads its signature from the graph."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    model = LoadedModel(
        name=name,
        version=version,
        session=session,
        inputs=tuple(_spec(arg) for arg in session.get_inputs()),
        outputs=tuple(_spec(arg) for arg in session.get_outputs()),
        max_batch_size=_max_batch(path.parent.parent / "config.pbtxt"),
    )
    _warm_up(model)
    return model


def _warm_up(model: LoadedModel) -> None:
    # onnxruntime plans and allocates on the first run (tens of ms): pay it before serving,
    # not on a request whose caller has a 20 ms timeout.
    feeds = {
        spec.name: np.zeros(
            (1, *(d if d > 0 else 1 for d in spec.shape)), NUMPY_TYPES[spec.datatype]
        )
        for spec in model.inputs
    }
    model.session.run(None, feeds)


def _spec(arg: Any) -> TensorSpec:
    # The first dimension is the batch; symbolic dims ("N", None) become -1.
    dims = tuple(d if isinstance(d, int) and d > 0 else -1 for d in arg.shape[1:])
    return TensorSpec(name=arg.name, datatype=ONNX_TYPES[arg.type], shape=dims)


def _max_batch(config_pbtxt: Path) -> int:
    if config_pbtxt.is_file():
        found = MAX_BATCH_PATTERN.search(config_pbtxt.read_text(encoding="utf-8"))
        if found and int(found.group(1)) > 0:
            return int(found.group(1))
    return DEFAULT_MAX_BATCH


def scan_repository(repository: Path, threads: int = 1) -> dict[str, LoadedModel]:
    """Every ``<model>/<version>/model.onnx`` under ``repository``, newest version each."""
    models = {}
    for model_dir in sorted(p for p in repository.iterdir() if p.is_dir()):
        versions = sorted(
            (int(v.name), v)
            for v in model_dir.iterdir()
            if v.name.isdigit() and (v / "model.onnx").is_file()
        )
        if versions:
            number, directory = versions[-1]
            models[model_dir.name] = load_model(
                model_dir.name, directory / "model.onnx", str(number), threads
            )
    return models


class LocalBackend:
    """Serves loaded models; inference runs on one worker thread, like one Triton instance."""

    def __init__(self, models: Mapping[str, LoadedModel]) -> None:
        self.models = dict(models)
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="onnxruntime")

    async def infer(self, request: Request) -> Response:
        """``POST /v2/models/{name}/infer``."""
        model = self.models.get(request.path_params["name"])
        direct = direct_body(request.scope)
        body = await (request.body() if direct is None else direct)
        if model is None:
            return _error(404, f"model {request.path_params['name']!r} is not loaded")
        try:
            parsed = parse_infer_request(
                body, request.headers.get(HEADER_LENGTH), model.inputs, model.max_batch_size
            )
        except ProtocolError as exc:
            return _error(400, str(exc))
        feeds = {tensor.name: tensor.array() for tensor in parsed.inputs}
        loop = asyncio.get_running_loop()
        results = await loop.run_in_executor(self._worker, model.session.run, None, feeds)
        wanted = parsed.requested_outputs or tuple(spec.name for spec in model.outputs)
        by_name = dict(zip((spec.name for spec in model.outputs), results, strict=True))
        outputs = [
            (name, np.asarray(by_name[name]), parsed.wants_binary(name))
            for name in wanted
            if name in by_name
        ]
        header: dict[str, Any] = {"model_name": model.name, "model_version": model.version}
        if parsed.id is not None:
            header["id"] = parsed.id
        payload, headers = encode_response(header, outputs)
        return Response(payload, headers=headers)

    def metadata(self, request: Request) -> Response:
        """``GET /v2/models/{name}``."""
        model = self.models.get(request.path_params["name"])
        if model is None:
            return _error(404, f"model {request.path_params['name']!r} is not loaded")
        return JSONResponse(
            {
                "name": model.name,
                "versions": [model.version],
                "platform": "onnxruntime_onnx",
                "inputs": _tensors(model.inputs),
                "outputs": _tensors(model.outputs),
            }
        )


def _tensors(specs: Sequence[TensorSpec]) -> list[dict[str, Any]]:
    return [{"name": s.name, "datatype": s.datatype, "shape": [-1, *s.shape]} for s in specs]


def _error(status: int, message: str) -> Response:
    return Response(error_body(message), status_code=status, media_type="application/json")


def create_app(models: Mapping[str, LoadedModel]) -> Starlette:
    """The local backend as an ASGI application."""
    backend = LocalBackend(models)

    async def ok(_: Request) -> Response:
        return JSONResponse({"ready": True})

    async def metadata(request: Request) -> Response:
        return backend.metadata(request)

    async def model_ready(request: Request) -> Response:
        known = request.path_params["name"] in backend.models
        return JSONResponse({"ready": known}, 200 if known else 404)

    return Starlette(
        routes=[
            Route("/v2/health/live", ok),
            Route("/v2/health/ready", ok),
            Route("/v2/models/{name}", metadata),
            Route("/v2/models/{name}/ready", model_ready),
            Route("/v2/models/{name}/infer", backend.infer, methods=["POST"]),
        ]
    )


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="gateway.local_backend",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--repository", type=Path, help="a Triton-layout model repository")
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="serve one ONNX file under NAME (repeatable)",
    )
    parser.add_argument(
        "--alias",
        action="append",
        default=[],
        metavar="NAME=LOADED",
        help="also serve the loaded model LOADED under NAME (repeatable)",
    )
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    return parser.parse_args(argv)  # fmt: skip


def _load(args: argparse.Namespace) -> dict[str, LoadedModel]:
    models = scan_repository(args.repository, args.threads) if args.repository else {}
    for item in args.model:
        name, _, path = item.partition("=")
        models[name] = load_model(name, Path(path), threads=args.threads)
    for item in args.alias:
        name, _, target = item.partition("=")
        if target not in models:
            raise SystemExit(f"--alias {item}: {target!r} is not loaded (have {sorted(models)})")
        models[name] = LoadedModel(**{**models[target].__dict__, "name": name})
    if not models:
        raise SystemExit("no model to serve: give --repository or --model")
    return models


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = _parse_args(argv)
    app = create_app(_load(args))
    # It stands in for Triton, which has no collector pauses: keep ours out of its latency.
    tune_for_latency()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        http=ProtocolFactory(MAX_BODY_BYTES).for_uvicorn,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
