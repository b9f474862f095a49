"""Post-processing: the model's top-k, re-ranked for the user; and the rule-based answer.

Personal re-rank (documented in gateway/README.md):
    score(c) = p(c) * (1 + boost * activity * affinity(c))
where ``p`` is the model's probability, ``affinity(c) = 1 / (1 + r)`` when ``c`` is at
position ``r`` of the user's ``top_classes`` (0 otherwise) and
``activity = min(1, events_7d / activity_saturation)``, so a user seen rarely is nudged less
than a regular. Only the model's ``candidate_k`` most likely classes are re-ranked: a
personal preference can reorder plausible answers, never invent an implausible one.

Rule-based answer (both backends down): the user's ``top_classes`` (most engaged first),
then the model's configured ``popular_classes``, without repeats, first ``top_k``; the score
is ``1 / (1 + position)``, a rank rather than a probability.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gateway.features import UserFeatures

ACTIVITY_COUNT = "events_7d"


def activity(features: UserFeatures, saturation: float) -> float:
    """How much the user's history should weigh, in [0, 1]."""
    return min(1.0, max(0.0, features.counts.get(ACTIVITY_COUNT, 0.0)) / saturation)


def affinity(features: UserFeatures, num_classes: int) -> np.ndarray:
    """Per-class affinity in [0, 1] from the user's ranked ``top_classes``."""
    weights = np.zeros(num_classes, dtype=np.float32)
    for position, cls in reversed(list(enumerate(features.top_classes))):
        if cls < num_classes:
            weights[cls] = 1.0 / (1 + position)
    return weights


def top_k(
    scores: np.ndarray,
    k: int,
    candidate_k: int,
    features: UserFeatures | None = None,
    *,
    boost: float = 1.0,
    saturation: float = 50.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` classes and their scores per row of ``scores`` [batch, classes].

    Returns INT64 [batch, k] and FP32 [batch, k]; ties go to the lower class id.
    """
    rows = scores.reshape(scores.shape[0], -1).astype(np.float32, copy=False)
    num_classes = rows.shape[1]
    pool = min(candidate_k, num_classes)
    # Plain fancy indexing: np.take_along_axis costs more than the ranking itself here.
    row = np.arange(rows.shape[0])[:, None]
    candidates = np.argpartition(-rows, pool - 1, axis=1)[:, :pool]
    values = rows[row, candidates]
    if features is not None and not features.is_default:
        gain = boost * activity(features, saturation)
        boosts = np.float32(1.0) + np.float32(gain) * affinity(features, num_classes)[candidates]
        values = values * boosts
    order = np.lexsort((candidates, -values), axis=1)[:, : min(k, pool)]
    return candidates[row, order].astype(np.int64), values[row, order].astype(np.float32)


def rule_based(
    batch_size: int, k: int, features: UserFeatures | None, popular: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """The in-process answer when no model can be reached (see module docstring)."""
    personal = features.top_classes if features is not None else ()
    ranked = list(dict.fromkeys([*personal, *popular]))[:k]
    classes = np.tile(np.asarray(ranked, dtype=np.int64), (batch_size, 1))
    scores = np.tile(1.0 / (1.0 + np.arange(len(ranked), dtype=np.float32)), (batch_size, 1))
    return classes.reshape(batch_size, len(ranked)), scores.reshape(batch_size, len(ranked))
