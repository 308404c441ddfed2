"""Scratch arrays reused from batch to batch."""

from __future__ import annotations

import threading

import numpy as np


class Pool:
    """Scratch arrays reused from batch to batch and call to call: first touching fresh
    memory is slow (page faults), and numpy would allocate a new array per operation."""

    def __init__(self) -> None:
        self.arrays: dict[type, list[np.ndarray]] = {}  # by dtype (numpy scalar type)
        self.used: dict[type, int] = {}

    def get(self, shape, dtype=np.float32) -> np.ndarray:
        if type(shape) is not tuple:
            shape = (int(shape),)
        n = 1
        for s in shape:
            n *= int(s)
        arrays = self.arrays.setdefault(dtype, [])
        i = self.used.get(dtype, 0)
        if i == len(arrays):
            arrays.append(np.empty(max(n, 1024), dtype))
        elif arrays[i].size < n:
            arrays[i] = np.empty(n, dtype)
        self.used[dtype] = i + 1
        return arrays[i][:n].reshape(shape)

    def mark(self) -> dict:
        return dict(self.used)

    def release(self, mark: dict) -> None:
        self.used = dict(mark)


_LOCAL = threading.local()


def scratch_pool() -> Pool:
    """This thread's pool, every array free again (worker threads each get their own)."""
    pool = getattr(_LOCAL, "pool", None)
    if pool is None:
        pool = _LOCAL.pool = Pool()
    pool.release({})
    return pool
