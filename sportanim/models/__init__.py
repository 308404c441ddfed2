"""Neural models: ``tokenizer`` (4DMoT, the motion VQ-VAE)."""

from sportanim.models.tokenizer import (
    TOKENIZER_PRESETS,
    MotionTokenizer,
    TokenizerConfig,
    TokenizerOutput,
)

__all__ = ["TOKENIZER_PRESETS", "MotionTokenizer", "TokenizerConfig", "TokenizerOutput"]
