"""MTVCrafter pipeline, VAE helpers, motion sources and ``generate``: tiny random models on the CPU.

Most checks run 17-frame 32x32 clips (5 latent frames of 4x4x4, 120 motion tokens) with 2-3
steps; one check runs the default 49-frame 64x64 tiny preset.
"""

import json
import pickle
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from sportanim.io.video import probe_video, write_video
from sportanim.models import vae as vae_lib
from sportanim.cli import app
from sportanim.models.dit import MVDiT
from sportanim.data.motion import fit_motion, load_motion
from sportanim.skeleton import camera_for_output, draw_skeleton
from sportanim.models.pipeline import (
    MTVCrafterPipeline,
    build_pipeline,
    load_pipeline,
    resize_cover,
    save_pipeline,
)
from sportanim.models.tokenizer import MotionTokenizer
from sportanim.skeleton import nlf_intrinsics, project
from sportanim.synth.dataset import SynthConfig, synthesize
from sportanim.synth.world import make_clip

FRAMES, SIZE, STEPS = 17, 32, 2


@pytest.fixture(scope="module")
def clip():
    c = make_clip(0, 0, "lutz", (SIZE, SIZE), FRAMES, 30.0)
    joints = c.joints.astype(np.float32)
    return dict(joints=joints, image=c.frames[0], mean=joints.mean(0), std=np.maximum(joints.std(0), 1.0))


def small(clip, scheduler: str = "dpm", seed: int = 0) -> MTVCrafterPipeline:
    pipe = build_pipeline("tiny", clip["mean"], clip["std"], seed=seed, scheduler=scheduler,
                          num_frames=FRAMES, height=SIZE, width=SIZE)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def pipe(clip):
    return small(clip)


def generate(pipe, clip, seed=0, **kwargs):
    return pipe(clip["image"], clip["joints"], num_inference_steps=kwargs.pop("steps", STEPS),
                generator=torch.Generator().manual_seed(seed), **kwargs)


# --------------------------------------------------------------------------- outputs


def test_output_shapes_and_dtypes(pipe, clip):
    out = generate(pipe, clip)
    assert out.frames.shape == (FRAMES, SIZE, SIZE, 3) and out.frames.dtype == np.uint8
    assert out.motion_ids.shape == (5 * 24,) and out.motion_ids.dtype == np.int64
    assert 0 <= out.motion_ids.min() and out.motion_ids.max() < pipe.tokenizer.config.codebook_size
    assert out.reconstructed_joints.shape == (FRAMES, 24, 3) and out.reconstructed_joints.dtype == np.float32
    assert np.isfinite(out.reconstructed_joints).all()
    latents = generate(pipe, clip, output_type="latent").frames
    assert tuple(latents.shape) == (1, 5, 4, SIZE // 8, SIZE // 8) and latents.dtype == torch.float32


def test_default_tiny_preset_is_49_frames_of_64px(clip):
    pipe = build_pipeline("tiny", clip["mean"], clip["std"])
    pipe.set_progress_bar_config(disable=True)
    assert pipe.default_num_frames == 49 and pipe.default_size() == (64, 64)
    joints = fit_motion(clip["joints"], 49)[0]  # resampled 17 -> 49
    out = pipe(clip["image"], joints, num_inference_steps=1, generator=torch.Generator().manual_seed(0),
               output_type="latent")  # decoding is checked at 17 frames; 49 x 64 px would cost seconds
    assert tuple(out.frames.shape) == (1, 13, 4, 8, 8) and out.motion_ids.shape == (13 * 24,)
    assert out.reconstructed_joints.shape == (49, 24, 3)


def test_same_seed_same_frames_other_seed_other_frames(pipe, clip):
    a, b, c = generate(pipe, clip, seed=1), generate(pipe, clip, seed=1), generate(pipe, clip, seed=2)
    assert np.array_equal(a.frames, b.frames)
    assert np.array_equal(a.motion_ids, b.motion_ids)
    assert not np.array_equal(a.frames, c.frames)


def test_reference_image_may_be_pil_and_any_size(pipe, clip):
    from PIL import Image

    big = np.kron(clip["image"], np.ones((2, 3, 1), dtype=np.uint8))  # 64 x 96
    out = pipe(Image.fromarray(big), clip["joints"], num_inference_steps=1,
               generator=torch.Generator().manual_seed(0))
    assert out.frames.shape == (FRAMES, SIZE, SIZE, 3)
    assert resize_cover(big, SIZE, SIZE).shape == (SIZE, SIZE, 3)


# --------------------------------------------------------------------------- guidance and caching


def manual_latents(pipe, clip, guidance: float, seed: int = 0, steps: int = 3) -> torch.Tensor:
    """The sampling loop written out: each CFG branch its own unbatched transformer call."""
    gen = torch.Generator().manual_seed(seed)
    mean, std = clip["mean"], clip["std"]
    _, embeds, _ = pipe.encode_motion(clip["joints"], mean, std)
    scheduler = pipe.scheduler
    scheduler.set_timesteps(steps)
    latents = pipe.prepare_latents(1, 4, FRAMES, SIZE, SIZE, torch.float32, torch.device("cpu"), gen)
    reference = pipe.encode_reference(clip["image"], FRAMES, gen)
    old_x0 = None
    with torch.no_grad():
        for i, t in enumerate(scheduler.timesteps):
            def branch(tokens):
                return pipe.transformer(latents, t, motion_tokens=tokens, reference_latents=reference).sample

            pred = branch(embeds)
            if guidance > 1:
                uncond = branch(None)  # the learnable unconditional motion tokens
                pred = uncond + guidance * (pred - uncond)
            if type(scheduler).__name__ == "CogVideoXDPMScheduler":
                back = scheduler.timesteps[i - 1] if i else None
                latents, old_x0 = scheduler.step(pred, old_x0, t, back, latents, generator=gen, return_dict=False)
            else:
                latents = scheduler.step(pred, t, latents, generator=gen, return_dict=False)[0]
    return latents


@pytest.mark.parametrize("guidance, scheduler", [(1.0, "dpm"), (3.0, "dpm"), (3.0, "ddim")])
def test_pipeline_equals_the_loop_written_out(clip, guidance, scheduler):
    pipe = small(clip, scheduler)
    got = generate(pipe, clip, steps=3, guidance_scale=guidance, output_type="latent").frames
    want = manual_latents(pipe, clip, guidance)
    assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()


def test_guidance_changes_the_result(pipe, clip):
    one = generate(pipe, clip, guidance_scale=1.0, output_type="latent").frames
    three = generate(pipe, clip, guidance_scale=3.0, output_type="latent").frames
    assert (one - three).abs().max() > 1e-3


def test_cached_motion_kv_equals_uncached(pipe, clip):
    for guidance in (1.0, 3.0):
        cached = generate(pipe, clip, steps=3, guidance_scale=guidance, output_type="latent").frames
        fresh = generate(pipe, clip, steps=3, guidance_scale=guidance, output_type="latent",
                         cache_motion_kv=False).frames
        assert (cached - fresh).abs().max() <= 1e-5


# --------------------------------------------------------------------------- save / load


def test_save_load_round_trip(tmp_path, pipe, clip):
    folder = save_pipeline(pipe, tmp_path / "w", preset="tiny")
    info = json.loads((folder / "pipeline.json").read_text())
    assert info["num_frames"] == FRAMES and (info["height"], info["width"]) == (SIZE, SIZE)
    loaded = load_pipeline(folder)
    loaded.set_progress_bar_config(disable=True)
    assert loaded.default_num_frames == FRAMES and loaded.default_size() == (SIZE, SIZE)
    np.testing.assert_allclose(loaded.config.joint_mean, clip["mean"], rtol=0, atol=1e-9)
    a = generate(pipe, clip)
    b = loaded(clip["image"], clip["joints"], num_inference_steps=STEPS, generator=torch.Generator().manual_seed(0))
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.motion_ids, b.motion_ids)
    with pytest.raises(FileExistsError):
        save_pipeline(pipe, folder)
    assert type(load_pipeline(folder, scheduler="ddim").scheduler).__name__ == "CogVideoXDDIMScheduler"
    assert sorted(p.name for p in folder.parent.iterdir()) == ["w"]  # no temporary folder left


def test_load_rejects_wrong_shaped_checkpoints(tmp_path, pipe):
    folder = save_pipeline(pipe, tmp_path / "w")
    other = MVDiT.from_preset("tiny", num_layers=1, num_motion_tokens=120)
    save_file(other.state_dict(), str(folder / "transformer" / "diffusion_pytorch_model.safetensors"))
    with pytest.raises(ValueError, match="transformer_blocks.1"):
        load_pipeline(folder)
    shutil.rmtree(folder)
    folder = save_pipeline(pipe, tmp_path / "w")
    small_vae = vae_lib.build_vae("tiny", block_out_channels=(8, 8, 16, 16))
    save_file(small_vae.state_dict(), str(folder / "vae" / "diffusion_pytorch_model.safetensors"))
    with pytest.raises(ValueError, match="in the checkpoint but"):
        load_pipeline(folder)


def test_load_names_a_missing_part(tmp_path, pipe):
    folder = save_pipeline(pipe, tmp_path / "w")
    shutil.rmtree(folder / "vae")
    with pytest.raises(FileNotFoundError, match="vae"):
        load_pipeline(folder)


def test_pipeline_to_moves_every_module(pipe):
    assert pipe.to("cpu") is pipe


# --------------------------------------------------------------------------- input errors


@pytest.mark.parametrize("change, message", [
    (dict(joints=np.zeros((FRAMES, 17, 3), np.float32)), "24, 3"),
    (dict(joints="nan"), "NaN"),
    (dict(joints=np.zeros((FRAMES - 1, 24, 3), np.float32)), "unsupported clip length|num_frames"),
    (dict(image=np.zeros((SIZE, SIZE), np.uint8)), r"\(H, W, 3\)"),
    (dict(image=np.zeros((SIZE, SIZE, 4), np.uint8)), r"\(H, W, 3\)"),
    (dict(image=np.zeros((SIZE, SIZE, 3), np.float32)), "uint8"),
    (dict(height=40), "multiples of 16"),
    (dict(guidance_scale=0.5), "guidance_scale"),
    (dict(output_type="pil"), "output_type"),
    (dict(std=np.zeros((24, 3))), "std"),
])
def test_clear_errors_for_bad_inputs(pipe, clip, change, message):
    args = dict(reference_image=clip["image"], joints=clip["joints"], num_inference_steps=1)
    if isinstance(change.get("joints"), str):
        joints = clip["joints"].copy()
        joints[3, 5, 1] = np.nan
        change = dict(joints=joints)
    if "image" in change:
        args["reference_image"] = change.pop("image")
    args.update(change)
    with pytest.raises(ValueError, match=message):
        pipe(**args)


# --------------------------------------------------------------------------- VAE


def test_vae_presets_and_reference_latents():
    torch.manual_seed(0)
    vae = vae_lib.build_vae("tiny").eval()
    assert vae_lib.spatial_factor(vae) == 8 and vae_lib.temporal_factor(vae) == 4
    assert vae_lib.latent_frames(vae, 49) == 13
    video = torch.rand(1, 3, FRAMES, SIZE, SIZE) * 2 - 1
    with torch.no_grad():
        latents = vae_lib.encode_video(vae, video, sample=False)
        assert tuple(latents.shape) == (1, 5, 4, 4, 4)
        assert tuple(vae_lib.decode_latents(vae, latents).shape) == (1, 3, FRAMES, SIZE, SIZE)
        image = video[:, :, 0]
        gen = lambda: torch.Generator().manual_seed(3)  # noqa: E731
        ref = vae_lib.reference_latents(vae, image, FRAMES, gen())
        repeated = image[:, :, None].repeat(1, 1, FRAMES, 1, 1)
        assert torch.equal(ref, vae_lib.encode_video(vae, repeated, gen(), scale=False))
        vae.register_to_config(scaling_factor=2.0)  # upstream: reference latents are never scaled
        assert torch.equal(ref, vae_lib.reference_latents(vae, image, FRAMES, gen()))
    with torch.device("meta"):
        big = vae_lib.build_vae("cogvideox-5b")
    assert big.config.latent_channels == 16 and vae_lib.spatial_factor(big) == 8 and vae_lib.temporal_factor(big) == 4


# --------------------------------------------------------------------------- motion sources


@pytest.fixture(scope="module")
def fsjd_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "fsjd"
    synthesize(SynthConfig(out=root, clips=1, size=SIZE, frames=FRAMES, workers=1), show_progress=False)
    return root


def test_load_motion_npz_npy_and_fsjd(tmp_path, fsjd_root, clip):
    k = nlf_intrinsics(64, 48)
    np.savez(tmp_path / "m.npz", joints=clip["joints"], intrinsics=k, other=clip["joints"][:9])
    m = load_motion(tmp_path / "m.npz")
    assert m.joints.shape == (FRAMES, 24, 3) and m.source_video is None and m.image_size == (64, 48)
    assert load_motion(f"{tmp_path / 'm.npz'}#other").joints.shape == (9, 24, 3)
    np.save(tmp_path / "m.npy", clip["joints"])
    assert np.array_equal(load_motion(tmp_path / "m.npy").joints, clip["joints"])

    clip_id = json.loads((fsjd_root / "manifest.jsonl").read_text().splitlines()[0])["id"]
    m = load_motion(clip_id, fsjd_root)
    assert m.joints.shape == (FRAMES, 24, 3) and m.source_video.shape == (FRAMES, SIZE, SIZE, 3)
    assert m.fps == 30.0 and m.image_size == (SIZE, SIZE) and m.intrinsics.shape == (3, 3)
    assert load_motion(clip_id, fsjd_root, read_video=False).source_video is None


def test_load_motion_errors(tmp_path, fsjd_root, clip):
    bad = clip["joints"].copy()
    bad[2] = np.nan
    np.savez(tmp_path / "bad.npz", joints=bad)
    np.savez(tmp_path / "few.npz", joints=clip["joints"][:, :17])
    for spec, message in [(tmp_path / "bad.npz", "NaN"), (tmp_path / "few.npz", "24, 3"),
                          (f"{tmp_path / 'bad.npz'}#nope", "no array 'nope'"),
                          ("some_clip", "--data"), (tmp_path / "none.npz", "not found")]:
        with pytest.raises((ValueError, FileNotFoundError), match=message):
            load_motion(spec)
    with pytest.raises(ValueError, match="not in"):
        load_motion("no_such_clip", fsjd_root)


def test_load_motion_upstream_pkl(tmp_path, clip):
    samples = [dict(video_path=f"./videos/v{i}.mp4", pose=clip["joints"] + i, video_length=FRAMES,
                    video_height=48, video_width=64) for i in range(3)]
    (tmp_path / "videos").mkdir()
    write_video(tmp_path / "videos" / "v1.mp4", np.zeros((FRAMES, 24, 32, 3), np.uint8), 25.0)
    with open(tmp_path / "s.pkl", "wb") as f:
        pickle.dump(samples, f, protocol=4)
    first = load_motion(tmp_path / "s.pkl")
    assert np.allclose(first.joints, clip["joints"]) and first.source_video is None
    assert np.allclose(first.intrinsics, nlf_intrinsics(64, 48)) and first.image_size == (64, 48)
    second = load_motion(f"{tmp_path / 's.pkl'}#1", max_frames=5)
    assert np.allclose(second.joints, clip["joints"] + 1) and second.source_video.shape == (5, 24, 32, 3)
    assert second.image_size == (32, 24) and second.fps == 25.0  # camera rescaled to the decoded frames
    with pytest.raises(ValueError, match="3 samples"):
        load_motion(f"{tmp_path / 's.pkl'}#3")


def test_load_motion_real_upstream_pkl(shared_data):
    pkl = shared_data / "mtvcrafter_samples" / "sampled_data.pkl"
    m = load_motion(f"{pkl}#1", max_frames=3)
    assert m.joints.shape[1:] == (24, 3) and len(m.joints) > 49
    assert m.source_video is not None and len(m.source_video) == 3
    uv = project(m.joints[:3], m.intrinsics)  # NLF's camera puts the dancer on the frame
    w, h = m.image_size
    assert ((uv[..., 0] > 0) & (uv[..., 0] < w) & (uv[..., 1] > 0) & (uv[..., 1] < h)).mean() > 0.9


def test_fit_motion_crops_or_resamples(clip):
    joints, index = fit_motion(clip["joints"], 9, start=4)
    assert np.array_equal(joints, clip["joints"][4:13]) and index.tolist() == list(range(4, 13))
    joints, index = fit_motion(clip["joints"], 33)
    assert joints.shape == (33, 24, 3) and index[0] == 0 and index[-1] == FRAMES - 1
    assert np.allclose(joints[0], clip["joints"][0]) and np.allclose(joints[-1], clip["joints"][-1])
    assert np.allclose(joints[2], clip["joints"][1], atol=1e-3)  # 33 = 2 * 17 - 1: every other is a source frame
    with pytest.raises(ValueError, match="--start"):
        fit_motion(clip["joints"], 9, start=10)


def test_camera_for_output_follows_resize_cover():
    k = nlf_intrinsics(128, 64)  # 128 x 64 -> cover 32 x 32: scale 0.5, crop 16 px each side
    point = np.array([[100.0, -50.0, 2000.0]])
    u, v = project(point, k)[0]
    u2, v2 = project(point, camera_for_output(k, (128, 64), 32, 32))[0]
    assert np.isclose(u2, u * 0.5 - 16) and np.isclose(v2, v * 0.5)
    frames = draw_skeleton(np.zeros((2, 24, 3)) + [0, 0, 2000.0], nlf_intrinsics(32, 32), 32, 32)
    assert frames.shape == (2, 32, 32, 3) and frames.dtype == np.uint8


# --------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def weights(tmp_path_factory, clip):
    return save_pipeline(small(clip), tmp_path_factory.mktemp("w") / "weights", preset="tiny")


def test_cli_generate_writes_video_and_panels(tmp_path, weights, fsjd_root, clip):
    runner = CliRunner()
    clip_id = json.loads((fsjd_root / "manifest.jsonl").read_text().splitlines()[0])["id"]
    out = tmp_path / "out" / "a.mp4"
    args = ["--motion", clip_id, "--data", str(fsjd_root), "--out", str(out), "--weights", str(weights),
            "--steps", "2", "--panel", "--quiet"]
    result = runner.invoke(app, ["generate", *args])
    assert result.exit_code == 0, result.output
    assert probe_video(out)["frames"] == FRAMES and probe_video(out)["width"] == SIZE
    assert probe_video(tmp_path / "out" / "a.panel.mp4")["width"] == 5 * SIZE  # with the source video

    from PIL import Image

    Image.fromarray(clip["image"]).save(tmp_path / "ref.png")
    np.savez(tmp_path / "m.npz", joints=clip["joints"])
    args = ["--motion", str(tmp_path / "m.npz"), "--ref-image", str(tmp_path / "ref.png"), "--out",
            str(tmp_path / "b.mp4"), "--weights", str(weights), "--steps", "2", "--panel", "--quiet"]
    result = runner.invoke(app, ["generate", *args])
    assert result.exit_code == 0, result.output
    assert probe_video(tmp_path / "b.panel.mp4")["width"] == 4 * SIZE  # no source video


def test_cli_generate_user_errors_exit_2(tmp_path, weights):
    runner = CliRunner()
    np.savez(tmp_path / "m.npz", joints=np.zeros((FRAMES, 24, 3), np.float32) + [0, 0, 2000])
    for args in (["--motion", str(tmp_path / "m.npz")],  # no --ref-image, no source video
                 ["--motion", str(tmp_path / "none.npz")],
                 ["--motion", str(tmp_path / "m.npz"), "--ref-image", str(tmp_path / "none.png")],
                 ["--motion", str(tmp_path / "m.npz"), "--ref-image", str(tmp_path / "m.npz")]):
        result = runner.invoke(app, ["generate", *args, "--out", str(tmp_path / "x.mp4"), "--weights", str(weights)])
        assert result.exit_code == 2, result.output
        assert "error:" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x.mp4").exists()


def test_7b_preset_parts_fit_together():
    from sportanim.models.dit import DIT_PRESETS
    from sportanim.models.pipeline import PIPELINE_PRESETS, make_scheduler
    from sportanim.models.tokenizer import TOKENIZER_PRESETS

    spec = PIPELINE_PRESETS["mtvcrafter-7b"]
    with torch.device("meta"):
        tokenizer = MotionTokenizer(TOKENIZER_PRESETS[spec["tokenizer"]])
        transformer = MVDiT(**DIT_PRESETS[spec["transformer"]])
        vae = vae_lib.build_vae(spec["vae"])
    pipe = MTVCrafterPipeline(tokenizer, transformer, vae, make_scheduler(), default_height=512, default_width=512)
    assert pipe.default_num_frames == 49 and pipe.default_size() == (512, 512)
    assert 2 * vae.config.latent_channels == transformer.config.in_channels
    assert tokenizer.config.code_dim == transformer.motion_dim
    assert vae_lib.latent_frames(vae, 49) == tokenizer.token_frames(49) == 13
    assert pipe.scheduler.config.prediction_type == "v_prediction"
