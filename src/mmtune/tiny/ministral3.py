"""Ministral 3's tiny checkpoint: Mistral-Small-3.1's layout (shrunk tekken, Pixtral tower on images up to
112 px, 2x2 patch merger) with a ``ministral3`` language model; ``build`` is shared with Mistral 4, which
swaps in its own language model and tekken settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from mmtune.tiny import TinySizes, recipe
from mmtune.tiny.save import save_tiny
from mmtune.tiny.tekken import V7_SPECIALS, tiny_pixtral_mistral, write_tiny_tekken

IMAGE_SIZE, PATCH = 112, 14
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


def build(
    family_id: str,
    out_dir: Path,
    seed: int,
    sizes: TinySizes,
    version: str,
    specials: dict[int, str],
    text: Any,
    tekken_extra: dict[str, Any] | None = None,
) -> None:
    """A Mistral3 checkpoint with tekken ``version`` / ``specials`` and the language model ``text(tok, sizes)``
    returns; ``tekken_extra`` adds top-level sections to the tekken file (v15's ``model_settings_builder``)."""
    from transformers import (
        Mistral3Config,
        Mistral3ForConditionalGeneration,
        MistralCommonBackend,
        PixtralImageProcessor,
        PixtralProcessor,
    )

    out_dir = Path(out_dir)
    tekken = write_tiny_tekken(
        out_dir / "tekken.json",
        version,
        specials,
        image={"image_patch_size": PATCH, "max_image_size": IMAGE_SIZE, "spatial_merge_size": 2},
    )
    if tekken_extra:
        tekken.write_text(json.dumps({**json.loads(tekken.read_text()), **tekken_extra}))
    tok = MistralCommonBackend(tokenizer_path=str(tekken), mode="finetuning")
    processor = PixtralProcessor(
        image_processor=PixtralImageProcessor(size={"longest_edge": IMAGE_SIZE}, patch_size=2 * PATCH),
        tokenizer=tok,
        patch_size=PATCH,
        spatial_merge_size=2,
    )
    shared = tiny_pixtral_mistral(tok, sizes, IMAGE_SIZE, patch_size=PATCH)
    config = Mistral3Config(
        vision_config=shared["vision_config"],
        text_config=text(tok, sizes),
        image_token_index=shared["image_token_index"],
        spatial_merge_size=2,
        vision_feature_layer=-1,
    )
    torch.manual_seed(seed)
    save_tiny(Mistral3ForConditionalGeneration(config), processor, out_dir, family_id)


@recipe("ministral3")
def ministral3(out_dir: Path, seed: int, sizes: TinySizes) -> None:
    build("ministral3", out_dir, seed, sizes, "v13", V13_SPECIALS, ministral3_text)
