"""LFM2-VL: ChatML turns after a BOS, a SigLIP2 (NaFlex) encoder on variable-size tiles, a hybrid LM.

The processor expands each ``<image>`` into ``<|image_start|>`` + per-tile
``<|img_row_r_col_c|>`` + ``<image>``... (+ ``<|img_thumbnail|>`` and a thumbnail) +
``<|image_end|>``; small images stay one tile. Its outputs ``pixel_values`` [n_tiles, P, 768]
(flattened patches padded to a fixed P), ``pixel_attention_mask`` [n_tiles, P] and
``spatial_shapes`` [n_tiles, 2] all concatenate across a batch, so no key needs padding.

The language model mixes short convolution blocks (``conv.in_proj`` / ``conv.out_proj``) with
attention blocks (``self_attn.{q,k,v,out}_proj``) and has a SwiGLU ``feed_forward.w1/w2/w3``;
none of those match the default ``*_proj`` patterns of other families, hence the LoRA overrides.
"""

from __future__ import annotations

from mmtune.models.families import register
from mmtune.models.families.base import Family, family_template

TILE_TOKENS = [f"<|img_row_{r}_col_{c}|>" for r in range(1, 11) for c in range(1, 11)]


@register
class Lfm2VL(Family):
    id = "lfm2_vl"
    pack_refusal = "its short-convolution layers carry state from one packed row into the next"
    model_types = ("lfm2_vl",)
    image_tokens_scale_with_size = True  # tokens by size (smart resize), tiles for large images
    modalities = frozenset({"image"})
    template_names = ()  # the checkpoint's own template (config: leave out or `tokenizer_default`)
    chat_template = family_template("lfm2_vl.jinja")
    eot_token = "<|im_end|>"
    media_tokens = ("<image>", "<|image_start|>", "<|image_end|>", "<|img_thumbnail|>", *TILE_TOKENS)
    vision_pattern = r"^model\.vision_tower\."
    projector_pattern = r"^model\.multi_modal_projector\."
    language_prefix = "model.language_model"
    hub_example = "LiquidAI/LFM2-VL-450M"

    # Attention, short-convolution and SwiGLU projections of the hybrid language model.
    lora_modules = r"(self_attn\.(q|k|v|out)_proj|conv\.(in|out)_proj|feed_forward\.w[123])"
    linear_modules = r".*\.(\w+_proj|w[123])"
