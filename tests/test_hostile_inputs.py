"""What a careless or hostile user can hand the commands: each case exits 2 with one line that
names the flag or file, before any work, and writes nothing."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from sportanim.cli import app
from sportanim.models.pipeline import build_pipeline, save_pipeline
from sportanim.skeleton import nlf_intrinsics
from sportanim.synth.world import make_clip

FRAMES, SIZE = 17, 32


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A small random-weights folder, a motion npz with a valid camera, a reference image."""
    root = tmp_path_factory.mktemp("hostile")
    clip = make_clip(0, 0, "lutz", (SIZE, SIZE), FRAMES, 30.0)
    joints = clip.joints.astype(np.float32)
    pipe = build_pipeline("tiny", joints.mean(0), np.maximum(joints.std(0), 1.0), num_frames=FRAMES,
                          height=SIZE, width=SIZE)
    weights = save_pipeline(pipe, root / "weights", preset="tiny")
    np.savez(root / "m.npz", joints=joints, intrinsics=nlf_intrinsics(SIZE, SIZE))
    Image.fromarray(clip.frames[0]).save(root / "ref.png")
    return root, weights


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` RGB pixels and holds none (signature, IHDR, IEND)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IEND", b""))


def _generate(root, weights, *extra: str):
    args = ["generate", "--motion", str(root / "m.npz"), "--ref-image", str(root / "ref.png"),
            "--weights", str(weights), "--steps", "1", "--quiet", *extra]
    return CliRunner().invoke(app, args)


def _one_line_error(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for word in words:
        assert word in result.output, (word, result.output)


@pytest.mark.parametrize("out, words", [("x.png", ("--out", ".mp4")), ("folder.mp4", ("--out", "is a folder")),
                                        ("afile/x.mp4", ("is a file",))])
def test_generate_refuses_an_output_it_cannot_write_before_any_work(tmp_path, inputs, out, words):
    root, weights = inputs
    (tmp_path / "folder.mp4").mkdir()
    (tmp_path / "afile").write_text("not a folder")
    before = sorted(p.name for p in tmp_path.iterdir())
    _one_line_error(_generate(root, weights, "--out", str(tmp_path / out)), *words)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("fps", ["0", "-5", "nan", "100000"])
def test_generate_refuses_a_frame_rate_that_is_not_one(tmp_path, inputs, fps):
    root, weights = inputs
    _one_line_error(_generate(root, weights, "--out", str(tmp_path / "v.mp4"), "--fps", fps), "--fps")
    assert not (tmp_path / "v.mp4").exists()


@pytest.mark.parametrize("device, words", [("banana", ("--device", "not a device")),
                                           ("cuda:7", ("--device", "cuda:7")),
                                           ("meta", ("--device", "only cpu and cuda"))])
def test_generate_refuses_a_device_that_is_not_here(tmp_path, inputs, device, words):
    import torch

    if device.startswith("cuda") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    root, weights = inputs
    _one_line_error(_generate(root, weights, "--out", str(tmp_path / "v.mp4"), "--device", device), *words)
    assert not (tmp_path / "v.mp4").exists()


def test_generate_refuses_zero_intrinsics_before_writing(tmp_path, inputs):
    root, weights = inputs
    np.savez(tmp_path / "zero.npz", joints=np.load(root / "m.npz")["joints"], intrinsics=np.zeros((3, 3)))
    result = CliRunner().invoke(app, ["generate", "--motion", str(tmp_path / "zero.npz"), "--ref-image",
                                      str(root / "ref.png"), "--weights", str(weights), "--out",
                                      str(tmp_path / "v.mp4"), "--panel", "--quiet"])
    _one_line_error(result, "zero.npz", "intrinsics")
    assert not (tmp_path / "v.mp4").exists()


def test_generate_refuses_a_decompression_bomb_png_from_its_header(tmp_path, inputs):
    """A PNG declaring 30000 x 30000 pixels: refused from its header, nothing decoded."""
    import resource

    root, weights = inputs
    (tmp_path / "bomb.png").write_bytes(_png_header(30000, 30000))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = CliRunner().invoke(app, ["generate", "--motion", str(root / "m.npz"), "--ref-image",
                                      str(tmp_path / "bomb.png"), "--weights", str(weights), "--out",
                                      str(tmp_path / "v.mp4"), "--quiet"])
    _one_line_error(result, "bomb.png")
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 300, f"peak memory grew by {grown_mb:.0f} MB"
    assert not (tmp_path / "v.mp4").exists()


@pytest.mark.parametrize("args, words", [
    (["synth", "--size", "65536"], ("--size 65536",)),
    (["synth", "--frames", "100000", "--size", "1024"], ("--frames 100000",)),
    (["synth", "--clips", "1000000000", "--size", "16"], ("--clips", "1000000000")),  # was a 23 GB job list
    (["synth", "--programme", "--size", "65536"], ("--size 65536",)),  # was an OOM kill at 19 GB
    (["synth", "--programme", "--jumps", "100000000", "--size", "16"], ("--jumps 100000000",)),
    (["synth", "--programme", "--fps", "0"], ("--fps",)),
    (["data", "build", "nothing.mp4", "--size", "100000"], ("--size",)),
    (["data", "build", "nothing.mp4", "--frames", "100000"], ("--frames",)),
    (["data", "import-fsjump3d", "nowhere", "--size", "65536"], ("--size 65536",)),
    (["data", "import-mtvcrafter", "nothing.pkl", "--size", "100000"], ("--size", "4096")),
    (["train", "--batch-size", "100000", "--data", "nowhere"], ("batch_size", "--batch-size")),
    (["motion", "sample", "--jump", "2A", "--count", "1000000000"], ("--count", "256")),  # was a hang
])
def test_sizes_are_bounded_before_anything_is_allocated(tmp_path, args, words):
    out = tmp_path / ("out.npz" if args[0] == "motion" else "out")
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    _one_line_error(result, *words)
    assert list(tmp_path.iterdir()) == []


def _growth_mb(setup: str, call: str) -> tuple[int, str, int]:
    """(exit code, the ValueError's message, growth of the peak RSS in MB while the statement
    ``call`` ran after ``setup``) in a fresh interpreter: imports are not counted."""
    import subprocess
    import sys

    rss = "__import__('resource').getrusage(__import__('resource').RUSAGE_SELF).ru_maxrss // 1024"
    refused = f"try:\n    {call}\nexcept ValueError as error:\n    print(error, file=sys.stderr)"
    script = f"{setup}\nimport sys\nbefore = {rss}\n{refused}\nprint({rss} - before, file=sys.stderr)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    lines = done.stderr.strip().splitlines()
    return done.returncode, lines[-2] if len(lines) > 1 else done.stderr, int(lines[-1])


@pytest.mark.parametrize("payload", [
    b"c__builtin__\nbytearray\n(I2000000000\ntR.",  # protocol 0: bytearray(2e9) via REDUCE, 39 bytes
    b"c__builtin__\nbytearray\n(J\x00\x945wtR.",  # the same with a binary int: 32 bytes
    b"c__builtin__\nbytes\n(I2000000000\ntR.",
    b"cnumpy\nndarray\n((I2000000000\nttR.",  # numpy.ndarray((2e9,))
    b"cnumpy.core.multiarray\n_reconstruct\n(cnumpy\nndarray\n(I2000000000\ntS'b'\ntR.",
])
def test_a_tiny_pickle_asking_for_gigabytes_is_refused_before_allocating(tmp_path, payload):
    (tmp_path / "bomb.pkl").write_bytes(payload)
    returncode, message, grown_mb = _growth_mb("from sportanim.data.upstream import load_upstream_pkl",
                                                f"load_upstream_pkl({str(tmp_path / 'bomb.pkl')!r})")
    assert returncode == 0 and "bomb.pkl" in message and "bytes" in message, message
    assert grown_mb < 300, f"peak RSS grew by {grown_mb} MB"


def test_real_pickles_still_load_within_the_budget(tmp_path):
    import pickle

    samples = [{"video_path": "v.mp4", "pose": np.zeros((49, 24, 3), np.float32), "video_length": 49,
                "video_height": 64, "video_width": 64}]
    from sportanim.data.upstream import load_upstream_pkl

    for protocol in (0, 2, 5):
        (tmp_path / "ok.pkl").write_bytes(pickle.dumps(samples, protocol=protocol))
        assert load_upstream_pkl(tmp_path / "ok.pkl")[0]["pose"].shape == (49, 24, 3)


@pytest.mark.parametrize("part", ["transformer/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors",
                                  "tokenizer/model.safetensors"])
def test_generate_with_a_truncated_weights_file_is_one_line(tmp_path, inputs, part):
    import shutil

    root, weights = inputs
    broken = tmp_path / "weights"
    shutil.copytree(weights, broken)
    data = (broken / part).read_bytes()
    (broken / part).write_bytes(data[: len(data) // 2])
    result = _generate(root, broken, "--out", str(tmp_path / "v.mp4"))
    _one_line_error(result, part.split("/")[0], "truncated or corrupt")
    assert not (tmp_path / "v.mp4").exists()


def test_trained_weights_without_their_stats_are_refused_not_rendered_black(tmp_path, inputs):
    import shutil

    root, weights = inputs
    bare = tmp_path / "weights"
    shutil.copytree(weights, bare)
    (bare / "stats.json").unlink()
    _one_line_error(_generate(root, bare, "--out", str(tmp_path / "v.mp4")), "stats.json", "--data")
    assert not (tmp_path / "v.mp4").exists()


@pytest.mark.parametrize("std, word", [(1e-30, "implausible"), (1e9, "implausible"),
                                       (float("nan"), "finite")])  # NaN was "got shape (24, 3)"
def test_implausible_statistics_are_refused_naming_the_file(tmp_path, inputs, std, word):
    import json
    import shutil

    root, weights = inputs
    odd = tmp_path / "weights"
    shutil.copytree(weights, odd)
    stats = json.loads((odd / "stats.json").read_text())
    stats["std"] = [[std] * 3 for _ in range(24)]
    (odd / "stats.json").write_text(json.dumps(stats))
    _one_line_error(_generate(root, odd, "--out", str(tmp_path / "v.mp4")), "stats.json", word)
    assert not (tmp_path / "v.mp4").exists()


def _synth(out, *extra):
    return CliRunner().invoke(app, ["synth", "--out", str(out), "--clips", "1", "--size", "16", "--frames", "9",
                                    "--workers", "1", "--quiet", *extra])


def test_a_second_writer_of_the_same_folder_is_refused_not_lost(tmp_path):
    import fcntl
    import os

    out = tmp_path / "out"
    fd = os.open(tmp_path / ".out.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a first `synth --overwrite` would hold it
        _one_line_error(_synth(out, "--overwrite"), "another process is writing", str(out))
        assert not out.exists()
    finally:
        os.close(fd)
    result = _synth(out, "--overwrite")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the lock file is gone too


def test_what_a_killed_writer_left_is_cleaned_by_the_next_run(tmp_path):
    out = tmp_path / "out"
    assert _synth(out).exit_code == 0
    before = sorted(p.name for p in out.iterdir())
    (tmp_path / ".out.tmp-deadbeef" / "clips").mkdir(parents=True)  # a kill -9 during a rerun
    (tmp_path / ".out.tmp-deadbeef" / "clips" / "x.mp4").write_bytes(b"half")
    result = _synth(out, "--overwrite")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert sorted(p.name for p in out.iterdir()) == before
    (tmp_path / ".out.old-cafe0000").mkdir()  # killed between moving the old folder aside and the rename
    (tmp_path / ".out.old-cafe0000" / "kept").write_text("previous result")
    out.rename(tmp_path / "gone")
    result = _synth(out, "--overwrite", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / ".out.old-cafe0000").exists()


@pytest.mark.parametrize("video_path", ["/etc/passwd", "../../../etc/passwd", "./link.mp4"])
def test_import_mtvcrafter_reads_videos_only_under_the_named_folder(tmp_path, video_path):
    import os
    import pickle

    (tmp_path / "pkl").mkdir()
    os.symlink("/etc/passwd", tmp_path / "pkl" / "link.mp4")
    sample = {"video_path": video_path, "pose": np.zeros((9, 24, 3), np.float32) + [0, 0, 2000],
              "video_length": 9, "video_height": 32, "video_width": 32}
    (tmp_path / "pkl" / "sampled_data.pkl").write_bytes(pickle.dumps([sample]))
    result = CliRunner().invoke(app, ["data", "import-mtvcrafter", str(tmp_path / "pkl" / "sampled_data.pkl"),
                                      "--out", str(tmp_path / "out"), "--quiet"])
    _one_line_error(result, "leads outside", "--videos")
    assert not (tmp_path / "out").exists()


@pytest.fixture()
def small_fsjd(tmp_path):
    from sportanim.synth.dataset import SynthConfig, synthesize

    out = tmp_path / "data"
    synthesize(SynthConfig(out=out, domain="daily", clips=2, size=16, frames=17, eval_fraction=0.0, workers=1),
               show_progress=False)
    return out


@pytest.mark.parametrize("command", [["data", "stats"], ["train", "--init", "scratch", "--steps", "1", "--out", "RUN", "--data"]])
def test_links_leading_out_of_a_dataset_are_refused_by_every_reader(tmp_path, small_fsjd, command):
    import os

    from sportanim import fsjd

    record = fsjd.read_manifest(small_fsjd)[0]
    outside = tmp_path / "elsewhere.npz"
    (small_fsjd / record.joints).rename(outside)
    os.symlink(outside, small_fsjd / record.joints)
    args = [str(tmp_path / "run") if a == "RUN" else a for a in command] + [str(small_fsjd)]
    _one_line_error(CliRunner().invoke(app, args), "leading outside", record.id)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", [["data", "stats"], ["train", "--init", "scratch", "--steps", "1", "--out", "RUN", "--data"]])
def test_a_manifest_row_that_disagrees_with_its_file_is_refused_by_every_reader(tmp_path, small_fsjd, command):
    from sportanim import fsjd

    records = fsjd.read_manifest(small_fsjd)
    records[0].frames = 200  # the npz holds 17
    fsjd.write_manifest(small_fsjd, records)
    args = [str(tmp_path / "run") if a == "RUN" else a for a in command] + [str(small_fsjd)]
    _one_line_error(CliRunner().invoke(app, args), records[0].id)


@pytest.mark.parametrize("key", ["height", "width"])
@pytest.mark.parametrize("value", [8192, 33, "64"])
def test_a_pipeline_json_asking_for_an_odd_video_size_is_refused_before_loading(tmp_path, inputs, key, value):
    import json
    import shutil

    root, weights = inputs
    odd = tmp_path / "weights"
    shutil.copytree(weights, odd)
    info = json.loads((odd / "pipeline.json").read_text())
    info[key] = value
    (odd / "pipeline.json").write_text(json.dumps(info))
    _one_line_error(_generate(root, odd, "--out", str(tmp_path / "v.mp4")), "pipeline.json", key)


def test_a_huge_tokenizer_override_is_refused_before_allocating(tmp_path, small_fsjd):
    setup = "from sportanim.train import load_config, train"
    call = ("train(load_config('tiny', {'tokenizer.overrides': {'codebook_size': 10**9}, 'steps': 1}), "
            f"{str(small_fsjd)!r}, {str(tmp_path / 'run')!r}, show_progress=False)")
    returncode, message, grown_mb = _growth_mb(setup, call)
    assert returncode == 0 and "codebook_size=1000000000" in message, message
    assert grown_mb < 300, f"peak RSS grew by {grown_mb} MB (imports included)"


def test_a_refused_upstream_checkpoint_is_one_line_without_unsafe_advice(tmp_path):
    import os
    import pickle

    from sportanim.models.tokenizer import TOKENIZER_PRESETS, MotionTokenizer

    (tmp_path / "mp_rank_00_model_states.pt").write_bytes(pickle.dumps(os.system))
    with pytest.raises(ValueError) as error:
        MotionTokenizer(TOKENIZER_PRESETS["tiny"]).load_mtvcrafter_checkpoint(tmp_path / "mp_rank_00_model_states.pt")
    assert "\n" not in str(error.value) and "weights_only=False" not in str(error.value)
    assert "mp_rank_00_model_states.pt" in str(error.value)


def test_a_text_file_named_npz_is_called_what_it_is(tmp_path, inputs):
    root, weights = inputs
    (tmp_path / "notes.npz").write_text("joints: none, this is text\n")
    result = CliRunner().invoke(app, ["generate", "--motion", str(tmp_path / "notes.npz"), "--ref-image",
                                      str(root / "ref.png"), "--weights", str(weights), "--out", str(tmp_path / "v.mp4")])
    _one_line_error(result, "notes.npz", "not a zip archive")
    assert "pickled" not in result.output


def test_an_unknown_split_is_called_unknown(tmp_path, small_fsjd):
    result = CliRunner().invoke(app, ["evaluate", "--real", str(small_fsjd), "--generated", str(small_fsjd),
                                      "--split", "test", "--metrics", "mpjpe", "--quiet"])
    _one_line_error(result, "--split", "'test'", "unknown split", "train, eval")


@pytest.mark.parametrize("part, field, value, words", [
    ("transformer", "num_layers", 100_000, ("transformer/config.json", "num_layers 100000")),
    ("vae", "block_out_channels", [100_000] * 4, ("vae/config.json", "block_out_channels")),
    ("tokenizer", "codebook_size", 10**9, ("tokenizer/config.json", "codebook_size=1000000000")),
])
def test_a_config_describing_a_huge_model_is_refused_before_building_it(tmp_path, inputs, part, field, value, words):
    """Built even on the meta device, 100,000 DiT layers take minutes: the numbers are checked first."""
    import json
    import shutil

    root, weights = inputs
    folder = tmp_path / "weights"
    shutil.copytree(weights, folder)
    config = json.loads((folder / part / "config.json").read_text())
    config[field] = value
    (folder / part / "config.json").write_text(json.dumps(config))
    result = _generate(root, folder, "--out", str(tmp_path / "v.mp4"))
    _one_line_error(result, *words)
    assert not (tmp_path / "v.mp4").exists()


@pytest.mark.parametrize("guidance", ["nan", "inf", "-1"])
def test_motion_sample_refuses_a_guidance_that_is_not_a_number(tmp_path, guidance):
    """NaN guidance made NaN probabilities: a torch traceback deep in the sampler."""
    result = CliRunner().invoke(app, ["motion", "sample", "--jump", "2A", "--guidance", guidance,
                                      "--out", str(tmp_path / "m.npz")])
    _one_line_error(result, "--guidance")
    assert list(tmp_path.iterdir()) == []


def _edited_copy(source, folder, config=None, weights=None):
    """``source`` (config.json + model.safetensors) copied to ``folder`` with the config's
    fields changed (``config``: a dict, or text for the whole file) or the weights cut short."""
    import json
    import shutil

    folder.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        shutil.copy(source / name, folder / name)
    if isinstance(config, dict):
        (folder / "config.json").write_text(json.dumps({**json.loads((source / "config.json").read_text()), **config}))
    elif config is not None:
        (folder / "config.json").write_text(config)
    if weights == "truncated":
        data = (folder / "model.safetensors").read_bytes()
        (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    return folder


@pytest.mark.parametrize("config, weights, words", [
    ({"width": 400_000}, None, ("config.json", "values, above")),  # was a 1.9 TB allocation traceback
    ({"depth": 10**8}, None, ("config.json", "depth must be in")),  # built layer by layer, even on meta
    ({"heads": 3}, None, ("config.json", "describes no model")),
    ({"width": "wide"}, None, ("config.json", "describes no model")),
    ({"width": 256}, None, ("model.safetensors", "the model of its config has")),
    ("{not json", None, ("config.json", "not valid JSON")),  # was JSON's message without the file
    (None, "truncated", ("model.safetensors", "truncated or corrupt")),  # was a SafetensorError traceback
])
def test_a_hostile_jump_generator_folder_is_one_line_before_allocating(tmp_path, config, weights, words):
    from sportanim.motion.sampling import SHIPPED

    folder = _edited_copy(SHIPPED, tmp_path / "gen", config, weights)
    result = CliRunner().invoke(app, ["motion", "sample", "--jump", "2A", "--weights", str(folder),
                                      "--out", str(tmp_path / "m.npz")])
    _one_line_error(result, *words)
    assert not (tmp_path / "m.npz").exists()


def test_a_jump_generator_config_asking_for_terabytes_is_refused_within_the_budget(tmp_path):
    from sportanim.motion.sampling import SHIPPED

    folder = _edited_copy(SHIPPED, tmp_path / "gen", {"width": 400_000})
    returncode, message, grown_mb = _growth_mb("from sportanim.motion.generator import JumpGenerator",
                                                f"JumpGenerator.from_pretrained({str(folder)!r})")
    assert returncode == 0 and "config.json" in message, message
    assert grown_mb < 300, f"peak RSS grew by {grown_mb} MB"


@pytest.mark.parametrize("loader", ["classifier", "keypoints"])
@pytest.mark.parametrize("config, weights, words", [
    ({"width": 10**6}, None, ("config.json", "values, above")),
    ("[1, 2]", None, ("config.json", "expected a JSON object")),
    (None, "truncated", ("model.safetensors", "truncated or corrupt")),
])
def test_the_other_small_models_load_through_the_same_checks(tmp_path, loader, config, weights, words):
    from sportanim.eval.keypoints import SHIPPED as KEYPOINTS, KeypointNet
    from sportanim.motion.classify import SHIPPED as CLASSIFIER, JumpClassifier

    cls, source = {"classifier": (JumpClassifier, CLASSIFIER), "keypoints": (KeypointNet, KEYPOINTS)}[loader]
    if loader == "keypoints" and isinstance(config, dict):
        config = {"widths": [10**5, 10**5, 10**5]}
    folder = _edited_copy(source, tmp_path / loader, config, weights)
    with pytest.raises(ValueError) as error:
        cls.from_pretrained(folder)
    assert "\n" not in str(error.value) and all(word in str(error.value) for word in words), str(error.value)


@pytest.mark.parametrize("part, change, words", [
    ("transformer/config.json", {"num_layers": "four"}, "describes no MVDiT"),  # were torch/diffusers tracebacks
    ("transformer/config.json", {"num_attention_heads": -4}, "describes no MVDiT"),
    ("vae/config.json", {"latent_channels": None}, "describes no AutoencoderKLCogVideoX"),
    ("vae/config.json", [1, 2], "expected a JSON object"),
    ("scheduler/scheduler_config.json", {"num_train_timesteps": 10**12}, "num_train_timesteps"),
    ("scheduler/scheduler_config.json", {"beta_schedule": "nope"}, "not a scheduler config"),
    ("scheduler/scheduler_config.json", {"beta_end": "x"}, "not a scheduler config"),
])
def test_a_weights_config_of_the_wrong_kind_is_one_line_naming_it_before_loading(tmp_path, inputs, part, change,
                                                                                  words):
    import json
    import shutil

    root, weights = inputs
    folder = tmp_path / "weights"
    shutil.copytree(weights, folder)
    config = json.loads((folder / part).read_text())
    (folder / part).write_text(json.dumps({**config, **change} if isinstance(change, dict) else change))
    _one_line_error(_generate(root, folder, "--out", str(tmp_path / "v.mp4")), part, words)
    assert not (tmp_path / "v.mp4").exists()


def _train(data, run, *extra: str):
    return CliRunner().invoke(app, ["train", "--data", str(data), "--out", str(run), "--init", "scratch",
                                    "--batch-size", "2", "--set", "data.frames=17", "--quiet", *extra])


@pytest.mark.parametrize("strategy", ["tokenizer", "diffusion"])
def test_the_nan_guard_stops_a_run_of_lr_1e12_in_one_line_and_exports_nothing(tmp_path, small_fsjd, inputs, strategy):
    root, weights = inputs
    init = [] if strategy == "tokenizer" else ["--strategy", "diffusion", "--init", str(weights)]
    args = ["train", "--data", str(small_fsjd), "--out", str(tmp_path / "run"), "--batch-size", "2", "--set",
            "data.frames=17", "--quiet", "--steps", "8", "--lr", "1e12", *(init or ["--init", "scratch"])]
    result = CliRunner().invoke(app, args)
    _one_line_error(result, "step ", "nothing was exported", "--lr: 1e+12")
    assert " is nan" in result.output or " is inf" in result.output, result.output
    assert not (tmp_path / "run" / "final").exists()
    assert not list((tmp_path / "run").glob("checkpoints/step-*"))


def test_a_dataset_whose_std_is_1e_30_is_refused_naming_its_stats_json(tmp_path, small_fsjd):
    import json

    stats = json.loads((small_fsjd / "stats.json").read_text())
    stats["std"] = [[1e-30] * 3 for _ in range(24)]
    (small_fsjd / "stats.json").write_text(json.dumps(stats))
    _one_line_error(_train(small_fsjd, tmp_path / "run", "--steps", "2"), str(small_fsjd / "stats.json"),
                    "implausible")
    assert not (tmp_path / "run").exists()


@pytest.fixture()
def stopped_run(tmp_path, small_fsjd):
    """A run of 2 steps, checkpoints at both, to resume to 3."""
    assert _train(small_fsjd, tmp_path / "run", "--steps", "2", "--checkpoint-every", "1").exit_code == 0
    return small_fsjd, tmp_path / "run"


@pytest.mark.parametrize("name, content, words", [
    ("scheduler.bin", b"junk\n", ("cannot resume", "step-000002")),  # was a KeyError traceback from torch.load
    ("scheduler.bin", "refused", ("cannot resume", "weights-only")),
    ("trainer_state.json", b"{bad", ("trainer_state.json", "not valid JSON")),  # was JSON's text alone
    ("trainer_state.json", b"{}", ("trainer_state.json", "not a checkpoint")),
])
def test_resume_from_a_damaged_checkpoint_is_one_line_and_keeps_it(stopped_run, name, content, words):
    import os
    import pickle

    data, run = stopped_run
    target = run / "checkpoints" / "step-000002" / name
    target.write_bytes(pickle.dumps(os.system) if content == "refused" else content)
    before = sorted(p.name for p in (run / "checkpoints").iterdir())
    result = _train(data, run, "--steps", "3", "--checkpoint-every", "1", "--resume")
    _one_line_error(result, *words)
    assert "weights_only=False" not in result.output
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == before


def test_a_run_folder_whose_config_json_is_damaged_is_named(stopped_run):
    data, run = stopped_run
    (run / "config.json").write_text("{bad")
    _one_line_error(_train(data, run, "--steps", "3", "--resume"), str(run / "config.json"), "not valid JSON")


@pytest.mark.parametrize("part", ["tokenizer", "transformer"])
def test_train_init_from_truncated_safetensors_is_one_line_naming_the_file(tmp_path, inputs, small_fsjd, part):
    import shutil

    root, weights = inputs
    broken = tmp_path / "weights"
    shutil.copytree(weights, broken)
    file = next((broken / part).glob("*.safetensors"))
    file.write_bytes(file.read_bytes()[:1000])
    init = ["--init", str(broken / "tokenizer")] if part == "tokenizer" else ["--strategy", "diffusion", "--init",
                                                                               str(broken)]
    result = CliRunner().invoke(app, ["train", "--data", str(small_fsjd), "--out", str(tmp_path / "run"), "--steps",
                                      "1", "--batch-size", "2", "--set", "data.frames=17", "--quiet", *init])
    _one_line_error(result, str(file), "safetensors")
    assert not (tmp_path / "run").exists()


def _mtvcrafter_pkl(folder):
    """A one-sample sampled_data.pkl beside its 9-frame 32 px video."""
    import pickle

    from sportanim.io.video import write_video

    folder.mkdir(parents=True, exist_ok=True)
    write_video(folder / "v.mp4", np.zeros((9, 32, 32, 3), np.uint8), 30.0)
    sample = {"video_path": "./v.mp4", "pose": np.zeros((9, 24, 3), np.float32) + [0, 0, 2000],
              "video_length": 9, "video_height": 32, "video_width": 32}
    (folder / "sampled_data.pkl").write_bytes(pickle.dumps([sample]))
    return folder / "sampled_data.pkl"


def test_import_mtvcrafter_cleans_what_a_killed_import_left_and_refuses_a_second_writer(tmp_path):
    import fcntl
    import os

    pkl = _mtvcrafter_pkl(tmp_path / "pkl")
    out = tmp_path / "out"
    args = ["data", "import-mtvcrafter", str(pkl), "--out", str(out), "--quiet"]
    (tmp_path / ".out.tmp-deadbeef" / "clips").mkdir(parents=True)  # a kill -9 during an import
    assert CliRunner().invoke(app, args).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "pkl"]
    fd = os.open(tmp_path / ".out.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running import would hold it
        before = sorted(p.name for p in out.iterdir())
        _one_line_error(CliRunner().invoke(app, [*args, "--overwrite"]), "another process is writing", str(out))
        assert sorted(p.name for p in out.iterdir()) == before
    finally:
        os.close(fd)


def test_a_35_byte_pickle_bomb_is_one_line_through_the_cli(tmp_path):
    (tmp_path / "bomb.pkl").write_bytes(b"c__builtin__\nbytearray\n(I2000000000\ntR.")
    result = CliRunner().invoke(app, ["data", "import-mtvcrafter", str(tmp_path / "bomb.pkl"), "--out",
                                      str(tmp_path / "out"), "--quiet"])
    _one_line_error(result, "bomb.pkl", "2,000,000,000 bytes")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.pkl"]


def test_a_pickle_too_big_for_this_machine_is_not_called_corrupt(tmp_path, monkeypatch):
    from sportanim.data import upstream

    def out_of_memory(self):
        raise MemoryError

    monkeypatch.setattr(upstream.RestrictedUnpickler, "load", out_of_memory)
    (tmp_path / "big.pkl").write_bytes(b"N.")
    with pytest.raises(ValueError, match="big.pkl: the pickle needs more memory") as error:
        upstream.load_upstream_pkl(tmp_path / "big.pkl")
    assert "re-download" not in str(error.value)


def test_an_object_npy_motion_is_one_line_naming_it(tmp_path, inputs):
    root, weights = inputs
    np.save(tmp_path / "obj.npy", np.array([{"joints": 1}], dtype=object), allow_pickle=True)
    result = CliRunner().invoke(app, ["generate", "--motion", str(tmp_path / "obj.npy"), "--ref-image",
                                      str(root / "ref.png"), "--weights", str(weights), "--out",
                                      str(tmp_path / "v.mp4")])
    _one_line_error(result, "obj.npy")
    assert not (tmp_path / "v.mp4").exists()


def test_evaluate_names_the_clip_whose_joints_are_nan(tmp_path, small_fsjd):
    import shutil

    from sportanim import fsjd

    generated = tmp_path / "generated"
    shutil.copytree(small_fsjd, generated)
    record = fsjd.read_manifest(generated)[0]
    arrays = dict(np.load(generated / record.joints))
    arrays["joints"][3] = np.nan
    np.savez(generated / record.joints, **arrays)
    result = CliRunner().invoke(app, ["evaluate", "--real", str(small_fsjd), "--generated", str(generated),
                                      "--metrics", "mpjpe", "--out", str(tmp_path / "e.json"), "--quiet"])
    _one_line_error(result, record.id, "NaN")
    assert not (tmp_path / "e.json").exists()


@pytest.mark.parametrize("device, words", [("banana", ("--device", "not a device")), ("cuda:7", ("--device", "cuda:7"))])
def test_data_build_refuses_a_device_that_is_not_here_before_any_work(tmp_path, small_fsjd, device, words):
    """Was torch's traceback, once the videos were opened (the same check as generate's)."""
    import torch

    if device.startswith("cuda") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    (tmp_path / "nlf.torchscript").write_bytes(b"not loaded")
    video = next((small_fsjd / "clips").glob("*.mp4"))
    result = CliRunner().invoke(app, ["data", "build", str(video), "--pose-backend", "nlf", "--nlf-model",
                                      str(tmp_path / "nlf.torchscript"), "--device", device, "--out",
                                      str(tmp_path / "out"), "--quiet"])
    _one_line_error(result, *words)
    assert not (tmp_path / "out").exists()
