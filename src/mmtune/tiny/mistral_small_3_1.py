"""Mistral-Small-3.1's tiny checkpoint: a shrunk tekken v7 file (mistral-common), a Pixtral tower
on images up to 112 px with a 2x2 patch merger, a Mistral LM; ``build`` is shared with Magistral."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from mmtune.tiny import TinySizes, recipe
from mmtune.tiny.save import save_tiny
from mmtune.tiny.tekken import V7_SPECIALS, tiny_pixtral_mistral, write_tiny_tekken

IMAGE_SIZE, PATCH = 112, 14


def build(
    family_id: str,
    out_dir: Path,
    seed: int,
    sizes: TinySizes,
    version: str,
    specials: dict[int, str],
    text: Callable[[Any, TinySizes], dict[str, Any]] | None = None,
    tekken_extra: dict[str, Any] | None = None,
) -> None:
    """A Mistral3 checkpoint whose tekken file has instruct format ``version`` and ``specials`` by
    rank. ``text(tok, sizes)``: another language model config (Ministral 3, Mistral 4; default the
    tiny Mistral one); ``tekken_extra``: top-level sections added to the tekken file (v15's
    ``model_settings_builder``)."""
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
    if text is not None:
        shared["text_config"] = text(tok, sizes)
    config = Mistral3Config(**shared, spatial_merge_size=2, vision_feature_layer=-1)
    torch.manual_seed(seed)
    save_tiny(Mistral3ForConditionalGeneration(config), processor, out_dir, family_id)


@recipe("mistral_small_3_1")
def mistral_small_3_1(out_dir: Path, seed: int, sizes: TinySizes) -> None:
    build("mistral_small_3_1", out_dir, seed, sizes, "v7", V7_SPECIALS)
