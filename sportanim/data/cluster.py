"""``sportanim data build --ray``: the builder's videos spread over a Ray cluster.

Ray is an optional extra (``pip install sportanim[cluster]``); nothing here imports it
until a build asks for it. Each video is one Ray task (one CPU; one GPU for NLF where the
cluster has GPUs) that runs :func:`sportanim.data.build.build_video`, the same function
as the local loop, so its pose pass (cached in ``OUT/.build/poses``), clips and records
are the ones a single process writes. The driver collects the tasks as they finish,
rewrites the manifest from the finished records after each (sorted by clip id, so the
order of completion does not matter) and writes ``stats.json`` at the end: the folder is
byte-identical to a single-process build's.

Addresses (``--ray``):

- ``auto``: Ray's own choice: ``RAY_ADDRESS``, else a cluster started on this machine with
  ``ray start --head``, else a new Ray instance on this machine;
- ``local``: always a new Ray instance on this machine (its cores as workers);
- ``HOST:PORT``: the head node's GCS address (``ray start --head`` prints it; port 6379 by
  default), or ``ray://HOST:PORT`` for Ray Client (port 10001).

Every node must see the videos and ``--out`` at the same paths (a shared filesystem, as
for ``--shard`` under Slurm) and have sportanim and its pose backend installed; a worker
that cannot see them stops the build with one line saying so. A build that was already
connected to Ray (``ray.init`` called by the caller) uses that connection and leaves it open.
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["RAY_EXTRA", "parse_ray_address", "require_ray", "check_reachable", "connect",
           "build_on_ray"]

RAY_EXTRA = "pip install sportanim[cluster]"
CONNECT_TIMEOUT_S = 5.0
_ADDRESS = re.compile(r"(?P<scheme>ray://)?(?P<host>[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):(?P<port>\d{1,5})")
_BACKENDS: dict = {}  # per Ray worker process: pose backends by (name, model, device)


def parse_ray_address(text: str) -> str:
    """``auto``, ``local``, ``HOST:PORT`` or ``ray://HOST:PORT`` (stripped); ``ValueError``
    for anything else."""
    value = (text or "").strip()
    if value in ("auto", "local"):
        return value
    match = _ADDRESS.fullmatch(value)
    if not match or not 0 < int(match["port"]) < 65536:
        raise ValueError(f"--ray takes auto, local, HOST:PORT (the head node's address, e.g. "
                         f"10.0.0.5:6379) or ray://HOST:PORT, got {text!r}")
    return value


def require_ray():
    """The ``ray`` module, or ``ValueError`` naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise ValueError(f"--ray needs Ray, an optional extra: {RAY_EXTRA}") from None
    return ray


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """For ``HOST:PORT`` addresses: ``OSError`` (one line) unless a TCP connection opens
    within ``timeout_s`` (Ray itself retries a dead address for a minute)."""
    match = _ADDRESS.fullmatch(address)
    if match is None:
        return
    host, port = match["host"].strip("[]"), int(match["port"])
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise OSError(f"cannot reach the Ray cluster at {address}: {reason}; start its head "
                      "with 'ray start --head' and pass the address it prints, or --ray auto"
                      ) from None


@contextmanager
def connect(address: str) -> Iterator:
    """``ray``, connected to ``address`` (see the module notes) for the ``with`` block;
    an existing connection is used as is and left open."""
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    target = None if address == "auto" else address
    try:
        ray.init(address=target, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING)
    except Exception as error:  # Ray raises ConnectionError, RuntimeError, ValueError...
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise OSError(f"cannot connect to Ray ({address}): {first}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _worker_build(job, config, rows, backend):
    """One Ray task: the video's whole build on this worker (see ``build.build_video``)."""
    from sportanim.data.build import BUILD_DIR, build_video, is_backend_instance
    from sportanim.data.pose import make_backend

    out = Path(config.out)
    for path in (Path(job.info.path), out / BUILD_DIR):
        if not path.exists():
            raise OSError(f"{path} is not visible on Ray node {socket.gethostname()}; --ray "
                          "needs the videos and --out on a filesystem every node mounts at "
                          "the same path")
    if backend is None:
        key = (config.pose_backend, str(config.nlf_model), config.device)
        if key not in _BACKENDS:
            _BACKENDS[key] = make_backend(config.pose_backend, config.nlf_model, config.device)
        own = _BACKENDS[key]
    elif is_backend_instance(backend):
        own = backend  # this task's own unpickled copy
    else:
        own = backend()
    return build_video(job, config, rows, own)


def _gpus(ray, config) -> float:
    """One GPU per task for NLF when the cluster has GPUs and no CPU device was asked for."""
    if config.pose_backend != "nlf" or (config.device or "cuda").split(":")[0] != "cuda":
        return 0
    return 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0


def build_on_ray(jobs: list, config, rows, backend,
                 advance: Callable[[int], None] = lambda n=1: None) -> Iterator:
    """Run :func:`sportanim.data.build.build_video` for every job as a Ray task; yields
    the outcomes in completion order (``advance`` by a video's frames as it finishes).
    A worker's user error (``ValueError``, ``OSError``, a backend that cannot run) is
    raised here as itself; the other tasks are cancelled."""
    from sportanim.data.build import longest_first

    with connect(config.ray) as ray:
        task = ray.remote(_worker_build).options(num_cpus=1, num_gpus=_gpus(ray, config))
        pending = {task.remote(job, config, rows, backend): job for job in longest_first(jobs)}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    job = pending.pop(ref)
                    yield _result(ray, ref, job)
                    advance(max(job.info.frames, 1))
        finally:
            for ref in pending:
                ray.cancel(ref)


def _result(ray, ref, job):
    from sportanim.data.pose import PoseBackendError

    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as error:
        cause = getattr(error, "cause", None)
        if isinstance(cause, (ValueError, OSError, PoseBackendError)):
            raise cause from None
        raise
    except ray.exceptions.RayError as error:  # a worker or node lost
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise OSError(f"Ray lost the task building {job.name}: {first}") from None
