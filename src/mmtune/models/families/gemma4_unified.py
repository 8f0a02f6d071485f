"""Gemma 4 Unified (google/gemma-4-12B-it): Gemma 4's decoder and prompt format, encoder-free media.

There is no vision or audio tower: raw merged image patches go through a LayerNorm / Linear /
positional-embedding stack (``embed_vision.patch_*``, ``embed_vision.pos_*``) and one RMSNorm +
Linear (``embed_vision.multimodal_embedder``) straight into the language model; audio is cut into
raw 40 ms waveform frames, one soft token each, projected by ``embed_audio``. The patch stack
stands where a vision tower would, so it is the "vision" group (frozen by default in full
fine-tuning); the final projections are the projector.

The processor and template tokens are Gemma 4's (``Gemma4``). What differs in the prompt: the 12B
template opens every model turn, and the generation prompt, on an empty thought channel when
thinking is off (``<|turn>model\\n<|channel>thought\\n<channel|>``), so its template is
``gemma4_unified.jinja``, named ``gemma4_unified`` as in Axolotl.
"""

from __future__ import annotations

from mmtune.models.families import register
from mmtune.models.families.base import family_template
from mmtune.models.families.gemma4 import Gemma4


@register
class Gemma4Unified(Gemma4):
    id = "gemma4_unified"
    model_types = ("gemma4_unified",)
    template_names = ("gemma4_unified",)
    chat_template = family_template("gemma4_unified.jinja")
    vision_pattern = r"^model\.embed_vision\.(patch_|pos_)"
    projector_pattern = r"^model\.(embed_vision\.multimodal_embedder|embed_audio)\."
    hub_example = "google/gemma-4-12B-it"
