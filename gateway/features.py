"""User features from this region's online store, behind a small TTL cache.

The store is the region's DynamoDB table (item layout in docs/contracts.md). boto3 is
synchronous, so reads run on a small thread pool and the request waits at most until its
deadline. A missing, slow or failed read degrades to default features: never an error and
never a read from another region (the client is built for this region's endpoint only).
"""

from __future__ import annotations

import asyncio
import enum
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]

from gateway.config import FeatureSettings

WARM_UP_TIMEOUT_S = 5.0
REFRESH_JITTER = 0.25
"""Refresh points are spread over the last quarter before ``cache_refresh_after``."""


@dataclass(frozen=True)
class UserFeatures:
    """What post-processing needs from the feature item."""

    counts: Mapping[str, float] = field(default_factory=dict)
    top_classes: tuple[int, ...] = ()

    @property
    def is_default(self) -> bool:
        """True when nothing is known about the user."""
        return not self.counts and not self.top_classes


DEFAULT_FEATURES = UserFeatures()


class FeatureSource(enum.Enum):
    """Where a request's features came from; exported as a metric label."""

    CACHE = "cache"
    STORE = "store"
    NOT_FOUND = "not_found"
    TIMEOUT = "timeout"
    ERROR = "error"
    SHED = "shed"

    @property
    def degraded(self) -> bool:
        """True when the request runs on default features."""
        return self not in (FeatureSource.CACHE, FeatureSource.STORE)


class TTLCache:
    """A bounded LRU with per-entry expiry; thread-safe because late reads fill it from the pool.

    An entry older than ``refresh_after`` (a fraction of the TTL) is still served, but
    ``lookup`` says so, once: the caller re-reads it in the background, so a user who keeps
    sending requests never waits for the store again, and nothing is served past its TTL.
    ``jitter`` brings each entry's refresh point forward by up to that fraction, at random:
    entries filled together (after a deploy, say) are not all re-read in the same second.
    """

    def __init__(
        self,
        size: int,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
        refresh_after: float = 1.0,
        jitter: float = 0.0,
        uniform: Callable[[], float] = random.random,
    ) -> None:
        if not 0.0 < refresh_after <= 1.0:
            raise ValueError(f"refresh_after: expected a fraction in (0, 1], got {refresh_after}")
        self._size = size
        self._ttl = ttl_s
        self._refresh_in = ttl_s * refresh_after
        self._jitter = jitter
        self._uniform = uniform
        self._clock = clock
        # key -> (expires at, refresh due at, value); "refresh due" is +inf once claimed
        self._entries: OrderedDict[str, tuple[float, float, UserFeatures]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> UserFeatures | None:
        """The live entry for ``key``, or None."""
        return self.lookup(key)[0]

    def lookup(self, key: str) -> tuple[UserFeatures | None, bool]:
        """The live entry for ``key`` (or None), and whether the caller should refresh it:
        True for the first lookup past the refresh point, so one caller re-reads it."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None, False
            expires_at, refresh_at, value = entry
            now = self._clock()
            if expires_at <= now:
                del self._entries[key]
                return None, False
            self._entries.move_to_end(key)
            if refresh_at <= now < expires_at:
                self._entries[key] = (expires_at, float("inf"), value)
                return value, True
            return value, False

    def reopen_refresh(self, key: str) -> None:
        """Lets the next lookup claim the refresh again (this caller could not start it)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries[key] = (entry[0], self._clock(), entry[2])

    def put(self, key: str, value: UserFeatures) -> None:
        """Stores ``value``, evicting the least recently used entry when full."""
        with self._lock:
            now = self._clock()
            refresh_in = self._refresh_in * (1.0 - self._jitter * self._uniform())
            self._entries[key] = (now + self._ttl, now + refresh_in, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def parse_item(item: Mapping[str, Any], now: float) -> UserFeatures | None:
    """A DynamoDB item (low-level attribute values) as features; None if expired.

    DynamoDB deletes TTL-expired items lazily (up to days later), so ``expires_at`` is
    checked here too: an expired profile is treated as absent.
    """
    expires_at = _number(item.get("expires_at"))
    if expires_at is not None and expires_at <= now:
        return None
    counts_raw = item.get("features", {}).get("M", {})
    counts = {
        name: value for name, raw in counts_raw.items() if (value := _number(raw)) is not None
    }
    classes = tuple(
        int(value)
        for raw in item.get("top_classes", {}).get("L", [])
        if (value := _number(raw)) is not None and value >= 0
    )
    return UserFeatures(counts=counts, top_classes=classes)


def _number(raw: Any) -> float | None:
    try:
        return float(raw["N"])
    except (KeyError, TypeError, ValueError):
        return None


def make_dynamodb_client(settings: FeatureSettings) -> Any:
    """A client pinned to this region's endpoint, with timeouts and no retries.

    The request's deadline is shorter than any retry would be; retrying only holds a pool
    thread longer.
    """
    # The request stops waiting at its deadline; the read itself may run longer, up to these
    # socket timeouts, and still fill the cache for the user's next request.
    budget_s = max(settings.timeout_ms / 1000.0 * 4, 0.5)
    return boto3.session.Session().client(
        "dynamodb",
        region_name=settings.aws_region,
        endpoint_url=settings.endpoint_url,
        config=Config(
            connect_timeout=budget_s,
            read_timeout=budget_s,
            retries={"total_max_attempts": 1, "mode": "standard"},
            max_pool_connections=settings.max_workers,
        ),
    )


class FeatureStore:
    """Cached, deadline-bounded reads of one user's features."""

    def __init__(self, settings: FeatureSettings, client: Any) -> None:
        self._settings = settings
        self._client = client
        self._cache = TTLCache(
            settings.cache_size,
            settings.cache_ttl_s,
            refresh_after=settings.cache_refresh_after,
            jitter=REFRESH_JITTER,
        )
        self._pool = ThreadPoolExecutor(settings.max_workers, thread_name_prefix="features")
        self._pending = 0
        self._pending_lock = threading.Lock()

    def cached(self, user_id: str) -> tuple[UserFeatures | None, bool]:
        """A cache hit (or None) without waiting on anything, and whether an ageing entry
        is being re-read in the background (if a pool slot was free) while it is used."""
        hit, refresh = self._cache.lookup(user_id)
        if not refresh:
            return hit, False
        if not self._reserve():
            self._cache.reopen_refresh(user_id)  # the pool is full: a later request tries
            return hit, False
        self._pool.submit(self._read, user_id)
        return hit, True

    async def fetch(self, user_id: str, timeout_s: float) -> tuple[UserFeatures, FeatureSource]:
        """The user's features within ``timeout_s``, or defaults and why."""
        hit = self._cache.get(user_id)
        if hit is not None:
            return hit, FeatureSource.CACHE
        if timeout_s <= 0 or not self._reserve():
            # Reads already queued would only finish after this request's deadline.
            return DEFAULT_FEATURES, FeatureSource.SHED
        future = asyncio.get_running_loop().run_in_executor(self._pool, self._read, user_id)
        try:
            async with asyncio.timeout(min(timeout_s, self._settings.timeout_ms / 1000.0)):
                found = await asyncio.shield(future)
        except TimeoutError:
            return DEFAULT_FEATURES, FeatureSource.TIMEOUT
        except Exception:  # any store failure degrades to defaults, by design
            return DEFAULT_FEATURES, FeatureSource.ERROR
        if found is None:
            return DEFAULT_FEATURES, FeatureSource.NOT_FOUND
        return found, FeatureSource.STORE

    async def warm_up(self) -> bool:
        """One read of a key nobody has, so the first user does not pay for the client's
        lazy set-up (endpoint, credentials, connection: tens of ms). False if it failed."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(WARM_UP_TIMEOUT_S):
                await loop.run_in_executor(self._pool, self._probe)
        except Exception:  # reported by the caller; requests degrade to defaults meanwhile
            return False
        return True

    def _probe(self) -> None:
        self._client.get_item(
            TableName=self._settings.table, Key={"user_id": {"S": "gateway-warm-up-probe"}}
        )

    def close(self) -> None:
        """Stops the pool without waiting for reads in flight."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _reserve(self) -> bool:
        with self._pending_lock:
            if self._pending >= 2 * self._settings.max_workers:
                return False
            self._pending += 1
            return True

    def _read(self, user_id: str) -> UserFeatures | None:
        try:
            response = self._client.get_item(
                TableName=self._settings.table,
                Key={"user_id": {"S": user_id}},
                ProjectionExpression="features, top_classes, expires_at",
            )
            item = response.get("Item")
            found = parse_item(item, time.time()) if item else None
            # Filled here, not by the waiter: a read that missed its request's deadline still
            # warms the cache for the user's next request.
            self._cache.put(user_id, found if found is not None else DEFAULT_FEATURES)
            return found
        finally:
            with self._pending_lock:
                self._pending -= 1
