"""Qwen2-VL's tiny checkpoint; ``build`` is shared with Qwen2.5-VL (its classes and vision config differ)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from mmtune.models.families import get_family
from mmtune.tiny import TinySizes, recipe, text_config
from mmtune.tiny.save import save_tiny

SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
# transformers class names: config, model, processor
CLASSES = ("Qwen2VLConfig", "Qwen2VLForConditionalGeneration", "Qwen2VLProcessor")


def vision_config(sizes: TinySizes) -> dict:
    return {
        "depth": sizes.vision_layers,
        "embed_dim": sizes.vision_dim,
        "hidden_size": sizes.hidden,
        "num_heads": 2,
        "mlp_ratio": 2,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
    }


def config(config_cls: Any, tok: Any, sizes: TinySizes, vision: dict) -> Any:
    ids = tok.convert_tokens_to_ids
    return config_cls(
        text_config=text_config(
            tok,
            sizes,
            max_position_embeddings=4096,
            rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]},
            bos_token_id=ids("<|endoftext|>"),
            eos_token_id=ids("<|im_end|>"),
            pad_token_id=ids("<|endoftext|>"),
            tie_word_embeddings=True,
        ),
        vision_config=vision,
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
        tie_word_embeddings=True,
    )


def build(
    family_id: str,
    out_dir: Path,
    seed: int,
    sizes: TinySizes,
    classes: tuple[str, str, str],
    vision: Callable[[TinySizes], dict],
) -> None:
    import transformers
    from transformers import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    from mmtune.tiny.tokenizer import train_tokenizer

    template = get_family(family_id).chat_template
    config_cls, model_cls, processor_cls = (getattr(transformers, n) for n in classes)
    tok = train_tokenizer(SPECIALS, eos="<|im_end|>", pad="<|endoftext|>", chat_template=template)
    size = {"shortest_edge": 56 * 56, "longest_edge": 112 * 112}
    processor = processor_cls(
        image_processor=Qwen2VLImageProcessor(size=size, patch_size=14, merge_size=2, temporal_patch_size=2),
        video_processor=Qwen2VLVideoProcessor(
            size={"shortest_edge": 56 * 56, "longest_edge": 4 * 112 * 112}, do_sample_frames=False
        ),
        tokenizer=tok,
        chat_template=template,
    )
    torch.manual_seed(seed)
    model = model_cls(config(config_cls, tok, sizes, vision(sizes)))
    save_tiny(model, processor, out_dir, family_id)


@recipe("qwen2_vl")
def qwen2_vl(out_dir: Path, seed: int, sizes: TinySizes) -> None:
    build("qwen2_vl", out_dir, seed, sizes, CLASSES, vision_config)
