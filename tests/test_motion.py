"""sportanim.motion: ISU element codes, the jump generator over 4DMoT codes, the jump
classifier and the ``sportanim motion`` commands (tiny seeded models, seconds each)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from sportanim.motion import elements, frames
from sportanim.motion.clips import load_jump_clips
from sportanim.synth.dataset import SynthConfig, synthesize
from sportanim.synth.world import make_clip


@pytest.fixture(scope="module")
def jump_dir(tmp_path_factory):
    """Twelve synthetic jump clips (two of each type), 16 px video."""
    out = tmp_path_factory.mktemp("jumps") / "fsjd"
    synthesize(SynthConfig(out=out, domain="jump", clips=12, size=16, seed=5, eval_fraction=0.0, workers=1),
               show_progress=False)
    return out


@pytest.fixture(scope="module")
def tiny_generator(jump_dir, tmp_path_factory):
    from sportanim.motion.generator import GeneratorConfig
    from sportanim.motion.training import train_motion_generator

    out = tmp_path_factory.mktemp("gen") / "gen"
    cfg = GeneratorConfig(width=32, depth=1, heads=4, token_width=8)
    record = train_motion_generator([jump_dir], out, steps=3, batch_size=4, config=cfg, show_progress=False)
    return out, record


# ------------------------------------------------------------------------------ elements


@pytest.mark.parametrize("code, jump_type, revs", [
    ("3Lz", "lutz", 3.0), ("2A", "axel", 2.5), ("4T", "toe_loop", 4.0), ("3F", "flip", 3.0),
    ("3Lo", "loop", 3.0), ("3S", "salchow", 3.0), ("1a", "axel", 1.5)])
def test_codes_parse_and_round_trip(code, jump_type, revs):
    e = elements.parse_code(code)
    assert (e.type, e.revolutions) == (jump_type, revs)
    assert elements.parse_code(e.code) == e
    assert elements.resolve(jump_type=jump_type, revolutions=revs) == e


def test_type_and_revs_form_and_alias():
    assert elements.resolve(jump_type="toeloop", revolutions=2) == elements.Element("toe_loop", 2.0)
    assert elements.resolve(("lutz", 3)) == elements.parse_code("3Lz")


@pytest.mark.parametrize("call, words", [
    (lambda: elements.parse_code("3X"), "unknown jump code"),
    (lambda: elements.parse_code("5A"), "cannot have 5.5"),
    (lambda: elements.element("lutz", 0.5), "cannot have 0.5"),
    (lambda: elements.element("spin", 2), "unknown jump type"),
    (lambda: elements.check_height(1.1), "outside 1.2-2.1"),
    (lambda: elements.check_height(2.2), "outside 1.2-2.1"),
    (lambda: elements.check_direction("left"), "ccw or cw"),
    (lambda: elements.resolve("3Lz", jump_type="lutz", revolutions=3), "not both"),
    (lambda: elements.resolve(None), "name the jump"),
])
def test_refusals_are_one_clear_value_error(call, words):
    with pytest.raises(ValueError, match=words) as info:
        call()
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------------------ frames


def test_canonical_camera_inverts_exactly_and_mirror_turns_the_other_way():
    from sportanim.motion.rules import read_flight

    clip = make_clip(0, 5, "lutz", (16, 16))
    world = frames.canonical_world(frames.world_from_clip(clip.joints, clip.camera.extrinsics_mm()))
    assert np.abs(world[0, 0, :2]).max() < 1e-9
    back = frames.canonical_to_world(frames.world_to_canonical(world))
    assert np.abs(back - world).max() < 1e-5  # metres; the camera file is float32 mm
    ccw, cw = read_flight(world, 30.0), read_flight(frames.mirror(world), 30.0)
    assert ccw.revolutions == pytest.approx(clip.labels["revolutions"], abs=0.25)
    assert cw.revolutions == pytest.approx(-ccw.revolutions, abs=1e-6)


def test_jump_clips_come_in_both_directions(jump_dir):
    clips = load_jump_clips([jump_dir])
    assert len(clips) == 24
    assert {c.direction for c in clips[0::2]} == {"ccw"} and {c.direction for c in clips[1::2]} == {"cw"}
    assert all(1.4 < c.height < 2.0 for c in clips)


# ------------------------------------------------------------------------------ generator


def test_tiny_generator_trains_and_samples_valid_motions(tiny_generator, tmp_path):
    from sportanim.data.motion import load_motion
    from sportanim.motion.sampling import sample_jump

    out, record = tiny_generator
    assert record["steps"] == 3 and record["clips"] == 24 and len(record["sha256"]["model.safetensors"]) == 64
    motions = sample_jump("3Lz", direction="cw", height=1.62, count=2, seed=1, weights=out, steps=2, size=64)
    assert len(motions) == 2
    for m in motions:
        assert m.joints.shape == (49, 24, 3) and m.joints.dtype == np.float32 and np.isfinite(m.joints).all()
        assert m.intrinsics.shape == (3, 3) and m.size == (64, 64) and m.extrinsics.shape == (49, 3, 4)
        assert np.allclose(frames.world_from_clip(m.joints, m.extrinsics), m.world, atol=1e-3)
    path = motions[0].save(tmp_path / "m.npz")
    loaded = load_motion(path)
    assert loaded.joints.shape == (49, 24, 3) and loaded.image_size == (64, 64)
    again = sample_jump("3Lz", direction="cw", height=1.62, count=2, seed=1, weights=out, steps=2, size=64)
    assert np.array_equal(again[1].joints, motions[1].joints)  # seeded


def test_jump_tokenizer_trains_in_the_canonical_camera_and_the_generator_carries_it(jump_dir, tmp_path):
    import shutil

    from sportanim import fsjd
    from sportanim.motion.generator import GeneratorConfig
    from sportanim.motion.sampling import load_generator, sample_jump
    from sportanim.motion.tokenizer_training import train_jump_tokenizer
    from sportanim.motion.tokens import FrozenTokenizer
    from sportanim.motion.training import train_motion_generator

    record = train_jump_tokenizer([jump_dir], tmp_path / "tok", steps=2, show_progress=False, command="test")
    assert record["clips"] == 24 and record["frames"] == 49 and record["steps"] == 2
    canonical = fsjd.read_manifest(tmp_path / "tok" / "canonical")
    assert len(canonical) == 24 and {r.source["camera"] for r in canonical} == {"canonical"}
    clips = load_jump_clips([jump_dir])
    stored = np.load(tmp_path / "tok" / "canonical" / canonical[0].joints)["joints"]
    np.testing.assert_allclose(stored, frames.world_to_canonical(clips[0].world), atol=1e-3)  # what the generator sees
    tok = FrozenTokenizer(tmp_path / "tok" / "tokenizer")
    assert tok.encode(stored[None]).shape == (1, tok.token_frames(49) * 24)
    with pytest.raises(FileExistsError, match="--resume"):
        train_jump_tokenizer([jump_dir], tmp_path / "tok", steps=2, show_progress=False)
    # the generator keeps its own copy of that tokenizer: the folder moves as one
    cfg = GeneratorConfig(width=32, depth=1, heads=4, token_width=8)
    train_motion_generator([jump_dir], tmp_path / "gen", steps=2, batch_size=4, config=cfg,
                           tokenizer=tmp_path / "tok" / "tokenizer", show_progress=False)
    shutil.rmtree(tmp_path / "tok")
    shutil.move(tmp_path / "gen", tmp_path / "moved")
    model, loaded = load_generator(tmp_path / "moved")
    assert loaded.sha256 == tok.sha256
    assert sample_jump("2A", count=1, seed=0, weights=tmp_path / "moved", steps=2, size=64)[0].joints.shape == (49, 24, 3)


def test_balanced_sampling_draws_each_element_equally_often():
    from sportanim.motion.training import element_weights

    clips = _tiny_clips()[:3] + [replace(_tiny_clips()[0], type="lutz", revolutions=3.0)]
    w = element_weights(clips)
    assert w[:3].sum() == pytest.approx(w[3])  # three 2A against one 3Lz: the same total weight


def test_guidance_scale_one_is_the_conditional_model():
    from sportanim.motion.generator import GeneratorConfig, JumpCondition, JumpGenerator

    torch.manual_seed(0)
    model = JumpGenerator(GeneratorConfig(codebook_size=16, token_frames=3, width=16, depth=1, heads=2,
                                          token_width=4)).eval()
    ids = torch.randint(0, 17, (3, model.config.num_tokens))
    cond = JumpCondition.make("flip", 2.0, "ccw", 1.7, 3)
    with torch.no_grad():
        conditional = model(ids, cond)
        assert torch.allclose(model.guided_logits(ids, cond, 1.0), conditional, atol=1e-5)
        assert not torch.allclose(model.guided_logits(ids, cond, 3.0), conditional, atol=1e-3)


# ------------------------------------------------------------------------------ classifier


def test_classifier_learns_synthetic_clips(jump_dir):
    from sportanim.motion.classify import evaluate_classifier, fit_classifier, predict

    clips = load_jump_clips([jump_dir])
    model = fit_classifier(clips, steps=150, batch_size=24)
    metrics = evaluate_classifier(model, clips)  # seen clips: a check that it learns at all
    assert metrics["type_accuracy"] >= 0.8 and metrics["direction_accuracy"] >= 0.9
    assert metrics["rule_revolutions_within_0.25"] == 1.0  # synthetic flights turn exactly their count
    reading = predict(model, [clips[0].world])[0]
    assert 0.0 < reading.type_confidence <= 1.0 and 0 <= reading.takeoff_frame < 49


# ------------------------------------------------------------------------------ CLI


@pytest.mark.parametrize("args, words", [
    (["sample", "--jump", "3X", "--out", "{tmp}/m.npz"], "unknown jump code"),
    (["sample", "--type", "axel", "--revs", "5", "--out", "{tmp}/m.npz"], "cannot have 5"),
    (["sample", "--jump", "3Lz", "--height", "2.5", "--out", "{tmp}/m.npz"], "outside 1.2-2.1"),
    (["sample", "--jump", "3Lz", "--out", "{tmp}/no/such/m.npz"], "does not exist"),
    (["classify", "{tmp}/nothing.npz"], "no such motion"),
    (["train", "--data", "{tmp}", "--out", "{tmp}/run", "--model", "vae"], "generator, classifier or tokenizer"),
])
def test_cli_bad_input_is_one_line_and_writes_nothing(tmp_path, args, words):
    from typer.testing import CliRunner

    from sportanim.cli import app

    result = CliRunner().invoke(app, ["motion", *[a.format(tmp=tmp_path) for a in args]])
    assert result.exit_code == 2, result.output
    assert words in result.output and len(result.output.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_cli_sample_then_classify(tiny_generator, tmp_path):
    import json

    from typer.testing import CliRunner

    from sportanim.cli import app
    from sportanim.motion.classify import fit_classifier

    out, _ = tiny_generator
    result = CliRunner().invoke(app, ["motion", "sample", "--type", "lutz", "--revs", "3", "--count", "2",
                                      "--weights", str(out), "--size", "64", "--out", str(tmp_path / "m.npz")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m_0.npz", "m_1.npz"]
    raw = tmp_path.parent / "raw.npz"
    result = CliRunner().invoke(app, ["motion", "sample", "--jump", "3Lz", "--as-sampled", "--weights", str(out),
                                      "--size", "64", "--out", str(raw)])
    assert result.exit_code == 0 and float(np.load(raw)["air_time_sampled"]) == -1.0  # never flown again
    clf = tmp_path.parent / "clf"
    model = fit_classifier(_tiny_clips(), steps=2, batch_size=4)
    clf.mkdir(exist_ok=True)
    model.save_pretrained(clf)
    result = CliRunner().invoke(app, ["motion", "classify", str(tmp_path), "--weights", str(clf)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.strip().splitlines()]
    assert [line["motion"] for line in lines] == ["m_0.npz", "m_1.npz"]
    assert all(line["element"] and 0 < line["type_confidence"] <= 1 for line in lines)


def _tiny_clips():
    from sportanim.motion.clips import JumpClip

    clip = make_clip(0, 0, "axel", (16, 16))
    world = frames.canonical_world(frames.world_from_clip(clip.joints, clip.camera.extrinsics_mm()))
    return [JumpClip("c", world, "axel", 2.5, "ccw", 1.7, 17, 34, "a00", "synthetic")] * 4


def test_shipped_generator_and_classifier_load_and_run():
    from sportanim.motion.classify import SHIPPED as CLASSIFIER, classify_joints
    from sportanim.motion.sampling import SHIPPED, sample_jump

    if not (SHIPPED / "model.safetensors").is_file() or not (CLASSIFIER / "model.safetensors").is_file():
        pytest.skip("no shipped motion weights")
    motion = sample_jump("2A", count=1, seed=0, steps=2)[0]
    assert motion.joints.shape == (49, 24, 3) and motion.element.code == "2A"
    reading = classify_joints(motion.joints, motion.extrinsics)
    assert reading.element.type in ("axel", "toe_loop", "salchow", "loop", "flip", "lutz")


# ------------------------------------------------------------------------ flight physics


def _quad_world(fps: float = 30.0) -> np.ndarray:
    """World joints (T, 24, 3) metres of a synthetic quad toe loop between glides."""
    from sportanim.synth.jumps import glide_track, jump_track, plan_jump
    from sportanim.synth.kinematics import Body
    from sportanim.synth.timeline import concat, perform, smooth_params

    rng = np.random.default_rng(4)
    plan = plan_jump(rng, "toe_loop", fps, revolutions=4.0)
    track = jump_track(plan, fps)
    yaw = track.yaw_offset
    track = concat([glide_track(rng, fps, 0.4, plan.speed, yaw[0], yaw[0]), track,
                    glide_track(rng, fps, 0.4, plan.speed, yaw[-1], yaw[-1])])
    return perform(smooth_params(track, 1.2), Body.sample(rng)).joints


def test_real_air_time_range_holds_the_real_and_refuses_the_impossible():
    from sportanim.motion.rules import air_time_is_real, real_air_time_range, real_airborne_frames

    assert real_air_time_range(4.0) == pytest.approx((0.65, 0.75))
    assert real_air_time_range(-2.0) == real_air_time_range(2.0)  # clockwise jumps alike
    assert air_time_is_real(0.40, 1.0, 30.0) and air_time_is_real(0.63, 2.0, 30.0)  # FS-Jump3D
    assert air_time_is_real(0.767, 4.0, 30.0)  # a frame over, as a frame count can be
    assert not air_time_is_real(0.80, 4.0, 30.0)  # a 0.78 m rise: no skater
    assert not air_time_is_real(0.55, 4.0, 30.0)  # 7.3 rev/s: no skater either
    for revs in (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0):  # the frame counts the physics guard aims at
        lo, hi = real_airborne_frames(revs, 30.0)
        assert [n for n in range(60) if air_time_is_real(n / 30.0, revs, 30.0)] == list(range(lo, hi + 1))


def test_physics_guard_flies_again_only_impossible_flights_and_keeps_their_turns():
    from sportanim.motion.edits import scale_flight
    from sportanim.motion.rules import G_RANGE, air_time_is_real, read_flight
    from sportanim.motion.sampling import keep_flight_real

    world = _quad_world()
    before = read_flight(world, 30.0)
    assert air_time_is_real(before.air_time_s, before.revolutions, 30.0)
    same, was = keep_flight_real(world, 30.0)
    assert same is world and was is None
    # The same quad flown 30% longer and spun slower (the same turns): 0.9 s is no real flight.
    long = scale_flight(world * 1000.0, 30.0, air_time_factor=1.3, rotation_speed_factor=1 / 1.3,
                        takeoff=before.takeoff_frame + 1, landing=before.landing_frame - 1,
                        up=(0.0, 0.0, 1.0)).joints / 1000.0
    too_long = read_flight(long, 30.0)
    assert not air_time_is_real(too_long.air_time_s, too_long.revolutions, 30.0)
    fixed, was = keep_flight_real(long, 30.0)
    after = read_flight(fixed, 30.0)
    assert was == too_long and fixed.shape == long.shape
    assert air_time_is_real(after.air_time_s, after.revolutions, 30.0)
    assert abs(after.revolutions - too_long.revolutions) < 0.15 and 9.0 < after.g_pelvis < 10.5
    assert np.allclose(fixed[:before.takeoff_frame + 1], long[:before.takeoff_frame + 1])  # the run-up as it was
    # A flight of a real length whose body floats (half the rise: g ~5): flown again as long.
    floating = world.copy()
    air = slice(before.takeoff_frame + 1, before.landing_frame)
    base = np.linspace(world[before.takeoff_frame, 0, 2], world[before.landing_frame, 0, 2], air.stop - air.start + 2)[1:-1]
    rise = world[air, 0, 2] - base
    floating[air, :, 2] -= 0.5 * rise[:, None]
    soft = read_flight(floating, 30.0)
    assert soft.g_pelvis < G_RANGE[0]
    fixed, was = keep_flight_real(floating, 30.0)
    after = read_flight(fixed, 30.0)
    assert was == soft and G_RANGE[0] <= after.g_pelvis <= G_RANGE[1]
    assert abs(after.air_time_s - soft.air_time_s) <= 1 / 30.0 + 1e-9


def test_physics_guard_leaves_a_flight_it_cannot_fly_again(monkeypatch):
    from sportanim.motion import sampling
    from sportanim.motion.edits import scale_flight

    world = _quad_world()
    before = sampling.read_flight(world, 30.0)
    long = scale_flight(world * 1000.0, 30.0, air_time_factor=1.3, rotation_speed_factor=1 / 1.3,
                        takeoff=before.takeoff_frame + 1, landing=before.landing_frame - 1,
                        up=(0.0, 0.0, 1.0)).joints / 1000.0

    def refuse(*args, **kwargs):
        raise ValueError("takeoff 0: need 1 <= takeoff")

    monkeypatch.setattr(sampling, "scale_flight", refuse)
    out, was = sampling.keep_flight_real(long, 30.0)
    assert out is long and was is None  # left as sampled; the benchmark still sees it is not real
