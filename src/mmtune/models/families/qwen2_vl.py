"""Qwen2-VL and Qwen2.5-VL: ChatML turns, <|vision_start|><|image_pad|><|vision_end|> media.

The model computes its multi-axis (t, h, w) rope positions itself from ``input_ids`` and the
``image_grid_thw`` / ``video_grid_thw`` the processor returns, so the pipeline only carries
those tensors along. Flattened patches (``pixel_values`` [n_patches, C*T*P*P]) concatenate
across a batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch

from mmtune.models.families import register
from mmtune.models.families.base import Family, family_template, video_metadata
from mmtune.models.tiny_save import save_tiny

SPECIALS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|image_pad|>", "<|video_pad|>",
]


@register
class Qwen2VL(Family):
    id = "qwen2_vl"
    model_types = ("qwen2_vl",)
    modalities = frozenset({"image", "video"})
    template_names = ("qwen2_vl", "qwen2_5_vl", "chatml")
    chat_template = family_template("qwen2_vl.jinja")
    eot_token = "<|im_end|>"
    media_tokens = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
    vision_pattern = r"^model\.visual\.(?!merger\.)"
    projector_pattern = r"^model\.visual\.merger\."
    hub_example = "Qwen/Qwen2-VL-7B-Instruct"

    @classmethod
    def processor_call_kwargs(cls, media: dict[str, list]) -> dict:
        """Videos go in as frame lists with their timing (Qwen2.5-VL derives temporal positions from it)."""
        kw = super().processor_call_kwargs({k: v for k, v in media.items() if k != "video"})
        clips = media.get("video") or []
        if clips:
            kw["videos"] = [list(c.frames) for c in clips]
            kw["video_metadata"] = [video_metadata(c) for c in clips]
        return kw

    # transformers class names of the tiny recipe; Qwen2.5-VL swaps them and its vision config.
    tiny_classes: ClassVar[tuple[str, str, str]] = ("Qwen2VLConfig", "Qwen2VLForConditionalGeneration", "Qwen2VLProcessor")

    @classmethod
    def tiny_vision_config(cls, hidden: int, vision_dim: int, vision_depth: int) -> dict:
        return {
            "depth": vision_depth, "embed_dim": vision_dim, "hidden_size": hidden, "num_heads": 2,
            "mlp_ratio": 2, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
        }

    @classmethod
    def tiny_configs(cls, tok: Any, hidden: int, layers: int, vision_dim: int, vision_depth: int) -> Any:
        import transformers

        ids = tok.convert_tokens_to_ids
        heads = max(2, hidden // 16)
        return getattr(transformers, cls.tiny_classes[0])(
            text_config={
                "vocab_size": len(tok), "hidden_size": hidden, "intermediate_size": hidden * 2,
                "num_hidden_layers": layers, "num_attention_heads": heads,
                "num_key_value_heads": max(1, heads // 2), "max_position_embeddings": 4096,
                "rope_parameters": {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]},
                "bos_token_id": ids("<|endoftext|>"), "eos_token_id": ids("<|im_end|>"),
                "pad_token_id": ids("<|endoftext|>"), "tie_word_embeddings": True,
            },
            vision_config=cls.tiny_vision_config(hidden, vision_dim, vision_depth),
            image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
            vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"),
            tie_word_embeddings=True,
        )

    @classmethod
    def make_tiny(
        cls, out_dir: Path, seed: int = 0, hidden: int = 64, layers: int = 2, vision_dim: int = 32,
        vision_depth: int = 2, **_: Any,
    ) -> None:
        import transformers
        from transformers import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

        from mmtune.models.tiny_tokenizer import train_tokenizer

        _, model_cls, processor_cls = (getattr(transformers, n) for n in cls.tiny_classes)
        tok = train_tokenizer(SPECIALS, eos="<|im_end|>", pad="<|endoftext|>", chat_template=cls.chat_template)
        size = {"shortest_edge": 56 * 56, "longest_edge": 112 * 112}
        processor = processor_cls(
            image_processor=Qwen2VLImageProcessor(size=size, patch_size=14, merge_size=2, temporal_patch_size=2),
            video_processor=Qwen2VLVideoProcessor(
                size={"shortest_edge": 56 * 56, "longest_edge": 4 * 112 * 112}, do_sample_frames=False
            ),
            tokenizer=tok,
            chat_template=cls.chat_template,
        )
        torch.manual_seed(seed)
        model = model_cls(cls.tiny_configs(tok, hidden, layers, vision_dim, vision_depth))
        save_tiny(model, processor, out_dir, cls.id)
