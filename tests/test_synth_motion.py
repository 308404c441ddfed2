"""Physics and labels of the synthetic skaters (no rendering)."""

import numpy as np
import pytest

from sportanim.analysis import count_revolutions, fit_gravity
from sportanim.skeleton import JOINT_INDEX as J
from sportanim.skeleton import bone_lengths
from sportanim.synth.daily import DAILY_MOTIONS
from sportanim.synth.jumps import AIR_TIME_RANGE, JUMP_TYPES, PEAK_SPIN_RANGE, jump_track, plan_jump, spin_profile
from sportanim.synth.kinematics import Body
from sportanim.synth.timeline import ANKLE_ON_ICE, GRAVITY, lowest_skate, perform, smooth_params

FPS = 30.0


def _jump(name, revs, seed=0):
    rng = np.random.default_rng(seed)
    body = Body.sample(rng)
    plan = plan_jump(rng, name, FPS, revs)
    return plan, perform(smooth_params(jump_track(plan, FPS), 1.2), body, start_heading=0.7)


ALL_JUMPS = [(n, r) for n, j in JUMP_TYPES.items() for r in j.revolutions]


@pytest.mark.parametrize("name,revs", ALL_JUMPS)
def test_bone_lengths_constant_in_jumps(name, revs):
    _, perf = _jump(name, revs)
    lengths_mm = bone_lengths(perf.joints) * 1000.0
    assert np.ptp(lengths_mm, axis=0).max() <= 1e-3


@pytest.mark.parametrize("motion", sorted(DAILY_MOTIONS))
def test_bone_lengths_constant_in_daily_motions(motion):
    rng = np.random.default_rng(1)
    body = Body.sample(rng)
    perf = perform(DAILY_MOTIONS[motion](rng, FPS, 49), body)
    assert np.ptp(bone_lengths(perf.joints) * 1000.0, axis=0).max() <= 1e-3
    # Standing motions keep a skate on the ice in every frame.
    np.testing.assert_allclose(lowest_skate(perf.joints), ANKLE_ON_ICE, atol=1e-9)


def test_body_height_and_proportions_vary():
    rng = np.random.default_rng(0)
    bodies = [Body.sample(rng) for _ in range(50)]
    heights = np.array([b.height for b in bodies])
    assert heights.min() >= 1.5 and heights.max() <= 1.9 and np.ptp(heights) > 0.25
    thigh = np.array([np.linalg.norm(b.offsets[J["left_knee"]]) / b.height for b in bodies])
    assert np.ptp(thigh) > 0.01  # proportions differ, not just scale


@pytest.mark.parametrize("name,revs", ALL_JUMPS)
def test_flight_is_ballistic(name, revs):
    _, perf = _jump(name, revs)
    (f0, f1), = perf.flights
    g = fit_gravity(perf.joints[f0:f1 + 1, J["pelvis"], 2], FPS)
    assert abs(g - GRAVITY) / GRAVITY < 0.05
    # Horizontal velocity is constant in the air.
    v = np.diff(perf.joints[f0:f1 + 1, J["pelvis"], :2], axis=0)
    assert np.ptp(np.linalg.norm(v, axis=1)) < 1e-9


@pytest.mark.parametrize("name,revs", ALL_JUMPS)
def test_revolutions_from_hip_axis_match_label(name, revs):
    plan, perf = _jump(name, revs, seed=3)
    (f0, f1), = perf.flights
    event = perf.events[0]
    assert (event["takeoff_frame"], event["landing_frame"]) == (f0, f1)
    counted = count_revolutions(perf.joints[:, J["left_hip"]], perf.joints[:, J["right_hip"]], f0, f1)
    assert abs(counted - revs) <= 0.1


@pytest.mark.parametrize("name,revs", ALL_JUMPS)
def test_skates_on_ice_before_takeoff_and_after_landing(name, revs):
    _, perf = _jump(name, revs)
    (f0, f1), = perf.flights
    low = lowest_skate(perf.joints)
    np.testing.assert_allclose(low[:f0 + 1], ANKLE_ON_ICE, atol=1e-9)
    np.testing.assert_allclose(low[f1:], ANKLE_ON_ICE, atol=1e-9)
    # In the air both skates are clear of the ice.
    assert np.all(low[f0 + 1:f1] > ANKLE_ON_ICE + 0.03)
    assert perf.airborne[f0 + 1:f1].all() and not perf.airborne[:f0 + 1].any() and not perf.airborne[f1:].any()


def test_jump_plans_stay_in_elite_ranges():
    rng = np.random.default_rng(7)
    for _ in range(300):
        name = str(rng.choice(list(JUMP_TYPES)))
        plan = plan_jump(rng, name, FPS)
        air = plan.air_frames / FPS
        assert AIR_TIME_RANGE[0] - 0.5 / FPS <= air <= AIR_TIME_RANGE[1] + 0.5 / FPS
        assert PEAK_SPIN_RANGE[0] - 0.35 <= plan.peak_spin(FPS) <= PEAK_SPIN_RANGE[1] + 0.35, plan
        assert plan.revolutions in JUMP_TYPES[name].revolutions


def test_axel_takes_off_forward_and_lands_backward():
    plan, perf = _jump("axel", 2.5)
    (f0, f1), = perf.flights
    facing = perf.heading - perf.travel_heading
    assert np.cos(facing[f0]) > 0.99  # forward at take-off
    assert np.cos(facing[f1]) < -0.99  # backward at landing


def test_spin_profile_is_monotone_from_zero_to_one():
    s = spin_profile(20, 0.2)
    assert s[0] == 0.0 and s[-1] == pytest.approx(1.0)
    assert np.all(np.diff(s) > 0)
