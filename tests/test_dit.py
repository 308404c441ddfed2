"""MV-DiT: released 7B layout on the meta device, tiny seeded models on the CPU."""

import hashlib
import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from sportanim.models.dit import DIT_PRESETS, MTVCRAFTER_JOINT_MEAN_MM, MVDiT, motion_rotary_emb

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
REFERENCE_SHAPES = REFERENCE / "mvdit7b_state_dict_shapes_first2layers.json"
REFERENCE_CONFIG = REFERENCE / "mvdit7b_config.json"
# sha256 of the whole 7B layout's "name:d0,d1,..." lines sorted by name (all 42 blocks), so the
# layout stays checked where the shared folder is absent.
RELEASED_LAYOUT_SHA256 = "eadcf55bc0b2df1c38e7f7aa0dfc84a2cd87c84086b26a7ac16e9d85fa305dda"
RELEASED_PARAMS = 7_157_411_904  # per block 169,958,912; outside the blocks 19,137,600
TINY = DIT_PRESETS["tiny"]
B, FRAMES, LATENT, SIZE = 2, 13, 4, 8  # tiny: 13 latent frames of 4 x 8 x 8 (64x64 video, 8x VAE)


def tiny(seed: int = 0, **overrides) -> MVDiT:
    torch.manual_seed(seed)
    return MVDiT.from_preset("tiny", **overrides).eval()


def inputs(seed: int = 0, batch: int = B) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return dict(
        hidden_states=torch.randn(batch, FRAMES, LATENT, SIZE, SIZE, generator=g),
        reference_latents=torch.randn(batch, FRAMES, LATENT, SIZE, SIZE, generator=g),
        timestep=torch.randint(0, 1000, (batch,), generator=g),
        motion_tokens=torch.randn(batch, 312, TINY["motion_embed_dim"], generator=g),
    )


def run(model: MVDiT, **kwargs) -> torch.Tensor:
    with torch.no_grad():
        return model(**kwargs).sample


def public(config) -> dict:
    """A model config without diffusers' bookkeeping keys (``_name_or_path``, ...)."""
    return {k: v for k, v in config.items() if not k.startswith("_")}


def layout(model: torch.nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in model.state_dict().items()}


# ---- released layout


def test_7b_layout_matches_released_checkpoint():
    with torch.device("meta"):
        model = MVDiT.from_preset("mtvcrafter-7b")
    got = layout(model)
    canon = "\n".join(f"{k}:{','.join(map(str, v))}" for k, v in sorted(got.items()))
    assert hashlib.sha256(canon.encode()).hexdigest() == RELEASED_LAYOUT_SHA256
    assert sum(p.numel() for p in model.parameters()) == RELEASED_PARAMS
    assert sum(math.prod(s) for s in got.values()) == RELEASED_PARAMS  # no buffers in the file
    blocks = {int(k.split(".")[1]) for k in got if k.startswith("transformer_blocks.")}
    assert blocks == set(range(42))
    for i in range(2, 42):  # blocks 2..41 repeat block 0 / 1
        src = i % 2
        mine = {k.split(".", 2)[2]: v for k, v in got.items() if k.startswith(f"transformer_blocks.{i}.")}
        ref = {k.split(".", 2)[2]: v for k, v in got.items() if k.startswith(f"transformer_blocks.{src}.")}
        assert mine == ref, i
    if REFERENCE_SHAPES.is_file():  # the JSON itself, where the shared folder is present
        first_two = {k: v for k, v in got.items()
                     if not k.startswith("transformer_blocks.") or k.split(".")[1] in ("0", "1")}
        assert first_two == json.loads(REFERENCE_SHAPES.read_text())


def test_7b_preset_is_the_released_config_and_the_defaults():
    with torch.device("meta"):
        preset, default = MVDiT.from_preset("mtvcrafter-7b"), MVDiT()
    assert public(preset.config) == public(default.config)
    if REFERENCE_CONFIG.is_file():
        released = {k: v for k, v in json.loads(REFERENCE_CONFIG.read_text()).items() if not k.startswith("_")}
        assert {k: preset.config[k] for k in released} == released


def test_7b_forward_shapes_on_meta():
    """512x512x49 video: latents (13, 16, 64, 64) + reference -> 13 * 32 * 32 tokens."""
    with torch.device("meta"):
        model = MVDiT.from_preset("mtvcrafter-7b")
        latents = torch.empty(1, 13, 16, 64, 64)
        with torch.no_grad():
            out = model(latents, torch.tensor([999]), torch.empty(1, 312, 3072), latents).sample
            kv = model.prepare_motion_kv(batch_size=2)
    assert out.shape == (1, 13, 16, 64, 64)
    assert len(kv.layers) == 42 and kv.layers[0][0].shape == (2, 48, 312, 64)


# ---- tiny: shapes and conditioning


def test_tiny_output_shapes_and_concatenation():
    model = tiny()
    x = inputs()
    out = run(model, **x)
    assert out.shape == (B, FRAMES, LATENT, SIZE, SIZE)
    assert torch.isfinite(out).all()
    joined = torch.cat([x["hidden_states"], x["reference_latents"]], dim=2)  # already concatenated
    same = run(model, hidden_states=joined, timestep=x["timestep"], motion_tokens=x["motion_tokens"])
    assert torch.equal(out, same)
    with torch.no_grad():
        (tupled,) = model(**x, return_dict=False)
    assert torch.equal(out, tupled)
    # other sizes: 2 latent frames of 8 x 12 (the motion tokens keep their own 13 token frames)
    shape = (B, 2, LATENT, SIZE, 12)
    other = dict(x, hidden_states=torch.randn(shape), reference_latents=torch.randn(shape))
    assert run(model, **other).shape == (B, 2, LATENT, SIZE, 12)


def test_scalar_timestep_broadcasts():
    model, x = tiny(), inputs()
    t = torch.full((B,), 321)
    assert torch.equal(run(model, **dict(x, timestep=t)), run(model, **dict(x, timestep=321)))


def test_motion_conditions_the_output():
    model, x = tiny(), inputs()
    other = dict(x, motion_tokens=torch.randn_like(x["motion_tokens"]))
    assert (run(model, **x) - run(model, **other)).abs().max() > 1e-4


def test_unconditional_branch_uses_the_learnable_tokens():
    model, x = tiny(), inputs()
    uncond = model.unconditional_motion_token.detach()[None].expand(B, -1, -1).clone()
    none = run(model, **dict(x, motion_tokens=None))
    assert torch.equal(none, run(model, **dict(x, motion_tokens=uncond)))
    with torch.no_grad():  # the tokens are a parameter: changing them changes the branch
        model.unconditional_motion_token.add_(1.0)
    assert (run(model, **dict(x, motion_tokens=None)) - none).abs().max() > 1e-4


def test_motion_drop_mask_swaps_single_samples():
    model, x = tiny(), inputs()
    cond, uncond = run(model, **x), run(model, **dict(x, motion_tokens=None))
    mixed = run(model, **x, motion_drop_mask=torch.tensor([True, False]))
    torch.testing.assert_close(mixed[0], uncond[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(mixed[1], cond[1], atol=1e-6, rtol=0)


def test_motion_rope_layout_and_centring():
    """Token n*J+j: dims [0, d/4) rotate with the token frame n, then d/4 each with the centred
    x, y, z of joint j; each part's first (interleaved) pair turns 1 rad per unit."""
    pos = torch.tensor(MTVCRAFTER_JOINT_MEAN_MM)
    cos, sin = motion_rotary_emb(16, 13, pos)
    assert cos.shape == sin.shape == (312, 16)
    centred = pos - pos.mean(0)
    n, j = 5, 7
    angles = {0: n, 4: centred[j, 0], 8: centred[j, 1], 12: centred[j, 2]}
    for dim, angle in angles.items():
        for d in (dim, dim + 1):
            assert math.isclose(cos[n * 24 + j, d], math.cos(angle), abs_tol=1e-4)
            assert math.isclose(sin[n * 24 + j, d], math.sin(angle), abs_tol=1e-4)
    shifted = motion_rotary_emb(16, 13, pos + 250.0)  # positions are centred: a shift changes nothing
    torch.testing.assert_close(shifted[0], cos, atol=1e-3, rtol=0)


# ---- motion K/V cache


@pytest.mark.parametrize("case", ["conditional", "unconditional", "guidance_batch"])
def test_cached_motion_kv_equals_uncached(case):
    model, x = tiny(), inputs()
    if case == "unconditional":
        x["motion_tokens"] = None
    if case == "guidance_batch":  # CFG: [unconditional, conditional] in one batch
        x = {k: torch.cat([v, v]) for k, v in x.items()}
        x["motion_tokens"][:B] = model.unconditional_motion_token.detach()
    kv = model.prepare_motion_kv(x["motion_tokens"], batch_size=x["hidden_states"].shape[0])
    for step, t in enumerate((999, 500, 1)):  # reused across steps
        steps = dict(x, timestep=t)
        want = run(model, **steps)
        got = run(model, **dict(steps, motion_tokens=None), motion_kv=kv)
        assert (want - got).abs().max() <= 1e-5, step


def test_gradient_checkpointing_matches():
    model, x = tiny().train(), inputs()
    model(**x).sample.square().mean().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    model.enable_gradient_checkpointing()
    model(**x).sample.square().mean().backward()
    for n, p in model.named_parameters():
        if n in grads:
            torch.testing.assert_close(p.grad, grads[n], atol=1e-6, rtol=1e-5)


# ---- determinism and files


def test_deterministic_by_seed():
    x = inputs()
    assert torch.equal(run(tiny(3), **x), run(tiny(3), **x))
    assert not torch.equal(run(tiny(3), **x), run(tiny(4), **x))


def test_save_pretrained_round_trip(tmp_path):
    model, x = tiny(), inputs()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "config.json").is_file()
    assert (tmp_path / "diffusion_pytorch_model.safetensors").is_file()
    loaded = MVDiT.from_pretrained(tmp_path).eval()
    assert public(loaded.config) == public(model.config)
    assert torch.equal(run(loaded, **x), run(model, **x))


def test_sharded_checkpoint_round_trip(tmp_path):
    model, x = tiny(), inputs()
    model.save_pretrained(tmp_path, max_shard_size="100KB")
    assert (tmp_path / "diffusion_pytorch_model.safetensors.index.json").is_file()
    assert torch.equal(run(MVDiT.from_pretrained(tmp_path).eval(), **x), run(model, **x))


# ---- errors


@pytest.mark.parametrize("shape", [(B, 311, 64), (B, 312, 32), (B + 1, 312, 64), (312, 64)])
def test_wrong_motion_token_shape_is_a_clear_error(shape):
    model, x = tiny(), inputs()
    with pytest.raises(ValueError, match=r"motion_tokens must be \(B, N, D_m\) = \(2, 312, 64\)"):
        model(**dict(x, motion_tokens=torch.randn(shape)))


def test_wrong_latent_channels_is_a_clear_error():
    model, x = tiny(), inputs()
    with pytest.raises(ValueError, match="latent channels 4 .* != in_channels 8"):
        model(**dict(x, reference_latents=None))


def test_checkpoint_of_the_wrong_shape_names_the_first_tensor(tmp_path):
    tiny().save_pretrained(tmp_path / "good")
    bad = tmp_path / "bad"
    shutil.copytree(tmp_path / "good", bad)
    config = json.loads((bad / "config.json").read_text())
    config["attention_head_dim"] = 32  # the weights were made with 16
    (bad / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"first, 'patch_embed\.proj\.weight' is \[64, 8, 2, 2\] in the "
                                         r"checkpoint but \[128, 8, 2, 2\] in the model"):
        MVDiT.from_pretrained(bad)
    with pytest.raises(ValueError, match=r"'transformer_blocks\.4\.attn0\.norm_q\.weight' is missing"):
        MVDiT.from_pretrained(tmp_path / "good", num_layers=5)


# ---- training sanity


def test_one_gradient_step_reduces_a_simple_loss():
    model, x = tiny().train(), inputs()
    target = torch.randn(B, FRAMES, LATENT, SIZE, SIZE, generator=torch.Generator().manual_seed(9))
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert not model.patch_embed.text_proj.weight.requires_grad  # kept for the checkpoint, unused
    opt = torch.optim.AdamW(trainable, lr=1e-3)

    drop = torch.tensor([False, True])

    def loss() -> torch.Tensor:
        return torch.nn.functional.mse_loss(model(**x, motion_drop_mask=drop).sample, target)

    before = loss()
    before.backward()
    assert model.unconditional_motion_token.grad is not None  # the dropped sample trains it
    opt.step()
    with torch.no_grad():
        after = loss()
    assert after < before, (after.item(), before.item())
