"""Pixtral-12B's tiny checkpoint (the converted ``llava`` layout): an HF tokenizer with tekken v3's
control tokens, a Pixtral tower on images up to 64 px in 16 px patches."""

from __future__ import annotations

from pathlib import Path

import torch

from mmtune.models.families import get_family
from mmtune.tiny import TinySizes, recipe
from mmtune.tiny.save import save_tiny
from mmtune.tiny.tekken import V3_SPECIALS, tiny_pixtral_mistral

IMAGE_SIZE, PATCH = 64, 16


@recipe("pixtral")
def pixtral(out_dir: Path, seed: int, sizes: TinySizes) -> None:
    from transformers import (
        LlavaConfig,
        LlavaForConditionalGeneration,
        PixtralImageProcessor,
        PixtralProcessor,
    )

    from mmtune.tiny.tokenizer import train_tokenizer

    template = get_family("pixtral").chat_template
    tok = train_tokenizer(V3_SPECIALS, bos="<s>", eos="</s>", pad="<pad>", unk="<unk>", chat_template=template)
    processor = PixtralProcessor(
        image_processor=PixtralImageProcessor(size={"longest_edge": IMAGE_SIZE}, patch_size=PATCH),
        tokenizer=tok,
        patch_size=PATCH,
        spatial_merge_size=1,
        chat_template=template,
    )
    config = LlavaConfig(
        **tiny_pixtral_mistral(tok, sizes, IMAGE_SIZE, patch_size=PATCH),
        projector_hidden_act="gelu",
        # Pixtral feeds every patch (no CLS token): "default" would drop one and fail to split.
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    save_tiny(model, processor, out_dir, "pixtral")
