"""GLM-4.6V / GLM-4.6V-Flash and GLM-4.1V-Thinking: a GLM-4 language model behind a 3-D-rope ViT.

transformers has two model types for the same architecture: ``glm4v`` (GLM-4.1V-9B-Thinking) and
``glm46v`` (the GLM-4.6V series, whose processor class is ``Glm46VProcessor``). Both build the vision tower
as ``model.visual`` (patch embedding, blocks, a 2x2 ``downsample`` convolution) and its projector as
``model.visual.merger``, the language model as ``model.language_model``, take the same media tokens and
the same inputs, so one family covers both (the tiny checkpoint is a ``glm46v`` one). The language model's
MLP fuses gate and up (``mlp.gate_up_proj``); GLM-4.6V's 106B mixture of experts has routed experts stored
as 3-D parameters (not LoRA-able) beside ``mlp.shared_experts.{gate,up,down}_proj``, which LoRA reaches.

The chat format (``glm46v.jinja``) has no end-of-turn token: a GLM model ends its answer by writing the
next ``<|user|>``, so mmtune supervises that token after each answer. The hub templates end a row with
the bare answer, so they cannot label one; ``chat_template: glm46v`` is the template to train with.

Images become ``<|begin_of_image|>`` + one ``<|image|>`` per 28x28 pixels + ``<|end_of_image|>``. A video
becomes, per two frames, ``<|begin_of_image|><|image|>...<|end_of_image|>`` followed by the pair's first
timestamp ("1.0 seconds") inside ``<|begin_of_video|>...<|end_of_video|>``; the processor computes the
timestamps from ``video_metadata`` (bare frames would be stamped at 24 fps). The model computes its
3-D rope positions from ``mm_token_type_ids`` (1 image, 2 video), which the processor returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from mmtune.models.families import register
from mmtune.models.families.base import Family, family_template, rope_index_positions, video_metadata


@register
class Glm46V(Family):
    id = "glm46v"
    can_pack = True  # packed rows train as if alone (tests/test_packing.py)
    model_types = ("glm46v", "glm4v")
    image_tokens_scale_with_size = True  # one token per merged patch (dynamic resolution, as Qwen2-VL)
    modalities = frozenset({"image", "video"})
    template_names = ("glm46v",)
    chat_template = family_template("glm46v.jinja")
    eot_token = "<|user|>"
    media_tokens = (
        "<|begin_of_image|>",
        "<|end_of_image|>",
        "<|image|>",
        "<|begin_of_video|>",
        "<|end_of_video|>",
        "<|video|>",
    )
    vision_pattern = r"^model\.visual\.(?!merger\.)"
    projector_pattern = r"^model\.visual\.merger\."
    lora_modules = r"(self_attn\.(q|k|v|o)_proj|mlp\.(shared_experts\.)?(gate_up|gate|up|down)_proj)"
    hub_example = "zai-org/GLM-4.6V-Flash"

    @classmethod
    def packed_positions(cls, model: Any) -> Callable[[dict[str, torch.Tensor]], torch.Tensor] | None:
        """3-D rope positions, row by row from the model's own rope index."""
        return rope_index_positions(model)

    @classmethod
    def processor_call_kwargs(cls, media: dict[str, list]) -> dict:
        """Videos as the decoder's frames with their timing; the processor must not sample them again."""
        kw = super().processor_call_kwargs({k: v for k, v in media.items() if k != "video"})
        clips = media.get("video") or []
        if clips:
            kw["videos"] = [list(c.frames) for c in clips]
            kw["video_metadata"] = [video_metadata(c) for c in clips]
            kw["do_sample_frames"] = False
        return kw
