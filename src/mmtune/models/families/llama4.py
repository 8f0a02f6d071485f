"""Llama 4 (Scout / Maverick): header turns ending in ``<|eot|>``, tiled images, a MoE language model.

The template writes one ``<|image|>`` per image; the processor expands it into
``<|image_start|>`` + per-tile ``<|patch|>`` runs separated by ``<|tile_x_separator|>`` /
``<|tile_y_separator|>`` + ``<|image|>`` + the global tile's ``<|patch|>`` run + ``<|image_end|>``.
The model counts ``<|patch|>`` tokens (the config's ``image_token_index``), so all of those are
media tokens. The image processor returns bf16 pixels; ``Family.prepare_inputs`` casts them to the
model dtype. The language model calls its MLP ``feed_forward`` (a dense MLP, or a router + fused
experts + a shared expert), so LoRA targets are spelled out here.

The hub template prints a system message trimmed and, for typed content, only its first text part;
mmtune passes the system message as one text part built from all its parts, so no text is dropped
and the hub template renders the same as mmtune's.
"""

from __future__ import annotations

from mmtune.errors import DataError
from mmtune.models.families import register
from mmtune.models.families.base import Family, family_template

MEDIA = (
    "<|image_start|>",
    "<|image_end|>",
    "<|image|>",
    "<|patch|>",
    "<|tile_x_separator|>",
    "<|tile_y_separator|>",
)


@register
class Llama4(Family):
    id = "llama4"
    can_pack = True  # packed rows train as if alone (tests/test_packing.py)
    model_types = ("llama4",)
    image_tokens_scale_with_size = True  # tiles chosen by the image's size, each a fixed number of tokens
    modalities = frozenset({"image"})
    template_names = ("llama4",)
    chat_template = family_template("llama4.jinja")
    eot_token = "<|eot|>"
    media_tokens = MEDIA
    # Llama4ForConditionalGeneration keeps its parts at the top level (no ``model.`` wrapper).
    vision_pattern = r"^vision_model\."
    projector_pattern = r"^multi_modal_projector\."
    language_prefix = "language_model.model"
    hub_example = "meta-llama/Llama-4-Scout-17B-16E-Instruct"

    # Attention, dense MLPs and the shared expert. The routed experts are fused 3-D weights
    # (not nn.Linear) and the router is left alone so routing stays as pretrained.
    lora_modules = r"(self_attn\.(q|k|v|o)_proj|feed_forward\.(shared_expert\.)?(gate|up|down)_proj)"

    @classmethod
    def template_message(cls, role: str, parts: list[dict]) -> dict:
        """System content as ONE text part joining all text parts: the hub template keeps only the
        first part (the Llama 4 processor wants a list, so not a plain string)."""
        if role != "system":
            return {"role": role, "content": parts}
        media = [p["type"] for p in parts if p["type"] != "text"]
        if media:
            raise DataError(f"a Llama 4 system message takes only text (found {media[0]})")
        return {"role": role, "content": [{"type": "text", "text": "".join(p["text"] for p in parts)}]}
