"""Train/eval split of an FSJD folder without leakage between the two.

``split_dataset`` groups the clips (by athlete, by source video, or one group per clip),
picks whole groups for eval so that their clip counts add up to ``n_eval`` exactly when
some choice of groups can (a subset-sum over group sizes), else as close as possible,
and rewrites the manifest's ``split`` fields atomically. Same manifest + seed, same split.

Group keys:

- ``athlete``: ``labels.athlete``. Every clip must have one; a clip with a null athlete
  is a ``ValueError`` (an unknown athlete may be anyone, so no grouping is safe) that
  suggests ``--by video`` or ``--by clip``.
- ``video``: the clip's source video, the first string among ``source["video_id"]``,
  ``source["video"]``, ``source["video_path"]``; a clip without one is its own video
  (synthetic clips are each rendered on their own).
- ``clip``: every clip is its own group (plain random split).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from sportanim import fsjd

GROUP_BY = ("athlete", "video", "clip")
VIDEO_KEYS = ("video_id", "video", "video_path")


def split_dataset(root: str | os.PathLike, n_eval: int = 100, by: str = "athlete",
                  seed: int = 0) -> dict:
    """Mark ``n_eval`` clips of ``root``'s manifest "eval" and the rest "train", whole
    groups at a time (see the module doc), and rewrite ``manifest.jsonl`` atomically;
    ``stats.json`` (split counts) is rewritten too when present.

    Returns ``{"train", "eval"}`` clip counts, ``"requested"`` (``n_eval``), ``"exact"``
    (True when ``eval == n_eval``), ``"by"``, ``"seed"``, ``"groups"`` and
    ``"eval_groups"`` (counts), and ``"eval_ids"`` (sorted clip ids).
    ``ValueError`` for an unknown ``by``, ``n_eval`` outside ``0..clips-1``, a null
    athlete with ``by="athlete"``, or fewer than two groups when ``n_eval > 0``."""
    root = Path(root)
    records = fsjd.read_manifest(root)
    _check_request(root, records, n_eval, by)
    groups = group_clips(records, by)
    chosen = choose_eval_groups([len(ids) for ids in groups.values()], n_eval, seed)
    eval_ids = {clip_id for i, ids in enumerate(groups.values()) if i in chosen for clip_id in ids}
    updated = [dataclasses.replace(r, split="eval" if r.id in eval_ids else "train")
               for r in records]
    fsjd.write_manifest(root, updated)
    if (root / fsjd.STATS_NAME).is_file():
        fsjd.write_stats(root, fsjd.compute_stats(root, updated))
    return {"train": len(records) - len(eval_ids), "eval": len(eval_ids),
            "requested": n_eval, "exact": len(eval_ids) == n_eval, "by": by, "seed": seed,
            "groups": len(groups), "eval_groups": len(chosen), "eval_ids": sorted(eval_ids)}


def _check_request(root: Path, records: list[fsjd.ClipRecord], n_eval: int, by: str) -> None:
    """``ValueError`` for an unknown ``by`` or an ``n_eval`` that leaves no train clip."""
    if by not in GROUP_BY:
        raise ValueError(f"--by must be one of {', '.join(GROUP_BY)}, got {by!r}")
    if not (isinstance(n_eval, (int, np.integer)) and 0 <= n_eval < len(records)):
        raise ValueError(f"--eval {n_eval!r}: {root} has {len(records)} clips, so the eval "
                         f"count must be in 0..{len(records) - 1} (at least one train clip)")


def group_clips(records: list[fsjd.ClipRecord], by: str) -> dict[str, list[str]]:
    """Clip ids per group key, keys sorted (so the manifest's order does not matter)."""
    groups: dict[str, list[str]] = {}
    for record in records:
        groups.setdefault(group_key(record, by), []).append(record.id)
    return dict(sorted(groups.items()))


def group_key(record: fsjd.ClipRecord, by: str) -> str:
    """The group of one clip for ``by`` in ``GROUP_BY`` (see the module doc)."""
    if by == "clip":
        return f"clip:{record.id}"
    if by == "athlete":
        athlete = record.labels.get("athlete")
        if athlete is None:
            raise ValueError(f"clip {record.id} has no labels.athlete, so --by athlete cannot "
                             "keep athletes apart; use --by video or --by clip")
        return f"athlete:{athlete}"
    if by == "video":
        video = next((record.source[key] for key in VIDEO_KEYS
                      if isinstance(record.source.get(key), str) and record.source[key]), None)
        return f"video:{video}" if video is not None else f"clip:{record.id}"
    raise ValueError(f"--by must be one of {', '.join(GROUP_BY)}, got {by!r}")


def choose_eval_groups(sizes: list[int], n_eval: int, seed: int) -> set[int]:
    """Indices of groups (clip counts ``sizes``) for eval, summing to ``n_eval`` if any
    subset can, else to the reachable total in 1..sum-1 nearest ``n_eval`` (ties: the
    smaller). Groups are tried in a seeded random order, earlier ones preferred.
    ``ValueError`` if ``n_eval > 0`` and no split leaves both sides non-empty."""
    if n_eval == 0:
        return set()
    total = sum(sizes)
    order = [int(i) for i in np.random.default_rng(seed).permutation(len(sizes))]
    cap = min(n_eval + max(sizes) - 1, total - 1)  # the nearest sum above n_eval is <= this
    reach = _reachable_sums([sizes[i] for i in order], cap)
    target = _nearest_reachable(reach[-1], n_eval, cap)
    if target is None:
        raise ValueError(f"cannot split {total} clips in {len(sizes)} group(s) into non-empty "
                         "train and eval sets without splitting a group; use a finer --by")
    chosen = set()
    for k in range(len(order), 0, -1):  # walk back: skip a group whenever possible
        if not (reach[k - 1] >> target) & 1:
            chosen.add(order[k - 1])
            target -= sizes[order[k - 1]]
    return chosen


def _reachable_sums(sizes: list[int], cap: int) -> list[int]:
    """Bitsets (Python ints): bit s of ``reach[k]`` is set when some subset of the first
    ``k`` sizes sums to ``s`` <= ``cap``. Memory: (len(sizes) + 1) * (cap + 1) bits."""
    mask = (1 << (cap + 1)) - 1
    reach = [1]
    for size in sizes:
        reach.append((reach[-1] | (reach[-1] << size)) & mask)
    return reach


def _nearest_reachable(bits: int, n_eval: int, cap: int) -> int | None:
    """The set bit of ``bits`` in 1..cap nearest ``n_eval`` (ties: the smaller), or None."""
    for distance in range(max(n_eval, cap - n_eval) + 1):
        for s in (n_eval - distance, n_eval + distance):
            if 1 <= s <= cap and (bits >> s) & 1:
                return s
    return None
