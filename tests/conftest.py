from pathlib import Path

import pytest

from sportanim.synth.dataset import SynthConfig, synthesize

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """Real third-party data beside the checkout (absent on a user's machine: skip)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="module")
def fsjd_dir(tmp_path_factory) -> Path:
    """Six synthetic daily clips (16 px, 49 frames, all train) for the training tests."""
    out = tmp_path_factory.mktemp("fsjd") / "fsjd"
    synthesize(SynthConfig(out=out, domain="daily", clips=6, size=16, frames=49, seed=3, eval_fraction=0.0),
               show_progress=False)
    return out
