"""4DMoT tokenizer: released layout on the meta device, tiny seeded models on the CPU."""

import hashlib
import json
import math
import time
from pathlib import Path

import pytest
import torch
from diffusers.models.modeling_utils import ModelMixin
from safetensors.torch import load_file

import sportanim
from sportanim.models import TOKENIZER_PRESETS, MotionTokenizer, TokenizerConfig, TokenizerOutput
from sportanim.models.tokenizer import CONFIG_NAME, MAX_VALUES, WEIGHTS_NAME

REFERENCE_SHAPES = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "4dmot_state_dict_shapes.json"
# sha256 of the released layout's "name:d0,d1,..." lines, sorted by name (from the JSON above).
RELEASED_LAYOUT_SHA256 = "279d51a24272be9fe68fdaa86a0611eecc4aa6146261ac0f77c00e471297aad1"
TINY = TOKENIZER_PRESETS["tiny"]
SHIPPED_TINY = Path(sportanim.__file__).parent / "weights" / "tiny" / "tokenizer"


def tiny(seed: int = 0) -> MotionTokenizer:
    torch.manual_seed(seed)
    return MotionTokenizer(TINY)


def smooth_clips(n: int, frames: int = 49, seed: int = 0) -> torch.Tensor:
    """Random sinusoidal joint tracks, roughly unit scale like normalised joints. (n, T, 24, 3)"""
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 1, frames)[None, :, None, None]
    amp = torch.randn(n, 1, 24, 3, generator=g)
    freq = 0.5 + 1.5 * torch.rand(n, 1, 24, 3, generator=g)
    phase = 2 * math.pi * torch.rand(n, 1, 24, 3, generator=g)
    return 0.5 * torch.randn(n, 1, 24, 3, generator=g) + amp * torch.sin(2 * math.pi * freq * t + phase)


def layout(model: torch.nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in model.state_dict().items()}


def trained_one_step(seed: int = 0) -> MotionTokenizer:
    """A tiny model whose codebook has been seeded by one training batch."""
    model = tiny(seed).train()
    with torch.no_grad():
        model(smooth_clips(2, seed=seed + 100))
    return model.eval()


# ---- released layout


def test_7b_layout_matches_released_checkpoint():
    with torch.device("meta"):
        model = MotionTokenizer(TOKENIZER_PRESETS["mtvcrafter-7b"])
    got = layout(model)
    canon = "\n".join(f"{k}:{','.join(map(str, v))}" for k, v in sorted(got.items()))
    assert len(got) == 133, f"{len(got)} tensors != 133"
    assert sum(math.prod(s) for s in got.values()) == 73_488_899
    assert hashlib.sha256(canon.encode()).hexdigest() == RELEASED_LAYOUT_SHA256
    if REFERENCE_SHAPES.is_file():  # the JSON itself, where the shared folder is present
        assert got == json.loads(REFERENCE_SHAPES.read_text())


def test_fake_released_checkpoint_loads_strictly(tmp_path):
    source = trained_one_step(seed=1)
    path = tmp_path / "mp_rank_00_model_states.pt"
    # DeepSpeed files carry more than the weights; the loader must only read "module".
    torch.save({"module": source.state_dict(), "ds_version": "0.16.0", "global_steps": 3}, path)
    target = tiny(seed=2).load_mtvcrafter_checkpoint(path)
    for name, tensor in source.state_dict().items():
        assert torch.equal(target.state_dict()[name], tensor), name


def test_wrong_checkpoint_names_the_tensor(tmp_path):
    state = tiny().state_dict()
    state["decoder.conv_out.weight"] = torch.zeros(3, 16, 3, 3)
    torch.save({"module": state}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=r"decoder\.conv_out\.weight.*expected \(3, 32, 3, 3\), got \(3, 16, 3, 3\)"):
        tiny().load_mtvcrafter_checkpoint(tmp_path / "bad.pt")

    state = tiny().state_dict()
    del state["vq.codebook"]
    torch.save({"module": state}, tmp_path / "missing.pt")
    with pytest.raises(ValueError, match=r"vq\.codebook.*missing"):
        tiny().load_mtvcrafter_checkpoint(tmp_path / "missing.pt")

    torch.save(tiny().state_dict(), tmp_path / "bare.pt")
    with pytest.raises(ValueError, match="module"):
        tiny().load_mtvcrafter_checkpoint(tmp_path / "bare.pt")


# ---- shapes and files


def test_tiny_shapes_for_49_frames():
    model = trained_one_step()
    x = smooth_clips(3)
    with torch.no_grad():
        ids, emb = model.encode(x)
        assert ids.shape == (3, 13 * 24) and ids.dtype == torch.int64
        assert emb.shape == (3, 13 * 24, TINY.code_dim)
        assert model.decode(ids).shape == (3, 49, 24, 3)
        assert torch.equal(model.decode(ids), model.decode(emb))
        out = model(x)
    assert isinstance(out, TokenizerOutput)
    assert out.recon.shape == x.shape and out.ids.shape == (3, 312)
    assert out.commit_loss.ndim == out.perplexity.ndim == out.usage.ndim == 0
    assert 0 < out.usage.item() <= 1 and 1 <= out.perplexity.item() <= TINY.codebook_size
    assert model.token_frames(49) == 13 and model.token_frames(17) == 5
    assert model.valid_lengths(50) == [9, 17, 25, 33, 41, 49]


def test_save_load_round_trip(tmp_path):
    model = trained_one_step()
    model.save_pretrained(tmp_path / "tok")
    assert sorted(p.name for p in (tmp_path / "tok").iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]  # no temp files left
    saved = json.loads((tmp_path / "tok" / CONFIG_NAME).read_text())
    assert saved["_class_name"] == "MotionTokenizer" and TokenizerConfig.from_dict(saved, "saved") == model.config
    loaded = MotionTokenizer.from_pretrained(tmp_path / "tok")
    assert loaded.config == model.config and not loaded.training
    assert isinstance(loaded, ModelMixin) and loaded.device.type == "cpu" and loaded.dtype == torch.float32
    trainable = [name for name, p in loaded.named_parameters() if isinstance(p, torch.nn.Parameter) and p.requires_grad]
    assert trainable == [name for name, _ in model.named_parameters()]
    x = smooth_clips(2, seed=5)
    with torch.no_grad():
        ids_a, emb_a = model.encode(x)
        ids_b, emb_b = loaded.encode(x)
        assert torch.equal(ids_a, ids_b) and torch.equal(emb_a, emb_b)
        assert torch.equal(model.decode(ids_a), loaded.decode(ids_b))


def test_deterministic_by_seed():
    x = smooth_clips(2)
    runs = []
    for seed in (0, 0, 1):
        model = tiny(seed).train()
        with torch.no_grad():
            runs.append((model(x).recon, model.vq.codebook.clone()))
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])
    assert not torch.equal(runs[0][0], runs[2][0])


# ---- quantizer


def test_ema_updates_in_train_mode_only():
    model = trained_one_step()
    x = smooth_clips(2, seed=7)
    before = model.vq.codebook.clone()
    with torch.no_grad():
        model.eval()(x)
        model.encode(x)
    assert torch.equal(model.vq.codebook, before), "eval forward/encode changed the codebook"
    with torch.no_grad():
        ids = model.train()(x).ids.unique()
    changed = (model.vq.codebook - before).abs().amax(dim=1) > 0
    assert changed.any() and changed[ids].all(), "codes picked in training did not move"
    assert not changed[~torch.isin(torch.arange(TINY.codebook_size), ids)].any()


def test_dead_codes_are_reseeded_from_the_batch():
    model = trained_one_step()
    state = model.state_dict()
    state["vq.codebook"][:50] = 100.0  # far from every encoder output: never picked
    model.load_state_dict(state)
    model.train()
    x = smooth_clips(2, seed=9)
    with torch.no_grad():
        for _ in range(TINY.reset_every - 1):
            model(x)
        assert torch.all(model.vq.codebook[:50] == 100.0), "dead codes moved before the re-seed step"
        z = model._encode_latents(x)  # the batch the re-seed step will draw from
        model(x)
    reseeded = model.vq.codebook[:50]
    assert reseeded.abs().max() < 50
    nearest = torch.cdist(reseeded, z, compute_mode="donot_use_mm_for_euclid_dist").min(dim=1).values
    assert nearest.max() < 1e-5, f"re-seeded codes are not batch vectors (max distance {nearest.max():.2e})"


def test_straight_through_gradient_reaches_encoder():
    model = trained_one_step().train()
    out = model(smooth_clips(2))
    (out.recon - smooth_clips(2)).abs().mean().backward()  # reconstruction only, no commit term
    grad = model.encoder.conv_in.weight.grad
    assert grad is not None and grad.abs().sum() > 0 and torch.isfinite(grad).all()
    assert model.vq.codebook.grad is None


# ---- the two CPU paths and the exact shortcuts (same math, float rounding apart)


def _step_results(model: MotionTokenizer, x: torch.Tensor) -> tuple:
    """Encoder outputs, reconstruction and every gradient of one L1 + commitment step."""
    model.zero_grad(set_to_none=True)
    z = model.encode_latents(x)
    q = model.vq(z, update=False)[0]
    recon = model.decode_latents(q, x.shape[0])
    ((recon - x).abs().mean() + 0.5 * (z - q.detach()).pow(2).mean()).backward()
    return z.detach(), recon.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


def _assert_close_results(a: tuple, b: tuple, rel: float = 1e-4) -> None:
    for x, y in zip(a[:2], b[:2]):
        assert (x - y).abs().max() <= rel * y.abs().max()
    largest = max(g.abs().max() for g in b[2].values())
    for name, g in a[2].items():
        assert (g - b[2][name]).abs().max() <= rel * largest, name


@pytest.mark.parametrize(
    ("changes", "frames", "batch"),
    [({}, 49, 2),  # the tiny preset
     (dict(dilation_base=512), 17, 3),  # upstream's dilation rule: 15 at width 32, 7 at 64 (taps in padding)
     (dict(widths=(16, 32), dilation_base=512), 17, 2),  # dilation 31: even the joint taps are padding
     (dict(encoder_chunk_frames=0, decoder_chunk_tokens=0), 25, 1),  # no chunks: one segment
     (dict(blocks_per_stage=1, code_dim=48, codebook_size=64), 9, 2)],  # a single chunk
)
def test_rows_path_equals_the_modules(monkeypatch, changes, frames, batch):
    """The wide CPU path (matrix products over channels-last rows) and the modules' forward
    compute the same encoder outputs, reconstructions and gradients."""
    import sportanim.models.tokenizer as tokenizer_module

    torch.manual_seed(0)
    model = MotionTokenizer(TokenizerConfig(**{**TINY.to_dict(), **changes})).train()
    model.vq.codebook.normal_(0.0, model.config.code_dim ** -0.5)
    x = smooth_clips(batch, frames=frames, seed=3)
    monkeypatch.setattr(tokenizer_module, "GEMM_MIN_WIDTH", 0)
    assert model._rows_path(x)
    rows = _step_results(model, x)
    monkeypatch.setattr(tokenizer_module, "GEMM_MIN_WIDTH", 10**9)
    assert not model._rows_path(x)
    _assert_close_results(rows, _step_results(model, x))


def test_released_sizes_take_the_rows_path_on_the_cpu():
    with torch.device("meta"):
        released = MotionTokenizer(TOKENIZER_PRESETS["mtvcrafter-7b"])
    x = torch.zeros(1, 49, 24, 3)
    assert released._rows_path(x) and not tiny()._rows_path(x)


@pytest.mark.parametrize(("frames", "dilation"), [(4, 7), (8, 15), (9, 3), (2, 1), (5, 24)])
def test_convolution_without_padding_only_taps(frames, dilation):
    from sportanim.models.tokenizer import _conv_inside

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(8, 6, 3, padding=dilation, dilation=dilation)
    x = torch.randn(3, 8, frames, 24, requires_grad=True)
    g = torch.randn(3, 6, frames, 24)
    ref = conv(x)
    ref.backward(g)
    ref_grads = (x.grad.clone(), conv.weight.grad.clone(), conv.bias.grad.clone())
    x.grad = conv.weight.grad = conv.bias.grad = None
    out = _conv_inside(conv, x)
    out.backward(g)
    assert torch.allclose(out, ref, rtol=1e-5, atol=1e-5)
    for got, want in zip((x.grad, conv.weight.grad, conv.bias.grad), ref_grads):
        assert torch.allclose(got, want, rtol=1e-5, atol=1e-5)


def test_upsample_convolves_before_interpolating():
    """Upsample runs its joint convolution on the input frames: the same as interpolating first."""
    from sportanim.models.tokenizer import Upsample

    torch.manual_seed(0)
    up = Upsample(16)
    for frames in (1, 2, 3, 4, 5):
        x = torch.randn(2, 16, frames, 24)
        t = x.shape[2]
        if t % 2:
            rest = torch.nn.functional.interpolate(x[:, :, 1:], size=(2 * (t - 1), 24), mode="bilinear",
                                                   align_corners=True) if t > 1 else x[:, :, 1:]
            y = torch.cat([x[:, :, :1], rest], dim=2)
        else:
            y = torch.nn.functional.interpolate(x, size=(2 * t, 24), mode="bilinear", align_corners=True)
        b, c, t2, j = y.shape
        ref = up.upsampler(y.permute(0, 2, 1, 3).reshape(b * t2, c, j)).reshape(b, t2, c, j).permute(0, 2, 1, 3)
        assert torch.allclose(up(x), ref, rtol=1e-5, atol=1e-5)


def test_codebook_norms_follow_every_change():
    """The nearest-code search keeps ||c||^2 between calls; it must follow EMA steps, re-seeds and loads."""
    model = trained_one_step().train()
    vq = model.vq

    def fresh() -> torch.Tensor:
        return (vq.codebook * vq.codebook).sum(1)

    x = smooth_clips(2, seed=4)
    with torch.no_grad():
        for _ in range(TINY.reset_every + 1):  # EMA steps and one dead-code re-seed
            model(x)
            assert torch.allclose(vq._squared_norms(vq.codebook), fresh(), rtol=1e-6, atol=1e-6)
    state = model.state_dict()
    state["vq.codebook"] = torch.randn_like(state["vq.codebook"])
    model.load_state_dict(state)
    assert torch.allclose(vq._squared_norms(vq.codebook), fresh(), rtol=1e-6, atol=1e-6)
    with torch.no_grad():
        vq.codebook[:3] = 5.0
    assert torch.allclose(vq._squared_norms(vq.codebook), fresh(), rtol=1e-6, atol=1e-6)
    with torch.inference_mode():  # tensors made here have no version counter
        made_here = tiny(seed=5)
        made_here.vq.codebook.normal_()
        ids, _ = made_here.encode(x)
        made_here.vq.codebook.normal_()
        assert not torch.equal(made_here.encode(x)[0], ids)


# ---- input checks


@pytest.mark.parametrize(
    ("shape", "match"),
    [((1, 49, 17, 3), "24"), ((1, 49, 24, 2), "coordinates"), ((49, 24, 3), r"\(B, T, 24, 3\)"),
     ((1, 48, 24, 3), "T=48"), ((1, 45, 24, 3), "T=45"), ((1, 5, 24, 3), "T=5")],
)
def test_bad_shapes_raise(shape, match):
    with pytest.raises(ValueError, match=match):
        tiny().encode(torch.zeros(shape))


def test_non_finite_joints_raise():
    x = smooth_clips(1)
    x[0, 3, 7, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        tiny()(x)
    x[0, 3, 7, 1] = float("inf")
    with pytest.raises(ValueError, match="NaN/inf"):
        tiny().encode(x)


def test_bad_tokens_raise():
    model = tiny()
    with pytest.raises(ValueError, match="T="):  # 12 token frames: no valid clip length
        model.decode(torch.zeros(1, 12 * 24, dtype=torch.long))
    with pytest.raises(ValueError, match="token ids"):
        model.decode(torch.full((1, 13 * 24), TINY.codebook_size))
    with pytest.raises(ValueError, match="decode expects"):
        model.decode(torch.zeros(1, 13 * 24, 7))


def test_config_checks():
    with pytest.raises(ValueError, match="norm_groups"):
        TokenizerConfig(widths=(30, 64), norm_groups=8)
    with pytest.raises(ValueError, match="multiple of 4"):
        TokenizerConfig(encoder_chunk_frames=6)
    with pytest.raises(ValueError, match="widths must hold 2 integer"):
        TokenizerConfig(widths=(32.5, 64))
    with pytest.raises(ValueError, match="codebook_size must be an integer"):
        TokenizerConfig(codebook_size=512.0)
    with pytest.raises(ValueError, match="blocks_per_stage"):
        TokenizerConfig(blocks_per_stage=10**6)
    with pytest.raises(AttributeError):  # frozen: a model's config cannot drift from its config.json
        TINY.codebook_size = 7
    with pytest.raises(TypeError, match="from_config"):
        MotionTokenizer(TINY.to_dict())
    assert MotionTokenizer.from_config(TINY.to_dict(), codebook_size=256).config.codebook_size == 256


# ---- loading: the shipped folder, diffusers' layout, bad files


def test_shipped_tiny_tokenizer_loads_bit_exactly():
    """The shipped folder loads strictly with its tensors unchanged, and encodes/decodes like a
    model assembled by hand from the same two files (plain config fields + load_state_dict)."""
    loaded = MotionTokenizer.from_pretrained(SHIPPED_TINY)
    file_state = load_file(str(SHIPPED_TINY / WEIGHTS_NAME))
    state = loaded.state_dict()
    assert state.keys() == file_state.keys() and len(state) == 101
    for name, tensor in file_state.items():
        assert state[name].dtype == tensor.dtype and torch.equal(state[name], tensor), name
    raw = json.loads((SHIPPED_TINY / CONFIG_NAME).read_text())
    fields = {k: v for k, v in raw.items() if not k.startswith("_")}
    assert loaded.config.to_dict() == fields
    assert not loaded.training and loaded.config == TINY

    by_hand = MotionTokenizer(TokenizerConfig(**fields))
    by_hand.load_state_dict(file_state, strict=True)
    x = smooth_clips(3, seed=11)
    with torch.no_grad():
        ids, emb = loaded.encode(x)
        ids_ref, emb_ref = by_hand.eval().encode(x)
        assert torch.equal(ids, ids_ref) and torch.equal(emb, emb_ref)
        assert torch.equal(loaded.decode(ids), by_hand.decode(ids_ref))
    assert ids.unique().numel() > 1  # a working codebook, not one code for everything


def test_diffusers_layout_variant_and_dtype(tmp_path):
    model = trained_one_step(seed=3)
    # Plain ModelMixin.save_pretrained writes diffusion_pytorch_model.safetensors: it loads too.
    ModelMixin.save_pretrained(model, tmp_path / "diffusers")
    loaded = MotionTokenizer.from_pretrained(tmp_path / "diffusers")
    assert loaded.config == model.config
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    assert MotionTokenizer.from_config(MotionTokenizer.load_config(tmp_path / "diffusers")).config == model.config

    model.to(torch.bfloat16).save_pretrained(tmp_path / "parent" / "tokenizer", variant="bf16")
    assert (tmp_path / "parent" / "tokenizer" / "model.bf16.safetensors").is_file()
    half = MotionTokenizer.from_pretrained(tmp_path / "parent", subfolder="tokenizer", variant="bf16",
                                           torch_dtype=torch.bfloat16)
    upcast = MotionTokenizer.from_pretrained(tmp_path / "parent" / "tokenizer", variant="bf16")
    assert half.dtype == torch.bfloat16 and upcast.dtype == torch.float32
    for name, tensor in model.state_dict().items():
        assert torch.equal(half.state_dict()[name], tensor) and torch.equal(upcast.state_dict()[name], tensor.float())


def write_folder(folder: Path, **config_changes) -> Path:
    """A tiny save_pretrained folder whose config.json then gets ``config_changes``."""
    tiny().save_pretrained(folder)
    raw = json.loads((folder / CONFIG_NAME).read_text())
    (folder / CONFIG_NAME).write_text(json.dumps({**raw, **config_changes}))
    return folder


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"codebook_size": 10**9}, "codebook_size"),  # a (1e9, 64) codebook: 256 GB
     ({"widths": [2**20, 2**20]}, "widths"),  # 1M-channel convolutions: ~0.5 PB
     ({"code_dim": 2**62}, "code_dim")],  # beyond int64 once multiplied
)
def test_implausible_config_is_refused_before_allocating(tmp_path, changes, field):
    folder = write_folder(tmp_path / "tok", **changes)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=rf"config\.json.*{field}") as err:
        MotionTokenizer.from_pretrained(folder)
    assert time.perf_counter() - start < 5.0  # built on the meta device: no terabyte allocation
    assert str(MAX_VALUES) in str(err.value).replace(",", "") or "too large to build" in str(err.value)


def test_bad_folders_name_the_file(tmp_path):
    folder = write_folder(tmp_path / "tok")
    weights = folder / WEIGHTS_NAME
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"model\.safetensors: not a readable safetensors file"):
        MotionTokenizer.from_pretrained(folder)
    weights.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match=r"model\.safetensors: not a readable safetensors file"):
        MotionTokenizer.from_pretrained(folder)
    weights.unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        MotionTokenizer.from_pretrained(folder)

    # Weights of another config: refused from the file header, naming the first tensor.
    folder = write_folder(tmp_path / "wide", widths=[32, 128])
    with pytest.raises(ValueError, match=r"model\.safetensors: shape mismatch for 'encoder\.resnet2"):
        MotionTokenizer.from_pretrained(folder)
    with pytest.raises(ValueError, match=r"config\.json: unknown tokenizer config keys \['codebook'\]"):
        MotionTokenizer.from_pretrained(write_folder(tmp_path / "typo", codebook=512))
    with pytest.raises(ValueError, match=r"config\.json: a config for MVDiT"):
        MotionTokenizer.from_pretrained(write_folder(tmp_path / "dit", _class_name="MVDiT"))
    with pytest.raises(FileNotFoundError, match=r"config\.json not found"):
        MotionTokenizer.from_pretrained(tmp_path / "nothing")
    with pytest.raises(ValueError, match="unknown tokenizer config keys"):
        MotionTokenizer.from_config({**TINY.to_dict(), "codebook": 512})


# ---- learning


def test_tiny_overfits_a_few_clips():
    model = tiny().train()
    x = smooth_clips(4, frames=25)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(40):
        out = model(x)
        recon = (out.recon - x).abs().mean()
        first = recon.item() if first is None else first
        opt.zero_grad()
        (recon + 0.5 * out.commit_loss).backward()
        opt.step()
    with torch.no_grad():
        final = (model.eval()(x).recon - x).abs().mean().item()
    assert final < 0.7 * first, f"L1 {first:.3f} -> {final:.3f}: ratio {final / first:.2f} >= 0.7"
