"""Publish throughput: one put_object stream against the publisher's parallel multipart.

    .venv/bin/python bench/publish_bench.py              # 1 GiB, about 2 minutes
    .venv/bin/python bench/publish_bench.py --size-mib 256 --cap-mib 0

Starts its own moto_server on 127.0.0.1, writes a Triton model directory of random bytes
(config.pbtxt + 1/ with 256 MiB shards), then, for each link:

- single stream: ``put_object`` of each file in turn, one request per file;
- publisher: ``model_artifacts.registry.publish`` (parallel multipart upload, then the
  sha256 read-back, then the manifest), reported as upload MiB/s and end-to-end MiB/s.

Two links are measured. Loopback: straight to moto. Capped: through a local proxy that
limits every TCP connection to ``--cap-mib`` MiB/s, a stand-in for the per-connection
throughput limit of a real path to S3 (the cap is a modelling choice, not a published S3
figure). Parallel multipart pays off only when one connection is the bottleneck; on
loopback the bottleneck is moto itself, a Python process using one core.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import numpy as np
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model_artifacts.registry import (
    RegionBucket,
    TransferSettings,
    collect_model_directory,
    publish,
)

MiB = 1 << 20
SHARD = 256 * MiB
BUCKET = "publish-bench"
MODEL = "bench-model"
TARGET_RATIO = 3.0


@dataclass(frozen=True)
class Result:
    link: str
    single: float
    upload: float
    publish: float
    single_cpu_per_wall: float
    """CPU seconds (this client + moto + proxy) per wall second during the single stream."""
    upload_cpu_per_mib: float
    single_cpu_per_mib: float
    server_cpu_per_mib: float
    """moto's own share of the single stream's CPU per MiB: work any uploader must cause."""

    @property
    def ratio(self) -> float:
        return self.upload / self.single

    @property
    def ceiling(self) -> float:
        """The best ratio any uploader could reach on this machine's cores, doing at least
        the single stream's CPU work per byte: it already keeps this many cores busy."""
        return (os.cpu_count() or 1) / self.single_cpu_per_wall


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):  # noqa: S310
                return
        except OSError:
            if (proc and proc.poll() is not None) or time.monotonic() > deadline:
                raise RuntimeError(f"nothing answers on {url}") from None
            time.sleep(0.1)


@contextmanager
def moto_server() -> Iterator[tuple[int, int]]:
    port = _free_port()
    exe = Path(sys.executable).with_name("moto_server")
    program = str(exe) if exe.exists() else shutil.which("moto_server") or "moto_server"
    proc = subprocess.Popen(
        [program, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}", proc)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rate: float) -> None:
    loop = asyncio.get_running_loop()
    start, sent = loop.time(), 0
    try:
        while data := await reader.read(256 * 1024):
            writer.write(data)
            await writer.drain()
            sent += len(data)
            ahead = sent / rate - (loop.time() - start)
            if ahead > 0:
                await asyncio.sleep(ahead)
    except ConnectionError:
        pass
    finally:
        writer.close()


async def _proxy(listen: int, upstream: int, rate: float) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", upstream)
        await asyncio.gather(_pipe(client_r, server_w, rate), _pipe(server_r, client_w, rate))

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


def _run_proxy(listen: int, upstream: int, rate: float) -> None:
    asyncio.run(_proxy(listen, upstream, rate))


@contextmanager
def capped_link(upstream: int, mib_per_s: float) -> Iterator[tuple[int, int]]:
    """A TCP proxy limiting each connection (each request: moto closes after every response)."""
    port = _free_port()
    proc = multiprocessing.Process(
        target=_run_proxy, args=(port, upstream, mib_per_s * MiB), daemon=True
    )
    proc.start()
    try:
        _wait_for(f"http://127.0.0.1:{port}")
        assert proc.pid is not None
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.join(timeout=10)


def make_model_directory(root: Path, size: int) -> Path:
    model = root / MODEL
    (model / "1").mkdir(parents=True)
    (model / "config.pbtxt").write_text(f'name: "{MODEL}"\nbackend: "onnxruntime"\n')
    rng = np.random.default_rng(0)
    for index, start in enumerate(range(0, size, SHARD)):
        with (model / "1" / f"weights-{index:02d}.bin").open("wb") as handle:
            handle.write(rng.bytes(min(SHARD, size - start)))
    return model


def _client(port: int, pool: int) -> Any:
    return boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106  # moto accepts anything
        config=Config(max_pool_connections=pool, retries={"max_attempts": 3}),
    )


def cpu_seconds(pids: list[int], *, client: bool = True) -> float:
    """User + system CPU of ``pids`` (Linux /proc) and, with ``client``, of this process."""
    times = os.times()
    total = times.user + times.system if client else 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def single_stream(s3: Any, model: Path, prefix: str) -> float:
    files = sorted(p for p in model.rglob("*") if p.is_file())
    started = time.monotonic()
    for path in files:
        with path.open("rb") as body:
            s3.put_object(Bucket=BUCKET, Key=f"{prefix}/{path.relative_to(model)}", Body=body)
    return sum(p.stat().st_size for p in files) / MiB / (time.monotonic() - started)


def parallel(s3: Any, model: Path, version: int, settings: TransferSettings) -> tuple[float, float]:
    files = collect_model_directory(model, MODEL, 1)
    # Publish the same files as another version: the publisher maps 1/ under VERSION's prefix.
    target = RegionBucket("us-east-1", BUCKET, s3)
    started = time.monotonic()
    result = publish(target, f"{MODEL}-{version}", 1, files, settings=settings)
    total = time.monotonic() - started
    mib = result.manifest.total_bytes / MiB
    return mib / result.upload_seconds, mib / total


def measure(
    link: str, port: int, model: Path, run: int, settings: TransferSettings, pids: list[int]
) -> Result:
    s3 = _client(port, settings.concurrency + 4)
    mib = sum(p.stat().st_size for p in model.rglob("*") if p.is_file()) / MiB
    cpu, server, wall = cpu_seconds(pids), cpu_seconds(pids[:1], client=False), time.monotonic()
    single = single_stream(s3, model, f"single-{run}")
    single_cpu, single_wall = cpu_seconds(pids) - cpu, time.monotonic() - wall
    server = cpu_seconds(pids[:1], client=False) - server
    cpu = cpu_seconds(pids)
    upload, end_to_end = parallel(s3, model, run, settings)
    # the whole publish: upload, read-back and manifest; per MiB it bounds the upload's share
    upload_cpu = cpu_seconds(pids) - cpu
    return Result(
        link,
        single,
        upload,
        end_to_end,
        single_cpu_per_wall=single_cpu / single_wall,
        upload_cpu_per_mib=upload_cpu / mib,
        single_cpu_per_mib=single_cpu / mib,
        server_cpu_per_mib=server / mib,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="model directory size")
    parser.add_argument(
        "--cap-mib", type=float, default=16, help="per-connection cap of the capped link (0: skip)"
    )
    args = parser.parse_args()
    settings = TransferSettings()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="publish-bench-") as tmp, moto_server() as (port, moto):
        model = make_model_directory(Path(tmp), args.size_mib * MiB)
        _client(port, 4).create_bucket(Bucket=BUCKET)
        results.append(measure("loopback, no cap", port, model, 1, settings, [moto]))
        if args.cap_mib > 0:
            with capped_link(port, args.cap_mib) as (capped, proxy):
                link = f"capped, {args.cap_mib:g} MiB/s per connection"
                results.append(measure(link, capped, model, 2, settings, [moto, proxy]))
    _report(results, args.size_mib, settings)
    return 0


def _report(results: list[Result], size_mib: int, settings: TransferSettings) -> None:
    print(
        f"publish_bench: {size_mib} MiB model directory, moto_server on 127.0.0.1, "
        f"{os.cpu_count()} CPUs; publisher: {settings.part_size // MiB} MiB parts, "
        f"{settings.concurrency} in parallel"
    )
    header = f"{'link':38} {'single put':>12} {'multipart':>12} {'ratio':>7} {'+ read-back':>12}"
    print(header)
    for r in results:
        print(
            f"{r.link:38} {r.single:8.1f} MiB/s {r.upload:6.1f} MiB/s {r.ratio:6.2f}x "
            f"{r.publish:6.1f} MiB/s"
        )
    print()
    for r in results:
        print(
            f"{r.link}: the single stream kept {r.single_cpu_per_wall:.2f} of {os.cpu_count()} "
            f"cores busy ({r.single_cpu_per_mib * 1000:.1f} CPU-ms/MiB; the publish "
            f"{r.upload_cpu_per_mib * 1000:.1f} with its read-back), so no uploader doing that "
            f"work per byte can beat it by more than {r.ceiling:.2f}x here; moto alone spent "
            f"{r.server_cpu_per_mib * 1000:.1f} CPU-ms/MiB of it"
        )
    for r in results:
        verdict = "met" if r.ratio >= TARGET_RATIO else "NOT met"
        print(f"target >= {TARGET_RATIO:g}x single stream, {r.link}: {verdict}")


if __name__ == "__main__":
    raise SystemExit(main())
