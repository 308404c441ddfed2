"""The thread policy: --threads, then OMP_NUM_THREADS, then the idle cores; short spinning."""

import os

import pytest

from sportanim import threads


def test_requested_threads_win_over_the_environment():
    assert threads.choose_threads(3, {"OMP_NUM_THREADS": "1"}) == (3, "--threads")


def test_the_users_omp_num_threads_is_kept():
    assert threads.choose_threads(None, {"OMP_NUM_THREADS": "2"}) == (2, "OMP_NUM_THREADS")


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_thread_count_is_one_line(value):
    with pytest.raises(ValueError, match="OMP_NUM_THREADS"):
        threads.choose_threads(None, {"OMP_NUM_THREADS": value})
    with pytest.raises(ValueError, match="--threads 0"):
        threads.choose_threads(0, {})


def test_without_a_choice_the_idle_cores_decide(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 8)
    for idle, expected in ((0.2, 1), (1.4, 1), (1.6, 2), (5.0, 5), (30.0, 8)):
        monkeypatch.setattr(threads, "idle_cores", lambda idle=idle: idle)
        assert threads.choose_threads(None, {})[0] == expected


def test_idle_cores_are_between_none_and_all():
    assert 0.0 <= threads.idle_cores(0.05) <= (os.cpu_count() or 1) + 1e-6


def test_apply_sets_the_environment_torch_reads_and_short_spinning(monkeypatch):
    env = {}
    import torch

    before = torch.get_num_threads()
    try:
        assert threads.apply_thread_policy(1, env) == (1, "--threads")
        assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "1"
        assert env["GOMP_SPINCOUNT"] == threads.SPIN_COUNT
        assert torch.get_num_threads() == 1  # torch was already imported: set directly
    finally:
        torch.set_num_threads(before)
    own = {"OMP_WAIT_POLICY": "ACTIVE"}
    threads.apply_thread_policy(1, own)
    assert "GOMP_SPINCOUNT" not in own  # the user's wait policy stands


def test_the_cli_takes_threads_before_the_command(tmp_path):
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    code = ("import sys; sys.argv=['sportanim','--threads','1','plan-memory','--help'];"
            "from sportanim.cli import app\ntry: app()\nexcept SystemExit: pass\n"
            "import os; print('OMP', os.environ['OMP_NUM_THREADS'])")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert "OMP 1" in out.stdout, out.stderr
    bad = subprocess.run([sys.executable, "-m", "sportanim", "--threads", "0", "synth", "--help"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--threads 0" in bad.stderr and "Traceback" not in bad.stderr
