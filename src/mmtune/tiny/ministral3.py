"""Ministral 3's tiny checkpoint: Mistral-Small-3.1's layout (shrunk tekken, Pixtral tower on images
up to 112 px, 2x2 patch merger) with a ``ministral3`` language model, built by Mistral-Small-3.1's
``build`` (Mistral 4 swaps in its own language model and tekken settings the same way)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmtune.tiny import TinySizes, recipe
from mmtune.tiny.mistral_small_3_1 import IMAGE_SIZE, PATCH, build
from mmtune.tiny.tekken import V7_SPECIALS, tiny_pixtral_mistral

# tekken v13's thinking tokens sit after the v7 ones (as in Magistral's file)
V13_SPECIALS = {**V7_SPECIALS, 34: "[THINK]", 35: "[/THINK]"}


def yarn(theta: float, max_positions: int, factor: float) -> dict[str, Any]:
    """YaRN rope parameters shaped like the real checkpoints' (Llama-4 attention scaling included),
    scaled down so that ``original_max_position_embeddings * factor == max_positions`` (transformers
    warns when they disagree)."""
    return {
        "rope_type": "yarn",
        "rope_theta": theta,
        "factor": factor,
        "original_max_position_embeddings": int(max_positions / factor),
        "max_position_embeddings": max_positions,
        "beta_fast": 32.0,
        "beta_slow": 1.0,
        "mscale": 1.0,
        "mscale_all_dim": 1.0,
        "llama_4_scaling_beta": 0.1,
    }


def ministral3_text(tok: Any, sizes: TinySizes) -> dict[str, Any]:
    """Mistral's tiny text config retyped ``ministral3``, with the YaRN rope it adds."""
    text = tiny_pixtral_mistral(tok, sizes, IMAGE_SIZE, patch_size=PATCH)["text_config"]
    return {**text, "model_type": "ministral3", "rope_parameters": yarn(1e6, text["max_position_embeddings"], 4.0)}


@recipe("ministral3")
def ministral3(out_dir: Path, seed: int, sizes: TinySizes) -> None:
    build("ministral3", out_dir, seed, sizes, "v13", V13_SPECIALS, ministral3_text)
