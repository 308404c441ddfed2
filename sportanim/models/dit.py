"""MV-DiT: MTVCrafter's motion-aware video DiT (a CogVideoX transformer with 4D motion attention).

Noisy video latents and the reference image's latents (concatenated on channels) are denoised
under a timestep and a sequence of motion tokens from the 4DMoT tokenizer:

    latents (B, F, C, H, W) ++ reference (B, F, C, H, W) -> (B, F, 2C, H, W)
        -> 2x2 patches (B, F * H/2 * W/2, D) -> blocks -> (B, F, C_out, H, W) (v-prediction)
    motion tokens (B, N = 13 * 24, D_m), or the learnable unconditional tokens (N, D_m)

Each block (named as upstream, so the released checkpoint's tensor names load as they are):
  1. ``norm1`` AdaLN-zero (shift/scale/gate from the timestep) -> ``attn1`` self-attention over the
     video tokens, 3D RoPE on queries and keys -> gated residual;
  2. ``attn0`` "4D motion attention": the video tokens (not normalised) query the motion
     tokens; queries carry the video's 3D RoPE, keys a 4D RoPE -> plain residual (no gate);
  3. ``norm2`` AdaLN-zero -> ``ff`` GELU-tanh MLP (4x) -> gated residual.
Both attentions LayerNorm their queries and keys per head (eps 1e-6), as CogVideoX does.

RoPE, per attention head of ``d`` dims (d = 64 at 7B):
- video tokens (CogVideoX): ``d/4`` dims for the latent frame index, ``3d/8`` each for the patch
  row and column;
- motion tokens (4D): ``d/4`` for the token frame index, then ``d/4`` each for x, y, z, where a
  joint's position is its global mean position (mm, ``mean.npy`` of the normalisation
  statistics) minus the mean over joints, the same for every frame. Token ``n * J + j`` is
  joint ``j`` at token frame ``n`` (the tokenizer's order).

Text: the released checkpoint keeps CogVideoX's ``patch_embed.text_proj`` (4096 -> 3072) but
upstream never feeds text, so neither do we; the layer is loaded, frozen and unused.

Motion keys/values do not depend on the latents or the timestep, so a sampler can compute them
once per generation with ``prepare_motion_kv`` and pass ``motion_kv=`` at every step.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.loaders import PeftAdapterMixin
from diffusers.models.attention import Attention, AttentionMixin, FeedForward
from diffusers.models.attention_processor import CogVideoXAttnProcessor2_0
from diffusers.models.embeddings import (
    CogVideoXPatchEmbed,
    TimestepEmbedding,
    Timesteps,
    apply_rotary_emb,
    get_1d_rotary_pos_embed,
    get_3d_rotary_pos_embed,
)
from diffusers.models.modeling_outputs import Transformer2DModelOutput
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.normalization import AdaLayerNorm, CogVideoXLayerNormZero
from diffusers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFETENSORS_WEIGHTS_NAME, is_accelerate_available
from safetensors import SafetensorError, safe_open
from torch import nn

from sportanim.models.step_cache import FirstBlockCache

Rope = tuple[torch.Tensor, torch.Tensor]  # (cos, sin), each (S, head_dim)

# MTVCrafter's global per-joint mean (upstream ``data/mean.npy``, SMPL-24 order, camera space,
# mm, float32 to 9 digits). Only its centred copy is used: the 4D RoPE positions of the joints.
MTVCRAFTER_JOINT_MEAN_MM: tuple[tuple[float, float, float], ...] = (
    (0.766179502, 202.141144, 1821.56055), (38.4271622, 270.505707, 1819.4021),
    (-37.7532921, 274.859711, 1822.84851), (2.62031364, 120.503372, 1843.11401),
    (86.3089523, 497.477661, 1725.66956), (-90.2941589, 499.199677, 1749.36462),
    (5.65538645, 17.2316551, 1820.70483), (98.1132278, 794.987793, 1795.54382),
    (-87.5322952, 791.902466, 1814.32556), (4.75220156, -21.2860374, 1807.34412),
    (119.415962, 847.067078, 1732.97461), (-108.828102, 846.760742, 1747.20874),
    (-1.67238033, -190.387161, 1819.38879), (52.9516716, -114.818253, 1809.15112),
    (-46.8467865, -113.48391, 1824.11719), (2.47558594, -243.52774, 1771.35559),
    (116.822464, -127.42289, 1798.81274), (-106.873253, -128.943512, 1822.77173),
    (169.183243, 17.0569344, 1764.58618), (-169.10173, 8.67445087, 1806.14697),
    (139.088562, 41.2806282, 1697.07214), (-150.576401, 25.627058, 1724.5094),
    (127.271553, 47.9299545, 1677.77441), (-145.474625, 29.4813061, 1700.7124),
)

DIT_PRESETS: dict[str, dict[str, Any]] = {
    # The released MV-DiT-7B (``/work/shared/reference/mvdit7b_config.json``): CogVideoX-5B's
    # transformer, 42 blocks of 48 heads x 64, 7,157,411,904 parameters. Latents: 16 channels
    # from CogVideoX's VAE (8x space, 4x time), 49 frames at 512x512 -> (13, 16, 64, 64);
    # in_channels 32 = noisy + reference latents. sample_* are CogVideoX's defaults (only used
    # by sin-cos position embeddings, which RoPE replaces). Motion tokens: (312, 3072).
    "mtvcrafter-7b": dict(
        num_attention_heads=48, attention_head_dim=64, in_channels=32, out_channels=16,
        flip_sin_to_cos=True, freq_shift=0, time_embed_dim=512, text_embed_dim=4096,
        num_layers=42, dropout=0.0, attention_bias=True, sample_width=90, sample_height=60,
        sample_frames=49, patch_size=2, temporal_compression_ratio=4, max_text_seq_length=226,
        activation_fn="gelu-approximate", timestep_activation_fn="silu",
        norm_elementwise_affine=True, norm_eps=1e-5, spatial_interpolation_scale=1.875,
        temporal_interpolation_scale=1.0, use_rotary_positional_embeddings=True,
    ),
    # CPU-sized, same topology (400,208 parameters): 4 blocks of 4 heads x 16 (the smallest head
    # that splits into the RoPE parts 4/6/6 and 4/4/4/4), a 4-channel VAE latent (+4 reference),
    # 64x64 video with an 8x VAE -> 8x8 latents (16 patches a frame), 49 frames -> 13 latent
    # frames (208 video tokens), motion tokens (312, 64) from TOKENIZER_PRESETS["tiny"]. Half
    # the blocks and heads (90,000 parameters) learnt the pictures but not to follow the motion
    # (benchmarks/tiny_base.py: 0.55 of joints on the body, against 0.73 for this size).
    "tiny": dict(
        num_attention_heads=4, attention_head_dim=16, in_channels=8, out_channels=4,
        time_embed_dim=32, text_embed_dim=16, num_layers=4, sample_width=8, sample_height=8,
        sample_frames=49, motion_embed_dim=64, use_rotary_positional_embeddings=True,
    ),
}


# --------------------------------------------------------------------------- rotary embeddings


def video_rotary_emb(head_dim: int, frames: int, rows: int, cols: int, device=None) -> Rope:
    """CogVideoX's 3D RoPE over a (frames, rows, cols) patch grid, token order frame-major.
    Returns (cos, sin), each ``(frames * rows * cols, head_dim)``, float32."""
    return get_3d_rotary_pos_embed(
        embed_dim=head_dim, crops_coords=((0, 0), (rows, cols)), grid_size=(rows, cols),
        temporal_size=frames, device=device,
    )


def motion_rotary_emb(head_dim: int, token_frames: int, joint_positions: torch.Tensor) -> Rope:
    """4D RoPE of motion tokens: ``head_dim/4`` dims for the token frame, then ``head_dim/4`` each
    for the centred joint x, y, z. ``joint_positions`` (J, 3) in mm (centred here).
    Returns (cos, sin), each ``(token_frames * J, head_dim)``, float32, token ``n * J + j``."""
    part = head_dim // 4
    num_joints = joint_positions.shape[0]
    pos = joint_positions.float() - joint_positions.float().mean(dim=0, keepdim=True)  # (J, 3)
    frame_idx = torch.arange(token_frames, dtype=torch.float32, device=pos.device)
    t_cos, t_sin = get_1d_rotary_pos_embed(part, frame_idx, use_real=True)  # (T, part)
    xyz = [get_1d_rotary_pos_embed(part, pos[:, a], use_real=True) for a in range(3)]  # 3 x (J, part)
    s_cos = torch.cat([c for c, _ in xyz], dim=-1)  # (J, 3 * part)
    s_sin = torch.cat([s for _, s in xyz], dim=-1)

    def tile(t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        t = t[:, None].expand(-1, num_joints, -1)  # (T, J, part)
        s = s[None].expand(token_frames, -1, -1)  # (T, J, 3 * part)
        return torch.cat([t, s], dim=-1).reshape(token_frames * num_joints, head_dim)

    return tile(t_cos, s_cos), tile(t_sin, s_sin)


# --------------------------------------------------------------------------- motion attention


@dataclass
class MotionKV:
    """Per-block motion keys (norm + 4D RoPE applied) and values, each ``(B, heads, N, head_dim)``.
    Made by ``MVDiT.prepare_motion_kv``; valid for one model, batch and dtype."""

    layers: tuple[tuple[torch.Tensor, torch.Tensor], ...]

    @property
    def batch_size(self) -> int:
        return self.layers[0][0].shape[0]


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``(B, S, heads * d) -> (B, heads, S, d)``."""
    return x.unflatten(-1, (heads, -1)).transpose(1, 2)


def motion_keys_values(attn: Attention, motion: torch.Tensor, rope: Rope) -> tuple[torch.Tensor, ...]:
    """Keys and values of ``attn`` for motion tokens ``(B, N, D_m)``: ``(B, heads, N, d)`` each."""
    key = _split_heads(attn.to_k(motion), attn.heads)
    value = _split_heads(attn.to_v(motion), attn.heads)
    if attn.norm_k is not None:
        key = attn.norm_k(key)
    return apply_rotary_emb(key, rope), value


class MotionAttnProcessor:
    """``attn0``: video queries (3D RoPE) attend to motion keys (4D RoPE); no mask, no text.
    Takes the motion tokens (``encoder_hidden_states``, with ``motion_rotary_emb``) or their
    precomputed ``motion_kv`` = (keys, values) of this layer."""

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        image_rotary_emb: Rope | None = None,
        motion_rotary_emb: Rope | None = None,
        motion_kv: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        if attention_mask is not None:
            raise ValueError("motion attention takes no attention mask")
        if motion_kv is None:
            key, value = motion_keys_values(attn, encoder_hidden_states, motion_rotary_emb)
        else:
            key, value = motion_kv
        query = _split_heads(attn.to_q(hidden_states), attn.heads)  # (B, heads, S, d)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        query = apply_rotary_emb(query, image_rotary_emb)
        out = F.scaled_dot_product_attention(query, key.to(query.dtype), value.to(query.dtype))
        out = out.transpose(1, 2).flatten(2)  # (B, S, heads * d)
        return attn.to_out[1](attn.to_out[0](out))


# --------------------------------------------------------------------------- block


class MVDiTBlock(nn.Module):
    """AdaLN-zero self-attention, ungated motion cross-attention, AdaLN-zero MLP.
    ``(B, S, D) -> (B, S, D)`` for S video tokens."""

    def __init__(
        self,
        dim: int,
        num_attention_heads: int,
        attention_head_dim: int,
        time_embed_dim: int,
        motion_embed_dim: int,
        dropout: float = 0.0,
        activation_fn: str = "gelu-approximate",
        attention_bias: bool = True,
        norm_elementwise_affine: bool = True,
        norm_eps: float = 1e-5,
    ):
        super().__init__()
        heads = dict(dim_head=attention_head_dim, heads=num_attention_heads, qk_norm="layer_norm",
                     eps=1e-6, bias=attention_bias, out_bias=True)
        self.attn0 = Attention(query_dim=dim, cross_attention_dim=motion_embed_dim,
                               processor=MotionAttnProcessor(), **heads)
        self.norm1 = CogVideoXLayerNormZero(time_embed_dim, dim, norm_elementwise_affine, norm_eps)
        self.attn1 = Attention(query_dim=dim, processor=CogVideoXAttnProcessor2_0(), **heads)
        self.norm2 = CogVideoXLayerNormZero(time_embed_dim, dim, norm_elementwise_affine, norm_eps)
        self.ff = FeedForward(dim, dropout=dropout, activation_fn=activation_fn, final_dropout=True)

    def forward(
        self,
        hidden_states: torch.Tensor,  # (B, S, D)
        temb: torch.Tensor,  # (B, time_embed_dim)
        image_rotary_emb: Rope,  # (S, d) x 2
        motion_tokens: torch.Tensor | None = None,  # (B, N, D_m); or motion_kv
        motion_rotary_emb: Rope | None = None,  # (N, d) x 2
        motion_kv: tuple[torch.Tensor, torch.Tensor] | None = None,  # (B, heads, N, d) x 2
    ) -> torch.Tensor:
        no_text = hidden_states[:, :0]  # CogVideoX's blocks carry text tokens; MV-DiT has none
        # 1. Self-attention over the video tokens (3D RoPE), gated
        normed, _, gate, _ = self.norm1(hidden_states, no_text, temb)
        attended, _ = self.attn1(normed, encoder_hidden_states=no_text, image_rotary_emb=image_rotary_emb)
        hidden_states = hidden_states + gate * attended
        # 2. 4D motion attention on the un-normalised stream, ungated
        hidden_states = hidden_states + self.attn0(
            hidden_states, encoder_hidden_states=motion_tokens, image_rotary_emb=image_rotary_emb,
            motion_rotary_emb=motion_rotary_emb, motion_kv=motion_kv,
        )
        # 3. Feed-forward, gated
        normed, _, gate, _ = self.norm2(hidden_states, no_text, temb)
        return hidden_states + gate * self.ff(normed)


# --------------------------------------------------------------------------- checkpoints


def checkpoint_shapes(folder: Path, variant: str | None = None) -> dict[str, list[int]] | None:
    """Tensor names and shapes of a diffusers-layout safetensors checkpoint (one file or an
    indexed set of shards), read from the file headers only; None when there is none."""
    def named(name: str) -> str:
        return name.replace(".safetensors", f".{variant}.safetensors") if variant else name

    index = folder / named(SAFE_WEIGHTS_INDEX_NAME)
    if index.is_file():
        files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    elif (folder / named(SAFETENSORS_WEIGHTS_NAME)).is_file():
        files = [named(SAFETENSORS_WEIGHTS_NAME)]
    else:
        return None
    shapes: dict[str, list[int]] = {}
    for file in files:
        try:
            with safe_open(folder / file, framework="pt") as f:
                shapes.update({k: list(f.get_slice(k).get_shape()) for k in f.keys()})
        except SafetensorError as err:
            raise ValueError(f"{folder / file}: not a readable safetensors file, truncated or corrupt ({err}); "
                             "copy or save the weights again") from None
    return shapes


# Bounds on a config.json's structure, checked before the model is built even on the meta
# device (100,000 layers take minutes to build there). Far above any released model: MV-DiT-7B
# has 42 layers of 48 heads x 64; the CogVideoX VAE 4 blocks of <= 512 channels, 3 layers each.
CONFIG_LIMITS = {"num_layers": 512, "layers_per_block": 64, "num_attention_heads": 1024,
                 "attention_head_dim": 1024, "latent_channels": 4096, "in_channels": 8192,
                 "out_channels": 8192}
MAX_CONFIG_LIST = 32  # entries of a list field such as block_out_channels
MAX_CONFIG_WIDTH = 65536  # any number in a list field (a channel width)


def check_config_size(folder: Path, config: dict[str, Any]) -> None:
    """Raise a ValueError naming ``folder``'s config.json and the field when the config
    describes a model no machine here could build (a typo'd extra digit, or a hostile file)."""
    for key, value in config.items():
        limit = CONFIG_LIMITS.get(key)
        if limit is not None and isinstance(value, int) and value > limit:
            raise ValueError(f"{folder / 'config.json'}: {key} {value} is above {limit}; not a model this "
                             "loader builds (check the file)")
        if isinstance(value, (list, tuple)) and (len(value) > MAX_CONFIG_LIST or any(
                isinstance(v, int) and v > MAX_CONFIG_WIDTH for v in value)):
            raise ValueError(f"{folder / 'config.json'}: {key} {str(value)[:80]} has more than {MAX_CONFIG_LIST} "
                             f"entries or a width above {MAX_CONFIG_WIDTH}; not a model this loader builds")


def check_checkpoint(
    cls: type[ModelMixin], folder: Path, overrides: dict[str, Any], variant: str | None = None
) -> None:
    """Raise a ValueError naming the first tensor of ``folder``'s checkpoint that is missing,
    extra or shaped unlike the model ``folder/config.json`` (with ``overrides``) builds."""
    found = checkpoint_shapes(folder, variant)
    if found is None or not (folder / "config.json").is_file():
        return  # nothing to compare here; the loader reports what is missing
    config = cls.load_config(folder)
    if not isinstance(config, dict):
        raise ValueError(f"{folder / 'config.json'}: expected a JSON object of model settings, "
                         f"got {type(config).__name__}")
    check_config_size(folder, {**config, **overrides})
    try:
        with torch.device("meta"):
            model = cls.from_config(config, **overrides)
    except (TypeError, ValueError, RuntimeError, OverflowError, AssertionError, ZeroDivisionError) as err:
        # a value of the wrong type or sign fails deep inside torch or diffusers
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{folder / 'config.json'}: describes no {cls.__name__} that can be built "
                         f"({first[:200]}); check the file") from None
    want = {k: list(v.shape) for k, v in model.state_dict().items()}
    problems = [  # in the model's order, then the checkpoint's extras
        f"{k!r} is missing" if k not in found
        else f"{k!r} is {found[k]} in the checkpoint but {shape} in the model"
        for k, shape in want.items() if found.get(k) != shape
    ] + [f"{k!r} is not a tensor of the model" for k in found if k not in want]
    if problems:
        raise ValueError(
            f"checkpoint {folder} does not fit the {cls.__name__} its config.json describes"
            f"{' (with overrides ' + str(overrides) + ')' if overrides else ''}: first, {problems[0]} "
            f"({len(problems)} problems in all). Keep each checkpoint's weights with the config.json "
            f"saved beside them (save_pretrained writes both)."
        )


# --------------------------------------------------------------------------- model


class MVDiT(ModelMixin, AttentionMixin, ConfigMixin, PeftAdapterMixin):
    """MTVCrafter's MV-DiT. The arguments are CogVideoX's transformer config (the released
    ``config.json``) plus four motion settings that the release leaves at their defaults.

    Args:
        num_attention_heads: heads per attention; width D = heads * head dim (7B: 48).
        attention_head_dim: dims per head; a multiple of 16 for the RoPE splits (7B: 64).
        in_channels: latent channels in, noisy + reference (7B: 16 + 16).
        out_channels: latent channels predicted (7B: 16).
        flip_sin_to_cos: timestep sinusoid order (cos first).
        freq_shift: timestep sinusoid frequency shift.
        time_embed_dim: width of the timestep embedding feeding the AdaLN layers (7B: 512).
        text_embed_dim: input width of the unused ``patch_embed.text_proj`` (7B: 4096, T5-XXL).
        num_layers: transformer blocks (7B: 42).
        dropout: dropout in the MLP and after the patch embedding.
        attention_bias: biases on the q/k/v projections.
        sample_width: latent width of CogVideoX's sin-cos position table (unused with RoPE).
        sample_height: latent height of that table (unused with RoPE).
        sample_frames: pixel frames of that table (unused with RoPE).
        patch_size: spatial patch size (7B: 2).
        temporal_compression_ratio: the VAE's time compression (for that table).
        max_text_seq_length: text slots of that table (unused).
        activation_fn: MLP activation ("gelu-approximate" = GELU-tanh).
        timestep_activation_fn: activation inside the timestep MLP.
        norm_elementwise_affine: affine LayerNorms in the AdaLN layers and the final norm.
        norm_eps: epsilon of those LayerNorms.
        spatial_interpolation_scale: sin-cos table setting (unused with RoPE).
        temporal_interpolation_scale: sin-cos table setting (unused with RoPE).
        use_rotary_positional_embeddings: must be True: MV-DiT's attentions are built on RoPE.
        motion_embed_dim: width of a motion token, the tokenizer's code dim (None: D, as at 7B).
        num_motion_tokens: motion tokens per clip, token frames x joints (7B: 13 x 24 = 312).
        num_joints: joints per token frame (SMPL-24).
        joint_positions: (num_joints, 3) mean joint positions in mm for the 4D RoPE
            (None: MTVCrafter's ``mean.npy``, ``MTVCRAFTER_JOINT_MEAN_MM``).
    """

    _supports_gradient_checkpointing = True
    _skip_layerwise_casting_patterns = ["patch_embed", "norm"]
    _no_split_modules = ["MVDiTBlock", "CogVideoXPatchEmbed"]

    @register_to_config
    def __init__(
        self,
        num_attention_heads: int = 48,
        attention_head_dim: int = 64,
        in_channels: int = 32,
        out_channels: int = 16,
        flip_sin_to_cos: bool = True,
        freq_shift: int = 0,
        time_embed_dim: int = 512,
        text_embed_dim: int = 4096,
        num_layers: int = 42,
        dropout: float = 0.0,
        attention_bias: bool = True,
        sample_width: int = 90,
        sample_height: int = 60,
        sample_frames: int = 49,
        patch_size: int = 2,
        temporal_compression_ratio: int = 4,
        max_text_seq_length: int = 226,
        activation_fn: str = "gelu-approximate",
        timestep_activation_fn: str = "silu",
        norm_elementwise_affine: bool = True,
        norm_eps: float = 1e-5,
        spatial_interpolation_scale: float = 1.875,
        temporal_interpolation_scale: float = 1.0,
        use_rotary_positional_embeddings: bool = True,
        motion_embed_dim: int | None = None,
        num_motion_tokens: int = 312,
        num_joints: int = 24,
        joint_positions: list[list[float]] | None = None,
    ):
        super().__init__()
        inner_dim = num_attention_heads * attention_head_dim
        motion_dim = motion_embed_dim or inner_dim
        self._check_config(attention_head_dim, use_rotary_positional_embeddings, num_motion_tokens, num_joints)
        positions = joint_positions if joint_positions is not None else MTVCRAFTER_JOINT_MEAN_MM
        if [len(row) for row in positions] != [3] * num_joints:
            raise ValueError(f"joint_positions must be {num_joints} rows of (x, y, z) in mm, "
                             f"got {positions!r:.80}")

        # Replaces the motion tokens in the unconditional branch of classifier-free guidance.
        self.unconditional_motion_token = nn.Parameter(torch.randn(num_motion_tokens, motion_dim))

        # 1. Patch embedding (text_proj is kept for the checkpoint, never run, frozen)
        self.patch_embed = CogVideoXPatchEmbed(
            patch_size=patch_size, in_channels=in_channels, embed_dim=inner_dim,
            text_embed_dim=text_embed_dim, bias=True, sample_width=sample_width,
            sample_height=sample_height, sample_frames=sample_frames,
            temporal_compression_ratio=temporal_compression_ratio,
            max_text_seq_length=max_text_seq_length,
            spatial_interpolation_scale=spatial_interpolation_scale,
            temporal_interpolation_scale=temporal_interpolation_scale,
            use_positional_embeddings=False, use_learned_positional_embeddings=False,
        )
        self.patch_embed.text_proj.requires_grad_(False)
        self.embedding_dropout = nn.Dropout(dropout)

        # 2. Timestep embedding: sinusoid of width D -> MLP -> time_embed_dim
        self.time_proj = Timesteps(inner_dim, flip_sin_to_cos, freq_shift)
        self.time_embedding = TimestepEmbedding(inner_dim, time_embed_dim, timestep_activation_fn)

        # 3. Blocks
        self.transformer_blocks = nn.ModuleList([
            MVDiTBlock(inner_dim, num_attention_heads, attention_head_dim, time_embed_dim, motion_dim,
                       dropout, activation_fn, attention_bias, norm_elementwise_affine, norm_eps)
            for _ in range(num_layers)
        ])
        self.norm_final = nn.LayerNorm(inner_dim, norm_eps, norm_elementwise_affine)

        # 4. Output: AdaLN (shift, scale) then a linear map back to p x p x C_out patches
        self.norm_out = AdaLayerNorm(embedding_dim=time_embed_dim, output_dim=2 * inner_dim,
                                     norm_elementwise_affine=norm_elementwise_affine,
                                     norm_eps=norm_eps, chunk_dim=1)
        self.proj_out = nn.Linear(inner_dim, patch_size * patch_size * out_channels)
        self.gradient_checkpointing = False

    @staticmethod
    def _check_config(head_dim: int, use_rope: bool, num_motion_tokens: int, num_joints: int) -> None:
        if not use_rope:
            raise ValueError("MV-DiT needs use_rotary_positional_embeddings=True (its attentions use RoPE)")
        if head_dim % 16:
            raise ValueError(f"attention_head_dim must be a multiple of 16 (RoPE splits), got {head_dim}")
        if num_joints < 1 or num_motion_tokens % num_joints:
            raise ValueError(f"num_motion_tokens={num_motion_tokens} must be a multiple of "
                             f"num_joints={num_joints}")

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "MVDiT":
        """A freshly initialised model of ``DIT_PRESETS[name]``, with config overrides."""
        if name not in DIT_PRESETS:
            raise ValueError(f"unknown MV-DiT preset {name!r}; choose from {sorted(DIT_PRESETS)}")
        return cls(**{**DIT_PRESETS[name], **overrides})

    # ---- loading

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, **kwargs: Any) -> "MVDiT":
        """``ModelMixin.from_pretrained`` made strict: a local checkpoint whose tensors do not fit
        the model its ``config.json`` (plus config overrides in ``kwargs``) describes raises a
        ValueError naming the first missing, extra or mis-shaped tensor, before any weight is read;
        missing or unexpected tensors reported by the loader raise too (it only warns)."""
        folder = Path(pretrained_model_name_or_path, kwargs.get("subfolder") or "")
        if folder.is_dir():
            init_args = inspect.signature(cls.__init__).parameters
            overrides = {k: v for k, v in kwargs.items() if k in init_args}
            check_checkpoint(cls, folder, overrides, kwargs.get("variant"))
        kwargs.setdefault("low_cpu_mem_usage", is_accelerate_available())  # no warning without accelerate
        want_info = kwargs.pop("output_loading_info", False)
        model, info = super().from_pretrained(pretrained_model_name_or_path, output_loading_info=True, **kwargs)
        for kind in ("missing_keys", "unexpected_keys", "mismatched_keys"):
            if info.get(kind):
                raise ValueError(
                    f"{pretrained_model_name_or_path}: {len(info[kind])} {kind.replace('_', ' ')}, first "
                    f"{info[kind][0]!r}; the weights do not belong to this config"
                )
        return (model, info) if want_info else model

    @property
    def motion_dim(self) -> int:
        return self.unconditional_motion_token.shape[1]

    # ---- motion inputs

    def motion_inputs(
        self,
        motion_tokens: torch.Tensor | None,
        batch_size: int,
        motion_drop_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The motion tokens the blocks read, ``(B, N, D_m)``: ``motion_tokens`` (B, N, D_m) as
        given, the unconditional tokens where it is None, and per-sample swapped to them where
        ``motion_drop_mask`` (B,) is True (classifier-free guidance training)."""
        uncond = self.unconditional_motion_token[None].expand(batch_size, -1, -1)
        if motion_tokens is None:
            return uncond
        want = (batch_size, *self.unconditional_motion_token.shape)
        if tuple(motion_tokens.shape) != want:
            raise ValueError(
                f"motion_tokens must be (B, N, D_m) = {want} (N = token frames x {self.config.num_joints} "
                f"joints, D_m = the tokenizer's code dim), got {tuple(motion_tokens.shape)}"
            )
        motion_tokens = motion_tokens.to(uncond.dtype)
        if motion_drop_mask is None:
            return motion_tokens
        if tuple(motion_drop_mask.shape) != (batch_size,):
            raise ValueError(f"motion_drop_mask must be ({batch_size},), got {tuple(motion_drop_mask.shape)}")
        return torch.where(motion_drop_mask.bool().to(uncond.device)[:, None, None], uncond, motion_tokens)

    def motion_rotary_emb(self, num_tokens: int, device: torch.device | None = None) -> Rope:
        """4D RoPE (cos, sin), each ``(num_tokens, head_dim)``, of the configured joints.
        Positions come from the config as float32, never in the model's dtype (bf16
        would round a joint at 800 mm to 4 mm)."""
        cfg = self.config
        positions = torch.tensor(cfg.joint_positions or MTVCRAFTER_JOINT_MEAN_MM, device=device)
        return motion_rotary_emb(cfg.attention_head_dim, num_tokens // cfg.num_joints, positions)

    def prepare_motion_kv(
        self,
        motion_tokens: torch.Tensor | None = None,
        batch_size: int | None = None,
        motion_drop_mask: torch.Tensor | None = None,
    ) -> MotionKV:
        """Every block's motion keys and values, to reuse across diffusion steps with
        ``forward(..., motion_kv=...)``; equal to passing ``motion_tokens`` each step.
        ``motion_tokens`` (B, N, D_m) or None (unconditional; then ``batch_size`` is needed)."""
        if motion_tokens is None and batch_size is None:
            raise ValueError("prepare_motion_kv needs motion_tokens, or a batch_size (unconditional)")
        batch = motion_tokens.shape[0] if motion_tokens is not None else batch_size
        motion = self.motion_inputs(motion_tokens, batch, motion_drop_mask)
        rope = self.motion_rotary_emb(motion.shape[1], motion.device)
        return MotionKV(tuple(motion_keys_values(b.attn0, motion, rope) for b in self.transformer_blocks))

    # ---- forward

    def _check_latents(self, hidden_states: torch.Tensor, reference: torch.Tensor | None) -> torch.Tensor:
        """Concatenate the reference latents on channels and check the result. -> (B, F, C_in, H, W)"""
        if hidden_states.ndim != 5:
            raise ValueError(f"hidden_states must be (B, F, C, H, W), got {tuple(hidden_states.shape)}")
        if reference is not None:
            if reference.ndim != 5 or [*reference.shape[:2], *reference.shape[3:]] != [
                *hidden_states.shape[:2], *hidden_states.shape[3:]
            ]:
                raise ValueError(
                    f"reference_latents {tuple(reference.shape)} must match hidden_states "
                    f"{tuple(hidden_states.shape)} on every axis but channels (B, F, C, H, W)"
                )
            hidden_states = torch.cat([hidden_states, reference.to(hidden_states.dtype)], dim=2)
        b, f, c, h, w = hidden_states.shape
        p = self.config.patch_size
        if c != self.config.in_channels:
            raise ValueError(f"latent channels {c} (noisy + reference) != in_channels "
                             f"{self.config.in_channels}")
        if h % p or w % p:
            raise ValueError(f"latent height and width ({h}, {w}) must be multiples of patch_size {p}")
        return hidden_states

    def _motion_conditioning(
        self, motion_tokens: torch.Tensor | None, motion_kv: MotionKV | None,
        motion_drop_mask: torch.Tensor | None, batch_size: int,
    ) -> tuple[torch.Tensor | None, Rope | None]:
        """(B, N, D_m) motion tokens and their 4D RoPE, or (None, None) when ``motion_kv`` is used."""
        if motion_kv is None:
            motion_tokens = self.motion_inputs(motion_tokens, batch_size, motion_drop_mask)
            return motion_tokens, self.motion_rotary_emb(motion_tokens.shape[1], motion_tokens.device)
        if motion_tokens is not None or motion_drop_mask is not None:
            raise ValueError("pass motion_kv or motion_tokens/motion_drop_mask, not both")
        if motion_kv.batch_size != batch_size or len(motion_kv.layers) != len(self.transformer_blocks):
            raise ValueError(
                f"motion_kv holds {len(motion_kv.layers)} layers for batch {motion_kv.batch_size}; "
                f"this call needs {len(self.transformer_blocks)} layers for batch {batch_size}"
            )
        return None, None

    def forward(
        self,
        hidden_states: torch.Tensor,
        timestep: torch.Tensor | int | float,
        motion_tokens: torch.Tensor | None = None,
        reference_latents: torch.Tensor | None = None,
        motion_kv: MotionKV | None = None,
        motion_drop_mask: torch.Tensor | None = None,
        return_dict: bool = True,
        step_cache: FirstBlockCache | None = None,
    ) -> Transformer2DModelOutput | tuple[torch.Tensor]:
        """Predict the denoising target (v at 7B) of noisy video latents.

        Args:
            hidden_states: (B, F, C, H, W) noisy latents, or noisy ++ reference on channels
                when ``reference_latents`` is None (C = in_channels).
            timestep: (B,) or a scalar, diffusion timesteps (0..999).
            motion_tokens: (B, N, D_m) tokenizer embeddings; None: the learnable unconditional
                tokens for the whole batch.
            reference_latents: (B, F, C_ref, H, W) the reference image's latents, repeated over
                frames; appended after the noisy latents on channels.
            motion_kv: from ``prepare_motion_kv``, instead of ``motion_tokens``.
            motion_drop_mask: (B,) bool, True: use the unconditional tokens for that sample.
            return_dict: a ``Transformer2DModelOutput`` (``.sample``) or a 1-tuple.
            step_cache: a ``sportanim.models.step_cache.FirstBlockCache`` (inference): the
                blocks after the first are skipped when its residual barely changed.
        Returns:
            ``sample`` (B, F, C_out, H, W).
        """
        # 0. Inputs and rotary embeddings
        hidden_states = self._check_latents(hidden_states, reference_latents)
        b, f, _, h, w = hidden_states.shape
        p = self.config.patch_size
        motion_tokens, motion_rope = self._motion_conditioning(motion_tokens, motion_kv, motion_drop_mask, b)
        video_rope = video_rotary_emb(self.config.attention_head_dim, f, h // p, w // p, hidden_states.device)

        # 1. Timestep embedding
        timestep = torch.as_tensor(timestep, device=hidden_states.device).reshape(-1)
        if timestep.numel() not in (1, b):
            raise ValueError(f"timestep must be a scalar or ({b},), got {tuple(timestep.shape)}")
        timestep = timestep.expand(b)
        temb = self.time_embedding(self.time_proj(timestep).to(hidden_states.dtype))  # (B, time_embed_dim)

        # 2. Patch embedding (no text tokens)
        no_text = hidden_states.new_zeros(b, 0, self.config.text_embed_dim)
        tokens = self.embedding_dropout(self.patch_embed(no_text, hidden_states))  # (B, F*h*w/p^2, D)

        # 3. Transformer blocks (all, or the first and the cached residual of the others)
        def run_block(i: int, tokens: torch.Tensor) -> torch.Tensor:
            kv = motion_kv.layers[i] if motion_kv is not None else None
            args = (tokens, temb, video_rope, motion_tokens, motion_rope, kv)
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                return self._gradient_checkpointing_func(self.transformer_blocks[i], *args)
            return self.transformer_blocks[i](*args)

        if step_cache is None:
            for i in range(len(self.transformer_blocks)):
                tokens = run_block(i, tokens)
        else:
            first = run_block(0, tokens)
            first_residual = first - tokens
            if step_cache.reusable(first_residual):
                tokens = first + step_cache.rest()
            else:
                tokens = first
                for i in range(1, len(self.transformer_blocks)):
                    tokens = run_block(i, tokens)
                step_cache.store(first_residual, tokens - first)

        # 4. Output norm and projection
        tokens = self.norm_out(self.norm_final(tokens), temb=temb)
        tokens = self.proj_out(tokens)  # (B, S, p*p*C_out)

        # 5. Unpatchify: (B, F, h/p, w/p, C_out, p, p) -> (B, F, C_out, h, w)
        out = tokens.reshape(b, f, h // p, w // p, -1, p, p)
        out = out.permute(0, 1, 4, 2, 5, 3, 6).flatten(5, 6).flatten(3, 4)
        return Transformer2DModelOutput(sample=out) if return_dict else (out,)
