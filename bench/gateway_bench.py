"""Gateway load benchmark on this machine: the real gateway, onnxruntime backend and moto.

    .venv/bin/python bench/gateway_bench.py [--rates 100,200,...] [--duration 10]

Starts the local stack (gateway.devstack), seeds users, then offers Poisson arrivals at each
rate from an asyncio load generator (uvloop) that writes pre-built requests on raw
keep-alive connections (so the generator itself stays cheap). The payload is realistic: one
[1,3,224,224] FP32 image (602 KB) with the binary tensor extension. Half the requests carry
a token of a seeded home-jurisdiction user (personalised), half are anonymous. Before the
measured steps every seeded user is sent once, so the feature cache is in its steady state
(refresh-ahead keeps it there; a cold user's first read overlaps the backend call).

Placement: by default the gateway gets CPU 0 to itself and the backend, moto and this
client share the rest, as in a cluster where the gateway's pods have their own CPU;
``--shared`` lets every process use every CPU (the gateway then also waits behind the
backend's inference and the client's sends).

Prints, per offered rate: achieved rate, end-to-end p50/p99 (measured from the scheduled
send time, so queueing in the generator counts), error and 429 counts, and the gateway's
own overhead: end-to-end minus the backend call time the gateway reports in Server-Timing,
split into the part outside the gateway's handler (client, kernel, event-loop queueing)
and inside it, with each stage's p50/p99. Then: the highest rate with p99 under 50 ms and
no errors, and the overhead at 500 req/s. Read the figures as an upper bound on overhead:
the client and the backend still share this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import ctypes
import gc
import json
import os
import struct
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is in requirements.txt
    uvloop = None  # type: ignore[assignment]

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway import devstack

P99_BOUND_MS = 50.0
OVERHEAD_RATE = 500
OVERHEAD_P99_TARGET_MS = 5.0


@dataclass
class Sample:
    """One answered request."""

    latency_ms: float
    status: int
    backend_ms: float | None
    handler_ms: float | None
    path: str | None
    stages: dict[str, float] = field(default_factory=dict)
    """The gateway's ``Server-Timing`` stages (ms)."""
    scheduled_s: float = 0.0
    """When the Poisson schedule said to send it (the client's loop clock, s)."""
    lag_ms: float = 0.0
    """How late the client started sending (a connection in hand) after the scheduled time:
    its timer's millisecond granularity, its own scheduling, and any wait for a connection
    (the pool never ran dry in our runs: it would show here)."""


@dataclass
class Step:
    """The figures of one offered rate."""

    rate: float
    duration_s: float
    samples: list[Sample] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    """Requests without an answer, by exception type."""
    cpu_ms: dict[str, float] = field(default_factory=dict)
    """CPU time (user + system) per answered request, by process."""
    busy_pct: float = float("nan")
    """How busy the whole machine was (all cores, kernel and other tenants included)."""

    def ok(self) -> list[Sample]:
        """Answered with 200."""
        return [s for s in self.samples if s.status == 200]

    def latency(self, q: float) -> float:
        """End-to-end percentile over 200 answers (ms)."""
        values = [s.latency_ms for s in self.ok()]
        return float(np.percentile(values, q)) if values else float("nan")

    def overhead(self, q: float, *, from_schedule: bool = False) -> float:
        """Percentile of (end-to-end - backend call time) over 200 answers (ms).

        End-to-end runs from the moment the client starts sending, or, with
        ``from_schedule``, from the Poisson schedule (adding the client's own timer and
        scheduling lag, which is not the gateway's)."""
        values = [
            s.latency_ms - (0.0 if from_schedule else s.lag_ms) - s.backend_ms
            for s in self.ok()
            if s.backend_ms is not None
        ]
        return percentile(values, q)

    def split(self, q: float) -> tuple[float, float]:
        """Percentiles of the overhead's two parts (ms): outside the gateway's handler
        (client, kernel, event-loop queueing) and inside it (handler time minus backend)."""
        outside, inside = [], []
        for s in self.ok():
            if s.backend_ms is not None and s.handler_ms is not None:
                outside.append(s.latency_ms - s.lag_ms - s.handler_ms)
                inside.append(s.handler_ms - s.backend_ms)
        return percentile(outside, q), percentile(inside, q)

    def errors(self) -> int:
        """Connection failures and non-200/429 answers."""
        unanswered = sum(self.failures.values())
        return unanswered + sum(1 for s in self.samples if s.status not in (200, 429))

    def rejected(self) -> int:
        """429 answers."""
        return sum(1 for s in self.samples if s.status == 429)

    def paths(self) -> dict[str, int]:
        """Answers by the path that served them."""
        counts: dict[str, int] = {}
        for sample in self.ok():
            counts[sample.path or "?"] = counts.get(sample.path or "?", 0) + 1
        return counts


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]
# uvicorn closes keep-alive connections idle for 5 s; a well-behaved client retires them first.
IDLE_LIMIT_S = 4.0


class Pool:
    """Keep-alive connections to one host, opened on demand up to a bound."""

    def __init__(self, url: str, size: int) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.size = size
        self.opened = 0
        self.idle: list[tuple[float, Connection]] = []
        self.released = asyncio.Condition()

    async def acquire(self) -> Connection:
        """An idle connection, a new one, or the next to be released."""
        while True:
            now = time.monotonic()
            while self.idle:
                since, conn = self.idle.pop()
                if now - since < IDLE_LIMIT_S:
                    return conn
                conn[1].close()
                self.opened -= 1
            if self.opened < self.size:
                self.opened += 1
                return await asyncio.open_connection(self.host, self.port, limit=1 << 22)
            async with self.released:
                await self.released.wait()

    async def release(self, conn: Connection) -> None:
        """Back to the pool."""
        self.idle.append((time.monotonic(), conn))
        async with self.released:
            self.released.notify()

    async def discard(self) -> None:
        """A connection died."""
        self.opened -= 1
        async with self.released:
            self.released.notify()


async def exchange(
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], head: bytes, body: bytes
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request/response on a keep-alive connection."""
    reader, writer = conn
    writer.write(head)
    writer.write(body)
    await writer.drain()
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    payload = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, payload


def server_timing(value: str | None) -> dict[str, float]:
    """``Server-Timing`` as {stage: ms}."""
    timings = {}
    for part in (value or "").split(","):
        name, _, rest = part.strip().partition(";dur=")
        if rest:
            timings[name] = float(rest)
    return timings


def build_requests(
    url: str, path: str, body_header: bytes, image: bytes, tokens: list[str | None]
) -> list[tuple[bytes, bytes]]:
    """Pre-built request heads (one per token) sharing one body."""
    host = urlsplit(url).netloc
    body = body_header + image
    heads = []
    for token in tokens:
        lines = [
            f"POST {path} HTTP/1.1",
            f"Host: {host}",
            "Content-Type: application/octet-stream",
            f"Content-Length: {len(body)}",
            f"Inference-Header-Content-Length: {len(body_header)}",
        ]
        if token is not None:
            lines.append(f"Authorization: Bearer {token}")
        heads.append(("\r\n".join(lines) + "\r\n\r\n").encode())
    return [(head, body) for head in heads]


async def fire(pool: Pool, request: tuple[bytes, bytes], scheduled: float, step: Step) -> None:
    """Sends one request and records it against its scheduled time."""
    loop = asyncio.get_running_loop()
    conn = await pool.acquire()
    sending = loop.time()
    try:
        status, headers, payload = await asyncio.wait_for(exchange(conn, *request), 30)
    except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
        conn[1].close()
        await pool.discard()
        kind = type(exc).__name__
        step.failures[kind] = step.failures.get(kind, 0) + 1
        return
    await pool.release(conn)
    timings = server_timing(headers.get("server-timing"))
    path = None
    if status == 200 and headers.get("content-type", "").startswith("application/json"):
        path = json.loads(payload).get("parameters", {}).get("path")
    step.samples.append(
        Sample(
            latency_ms=(loop.time() - scheduled) * 1000,
            status=status,
            backend_ms=timings.get("backend"),
            handler_ms=timings.get("total"),
            path=path,
            stages=timings,
            scheduled_s=scheduled,
            lag_ms=(sending - scheduled) * 1000,
        )
    )


async def run_step(
    pool: Pool, requests: list[tuple[bytes, bytes]], rate: float, duration_s: float, seed: int
) -> Step:
    """Poisson arrivals at ``rate`` for ``duration_s``, requests drawn uniformly."""
    rng = np.random.default_rng(seed)
    count = max(1, int(rate * duration_s))
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    arrivals = start + np.cumsum(rng.exponential(1.0 / rate, count))
    choices = rng.integers(0, len(requests), count)
    step = Step(rate=rate, duration_s=duration_s)
    tasks = []
    with collector_paused():
        for at, choice in zip(arrivals, choices, strict=True):
            delay = at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(fire(pool, requests[choice], float(at), step)))
        await asyncio.gather(*tasks)
    return step


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage collection in the load generator while it measures.

    Its heap grows with every answered request (tasks, samples), so a full collection late
    in a step walks tens of thousands of objects: a 40 ms pause of the client, at a higher
    priority than the backend it shares a CPU with, which then shows up as tens of
    milliseconds of "gateway overhead" on the requests around it. A step's garbage is a
    few MB; it is collected between steps."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


async def warm_every_user(pool: Pool, requests: list[tuple[bytes, bytes]]) -> None:
    """One request per distinct request (so per seeded user), a few at a time."""
    step = Step(rate=0, duration_s=0)
    loop = asyncio.get_running_loop()
    for start in range(0, len(requests), 8):
        batch = requests[start : start + 8]
        await asyncio.gather(*(fire(pool, request, loop.time(), step) for request in batch))


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU of a process (Linux /proc), or of this one."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies over all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


async def measured(processes: dict[str, int | None], run: Awaitable[Step]) -> Step:
    """Runs a step and records each process's CPU per answered request."""
    before = {name: cpu_seconds(pid) for name, pid in processes.items()}
    busy, total = machine_ticks()
    step = await run
    busy_after, total_after = machine_ticks()
    step.busy_pct = 100.0 * (busy_after - busy) / max(1, total_after - total)
    answered = max(1, len(step.samples))
    step.cpu_ms = {
        name: (cpu_seconds(pid) - before[name]) * 1000 / answered for name, pid in processes.items()
    }
    return step


def report(step: Step, label: str) -> None:
    """One line of the table."""
    achieved = len(step.ok()) / step.duration_s
    latency = f"{step.latency(50):8.2f} {step.latency(99):8.2f}"
    overhead = f"{step.overhead(50):8.2f} {step.overhead(99):8.2f}"
    print(
        f"{label:>9} {step.rate:7.0f} {achieved:9.1f} {latency} {overhead}"
        f" {step.errors():6d} {step.rejected():5d}  {step.paths()}",
        flush=True,
    )
    if step.failures:
        print(f"{'':>9} unanswered: {step.failures}", flush=True)
    timed = [s for s in step.ok() if s.backend_ms is not None and s.handler_ms is not None]
    if timed:
        (out50, in50), (out99, in99) = step.split(50), step.split(99)
        print(
            f"{'':>9} overhead outside the handler p50 {out50:.2f} p99 {out99:.2f} ms,"
            f" inside it p50 {in50:.2f} p99 {in99:.2f} ms; client send lag p99"
            f" {percentile([s.lag_ms for s in step.ok()], 99):.2f} ms",
            flush=True,
        )
        stages = sorted({name for sample in timed for name in sample.stages} - {"total"})
        figures = ", ".join(
            f"{name} {percentile([s.stages.get(name, 0.0) for s in timed], 50):.2f}/"
            f"{percentile([s.stages.get(name, 0.0) for s in timed], 99):.2f}"
            for name in stages
        )
        print(f"{'':>9} stages p50/p99 ms: {figures}", flush=True)
    if step.cpu_ms:
        cpu = ", ".join(f"{name} {ms:.2f}" for name, ms in step.cpu_ms.items())
        print(f"{'':>9} CPU ms per request: {cpu}; machine {step.busy_pct:.0f}% busy", flush=True)


def percentile(values: list[float], q: float) -> float:
    """``q``th percentile, NaN for no values."""
    return float(np.percentile(values, q)) if values else float("nan")


def seed_users(stack: devstack.Stack, count: int) -> list[str]:
    """Feature items for ``count`` users; their tokens."""
    tokens = []
    for index in range(count):
        user = f"bench-user-{index}"
        devstack.put_user(
            stack.moto.url, devstack.LOCAL_REGION, stack.table, user, [index % 1000, 7, 42]
        )
        tokens.append(devstack.mint_token(stack.secret, user, devstack.LOCAL_JURISDICTION))
    return tokens


def isolate(stack: devstack.Stack) -> str:
    """Gives the gateway CPU 0 and everything else (backend, moto, this client) the others.

    In a cluster the gateway's pods have CPU of their own, away from Triton and from the
    clients; on one machine, sharing a core with the backend's inference and the client
    puts their bursts into the gateway's latency. Threads started later inherit the mask.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return f"not isolated: {len(cpus)} CPU"
    gateway_cpu, others = {cpus[0]}, set(cpus[1:])
    _pin(stack.gateway.process.pid, gateway_cpu)
    for pid in (stack.backend.process.pid, stack.moto.process.pid, os.getpid()):
        _pin(pid, others)
    placement = f"gateway on CPU {cpus[0]}; backend, moto and client on CPU {sorted(others)}"
    try:
        os.setpriority(os.PRIO_PROCESS, 0, CLIENT_NICE)
    except PermissionError:
        return placement
    placement += f"; client at nice {CLIENT_NICE}"
    if _short_slice(CLIENT_SLICE_NS):
        placement += f", {CLIENT_SLICE_NS / 1e6:g} ms slice"
    return placement


def _short_slice(slice_ns: int) -> bool:
    """Asks the EEVDF scheduler (Linux 6.12+) for a short slice for this process's threads,
    so that they preempt the backend as soon as they wake instead of after its slice."""
    number = SYS_SCHED_SETATTR.get(os.uname().machine)
    if sys.platform != "linux" or number is None:
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    attr = struct.pack(
        "IIQiIQQQII", SCHED_ATTR_SIZE, 0, 0, CLIENT_NICE, 0, slice_ns, 0, 0, 0, 0
    )  # struct sched_attr: size, SCHED_OTHER, flags, nice, priority, runtime (the slice)...
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        if libc.syscall(number, int(task.name), attr, 0) != 0:
            return False
    return True


CLIENT_NICE = -5
"""The client's scheduling priority beside the backend: it is the measuring instrument, so
its own waits for the CPU should not be counted as the gateway's (needs root; skipped if not)."""


CLIENT_SLICE_NS = 300_000
SCHED_ATTR_SIZE = 56
SYS_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274}
"""The sched_setattr(2) system call's number by machine (no Python wrapper exists)."""


def _pin(pid: int, cpus: set[int]) -> None:
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), cpus)


async def bench(stack: devstack.Stack, args: argparse.Namespace) -> None:
    """The whole run."""
    image = np.random.default_rng(0).random((1, *devstack.INPUT_SHAPE), dtype=np.float32)
    gateway_body, headers = devstack.binary_request(image, outputs=("top_classes", "top_scores"))
    header_length = int(headers["Inference-Header-Content-Length"])
    tokens: list[str | None] = list(seed_users(stack, args.users))
    tokens += [None] * len(tokens)  # as many anonymous as personalised
    infer = f"/v2/models/{devstack.PRIMARY_MODEL}/infer"
    gateway_requests = build_requests(
        stack.gateway.url, infer, gateway_body[:header_length], image.tobytes(), tokens
    )
    # What the gateway itself sends the backend: binary input, binary output.
    backend_header = {
        "inputs": [
            {
                "name": "input",
                "datatype": "FP32",
                "shape": list(image.shape),
                "parameters": {"binary_data_size": image.nbytes},
            }
        ],
        "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}],
    }
    backend_requests = build_requests(
        stack.backend.url, infer, json.dumps(backend_header).encode(), image.tobytes(), [None]
    )
    placement = isolate(stack) if args.isolate else "not isolated: all processes share all CPUs"
    print(placement, flush=True)
    gateway_pool = Pool(stack.gateway.url, args.connections)
    backend_pool = Pool(stack.backend.url, args.connections)
    await run_step(gateway_pool, gateway_requests, 100, args.warmup, seed=1)
    await run_step(backend_pool, backend_requests, 100, args.warmup, seed=1)
    # Steady state: every seeded user has been seen once, as a live user would have been.
    await warm_every_user(gateway_pool, gateway_requests)
    print(
        f"\n{'target':>9} {'offered':>7} {'achieved':>9} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'ovh p50':>8} {'ovh p99':>8} {'errors':>6} {'429':>5}  paths"
    )
    processes = {
        "gateway": stack.gateway.process.pid,
        "backend": stack.backend.process.pid,
        "moto": stack.moto.process.pid,
        "load generator": None,
    }
    steps = []
    for index, rate in enumerate(args.rates):
        run = run_step(gateway_pool, gateway_requests, rate, args.duration, seed=10 + index)
        step = await measured(processes, run)
        report(step, "gateway")
        steps.append(step)
    run = run_step(backend_pool, backend_requests, OVERHEAD_RATE, args.duration, seed=99)
    direct = await measured(processes, run)
    report(direct, "backend")
    summarise(steps, direct)
    if args.samples is not None:
        write_samples(args.samples, [*[("gateway", s) for s in steps], ("backend", direct)])


SAMPLE_COLUMNS = ("target", "rate", "at_s", "lag_ms", "latency_ms", "backend_ms", "handler_ms")


def write_samples(path: Path, steps: list[tuple[str, Step]]) -> None:
    """One CSV row per answered request, in schedule order: where in time a tail happened
    (a burst of slow requests around one stall, or slow requests spread evenly) tells a
    pause in one process from queueing."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow([*SAMPLE_COLUMNS, "status", "path"])
        for target, step in steps:
            start = min((s.scheduled_s for s in step.samples), default=0.0)
            for s in sorted(step.samples, key=lambda sample: sample.scheduled_s):
                writer.writerow(
                    [
                        target,
                        f"{step.rate:g}",
                        f"{s.scheduled_s - start:.6f}",
                        f"{s.lag_ms:.3f}",
                        f"{s.latency_ms:.3f}",
                        "" if s.backend_ms is None else f"{s.backend_ms:.3f}",
                        "" if s.handler_ms is None else f"{s.handler_ms:.3f}",
                        s.status,
                        s.path or "",
                    ]
                )
    print(f"samples written to {path}")


def summarise(steps: list[Step], direct: Step) -> None:
    """The two headline figures."""
    good = [
        s for s in steps if s.latency(99) < P99_BOUND_MS and s.errors() == 0 and not s.rejected()
    ]
    best = max(good, key=lambda s: s.rate, default=None)
    print()
    if best is None:
        print(f"no offered rate kept p99 under {P99_BOUND_MS:.0f} ms")
    else:
        achieved = len(best.ok()) / best.duration_s
        print(
            f"highest offered rate with p99 < {P99_BOUND_MS:.0f} ms and no errors: "
            f"{best.rate:.0f} req/s (achieved {achieved:.0f}, p99 {best.latency(99):.1f} ms)"
        )
    at_target = next((s for s in steps if s.rate == OVERHEAD_RATE), None)
    if at_target is not None:
        overhead = at_target.overhead(99)
        verdict = "met" if overhead < OVERHEAD_P99_TARGET_MS else "NOT met"
        print(
            f"gateway overhead at {OVERHEAD_RATE} req/s (end-to-end from the first byte sent, "
            f"minus backend call): p50 {at_target.overhead(50):.2f} ms, p99 {overhead:.2f} ms "
            f"(target p99 < {OVERHEAD_P99_TARGET_MS:g} ms: {verdict})"
        )
        print(
            "  the same counted from the Poisson schedule (client lag included): "
            f"p50 {at_target.overhead(50, from_schedule=True):.2f} ms, "
            f"p99 {at_target.overhead(99, from_schedule=True):.2f} ms"
        )
        print(
            f"end-to-end via gateway minus direct-to-backend at {OVERHEAD_RATE} req/s: "
            f"p50 {at_target.latency(50) - direct.latency(50):.2f} ms, "
            f"p99 {at_target.latency(99) - direct.latency(99):.2f} ms"
        )


def program(control: bool) -> Callable[[Path], list[str]]:
    """The gateway, or with ``control`` the logic-free pass-through in its place."""
    if not control:
        return devstack.gateway_command
    proxy = Path(__file__).resolve().with_name("passthrough_proxy.py")
    return lambda config: [sys.executable, str(proxy), str(config)]


def main() -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rates",
        default="100,200,300,400,500,600,700,800",
        type=lambda v: [float(r) for r in v.split(",")],
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per rate")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds at 100 req/s first")
    parser.add_argument("--users", type=int, default=200, help="seeded personalised users")
    parser.add_argument("--connections", type=int, default=64, help="client connection bound")
    parser.add_argument(
        "--control",
        action="store_true",
        help="measure bench/passthrough_proxy.py instead of the gateway: the harness's floor",
    )
    parser.add_argument(
        "--samples",
        type=Path,
        help="write every answered request of the measured steps to this CSV file",
    )
    parser.add_argument(
        "--shared",
        dest="isolate",
        action="store_false",
        help="let every process use every CPU (default: the gateway gets CPU 0 to itself)",
    )
    args = parser.parse_args()  # fmt: skip
    with (
        tempfile.TemporaryDirectory(prefix="gateway-bench-") as scratch,
        devstack.local_stack(Path(scratch), gateway_program=program(args.control)) as stack,
    ):
        print(f"gateway {stack.gateway.url}, backend {stack.backend.url}, {os.cpu_count()} CPUs")
        # uvloop when installed (it is pinned for the gateway): a cheaper, steadier client.
        runner = uvloop.run if uvloop is not None else asyncio.run
        runner(bench(stack, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
