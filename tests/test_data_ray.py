"""``sportanim data build`` side by side: local threads and a Ray cluster give the bytes of a
one-thread build; Ray missing and bad addresses are one-line errors."""

from __future__ import annotations

import builtins
import os
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sportanim.cli import app
from sportanim.data import cluster
from sportanim.data.build import BuildConfig, build_dataset, local_workers
from sportanim.io.video import write_video
from sportanim.synth.programme import make_programme

from test_data_clips import TruthBackend

FPS = 30.0
TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Three short 64 px programmes (one jump each) and a backend knowing their joints."""
    folder = tmp_path_factory.mktemp("videos")
    backend = TruthBackend()
    for seed in range(3):
        p = make_programme(seed, seed, jumps=1, size=(64, 64), fps=FPS)
        path = folder / f"prog{seed}.mp4"
        write_video(path, p["frames"], FPS)
        backend.add(path, p["joints"], p["mask"])
    return {"folder": folder, "backend": backend}


def _config(out: Path, **kw) -> BuildConfig:
    return BuildConfig(out=out, size=32, frames=25, pose_max_side=None, show_progress=False, **kw)


def _files(root: Path) -> dict[str, bytes]:
    """Every file of a build's output (its private .build folder too), by relative path."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def single(videos, tmp_path_factory):
    """The reference: one thread, one backend, the videos one after another."""
    out = tmp_path_factory.mktemp("single") / "fsjd"
    report = build_dataset([videos["folder"]], _config(out), backend=videos["backend"])
    assert report.videos == 3 and len(report.clips) >= 3 and not report.skipped
    return {"out": out, "report": report}


def _ids(report) -> list[str]:
    return [r.id for r in report.clips]


def test_threads_build_the_same_bytes(videos, single, tmp_path):
    backend = videos["backend"]
    config = _config(tmp_path / "fsjd", workers=3)
    assert local_workers(config, 3, lambda: backend) == 3
    assert local_workers(config, 3, backend) == 1  # an instance is never shared by threads
    report = build_dataset([videos["folder"]], config, backend=lambda: backend)
    assert _files(tmp_path / "fsjd") == _files(single["out"])
    assert _ids(report) == _ids(single["report"])  # input order, not completion order


def test_threads_stop_on_an_error_and_resume_to_the_same_bytes(videos, single, tmp_path, monkeypatch):
    from sportanim import fsjd
    from sportanim.data import build as build_module

    real, calls = fsjd.write_clip, []

    def dying_write_clip(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(build_module.fsjd, "write_clip", dying_write_clip)
    backend, out = videos["backend"], tmp_path / "fsjd"
    with pytest.raises(KeyboardInterrupt):
        build_dataset([videos["folder"]], _config(out, workers=2), backend=lambda: backend)
    assert 1 <= len(fsjd.read_manifest(out)) < len(single["report"].clips)
    assert not list(out.rglob(".*tmp-*"))
    monkeypatch.setattr(build_module.fsjd, "write_clip", real)
    report = build_dataset([videos["folder"]], _config(out, workers=2), backend=lambda: backend)
    assert 0 < len(report.new) < len(report.clips)
    assert _files(out) == _files(single["out"])


def test_ray_cluster_of_two_workers_builds_the_same_bytes(videos, single, tmp_path, monkeypatch):
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install sportanim[cluster]")
    from ray.cluster_utils import Cluster

    # the nodes' workers import this checkout's sportanim and the test backend's module
    paths = [str(TESTS.parent), str(TESTS), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    small = {"object_store_memory": 80 * 1024 ** 2}
    nodes = Cluster(initialize_head=True,
                    head_node_args={"num_cpus": 0, "include_dashboard": False, **small})
    try:
        for _ in range(2):
            nodes.add_node(num_cpus=1, **small)
        backend, seen = videos["backend"], tmp_path / "nodes"
        seen.mkdir()

        def on_a_worker():  # runs in the Ray worker: note which node, then the backend
            node = ray.get_runtime_context().get_node_id()
            (seen / node).write_text("")
            return backend

        out = tmp_path / "fsjd"
        report = build_dataset([videos["folder"]], _config(out, ray=nodes.address),
                               backend=on_a_worker)
        assert not ray.is_initialized()  # the build's own connection is closed
    finally:
        ray.shutdown()
        nodes.shutdown()
    assert _files(out) == _files(single["out"])
    assert _ids(report) == _ids(single["report"]) and report.new == single["report"].new
    assert len(list(seen.iterdir())) == 2  # both worker nodes built videos


def test_ray_missing_is_one_line_naming_the_extra(videos, tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ModuleNotFoundError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ValueError, match=r"pip install sportanim\[cluster\]"):
        build_dataset([videos["folder"]], _config(tmp_path / "a", ray="auto"))
    assert not (tmp_path / "a").exists()  # refused before anything was written
    result = CliRunner().invoke(app, ["data", "build", str(videos["folder"]), "--out",
                                      str(tmp_path / "b"), "--ray", "auto", "--quiet"])
    assert result.exit_code == 2, result.output
    assert "pip install sportanim[cluster]" in result.output
    assert "Traceback" not in result.output


def test_bad_ray_addresses_are_one_line_errors(videos, tmp_path):
    with pytest.raises(ValueError, match="--ray takes auto"):
        build_dataset([videos["folder"]], _config(tmp_path / "a", ray="not an address"))
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert cluster.parse_ray_address(f" ray://127.0.0.1:{port} ") == f"ray://127.0.0.1:{port}"
    with pytest.raises(OSError, match="cannot reach the Ray cluster"):
        cluster.check_reachable(f"127.0.0.1:{port}")
    if _has_ray():
        result = CliRunner().invoke(app, ["data", "build", str(videos["folder"]), "--out",
                                          str(tmp_path / "b"), "--ray", f"127.0.0.1:{port}",
                                          "--quiet"])
        assert result.exit_code == 2, result.output
        assert f"cannot reach the Ray cluster at 127.0.0.1:{port}" in result.output
        assert "Traceback" not in result.output and not (tmp_path / "b").exists()
    result = CliRunner().invoke(app, ["data", "build", str(videos["folder"]), "--out",
                                      str(tmp_path / "c"), "--ray", "head-node"])
    assert result.exit_code == 2 and "--ray takes auto" in result.output
    result = CliRunner().invoke(app, ["data", "build", str(videos["folder"]), "--out",
                                      str(tmp_path / "c"), "--workers", "-1"])
    assert result.exit_code == 2 and "--workers" in result.output


def _has_ray() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True
