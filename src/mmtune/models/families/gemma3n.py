"""Gemma 3n: Gemma turns (``<start_of_turn>user`` / ``model``), a MobileNetV5 image encoder and a
conformer audio encoder. A system message opens the first user turn as in Gemma 3 (one untrimmed
text part holding all its text, a blank line after it).

The processor expands ``<image_soft_token>`` into ``\\n\\n<start_of_image>`` + a fixed number of
``<image_soft_token>`` + ``<end_of_image>\\n\\n`` and ``<audio_soft_token>`` likewise with the audio
markers; it returns ``token_type_ids`` (1 image, 3 audio) next to ``pixel_values`` [n, 3, H, W]
and, for audio, ``input_features`` [n_clips, frames, 128] + ``input_features_mask``.

Two constraints shape the tiny checkpoint (``mmtune/tiny/gemma3n.py``; [source] modeling_gemma3n): token ids index three
embedding tables by range (text below ``vocab_size_per_layer_input``, then an image block, then an
audio block, each block starting with its end marker and soft token), and the audio padding
embedding is the last id of the whole vocabulary. Every clip gets a fixed number of audio soft
tokens (188 on the real model, about 30 s of audio, which is also where the feature extractor
truncates); the tiny checkpoint keeps 188 so the same clips fit both.
"""

from __future__ import annotations

import copy
from typing import Any

from mmtune.models.families import register
from mmtune.models.families.base import Family, family_template
from mmtune.models.families.gemma3 import system_message


@register
class Gemma3n(Family):
    id = "gemma3n"
    pack_refusal = (
        "its vision tower's gradients differ (NaN) when the images of several packed rows run together "
        "(tests/test_packing.py)"
    )
    model_types = ("gemma3n",)
    modalities = frozenset({"image", "audio"})
    template_names = ("gemma3n",)
    chat_template = family_template("gemma3n.jinja")
    eot_token = "<end_of_turn>"
    media_tokens = (
        "<start_of_image>",
        "<image_soft_token>",
        "<end_of_image>",
        "<start_of_audio>",
        "<audio_soft_token>",
        "<end_of_audio>",
    )
    # Both encoders are "vision" for freezing (the tower group); both embedders are projectors.
    vision_pattern = r"^model\.(vision_tower|audio_tower)\."
    projector_pattern = r"^model\.(embed_vision|embed_audio)\."
    language_prefix = "model.language_model"
    hub_example = "google/gemma-3n-E2B-it"

    @classmethod
    def template_message(cls, role: str, parts: list[dict]) -> dict:
        """System content as ONE text part holding all its text parts, untrimmed: the hub template
        reads only the first part and leaves it untrimmed (Gemma 3's rule, ``gemma3.system_message``)."""
        if role == "system":
            return system_message("Gemma 3n", parts)
        return {"role": role, "content": parts}

    @classmethod
    def load_model(cls, path: str, **kwargs: Any) -> Any:
        """Load, then put back the vision config's ``model_args`` as they were in config.json.

        timm builds the image encoder by editing the ``block_args`` dicts it is given (it pops
        keys and stores callables), so without this a checkpoint with explicit ``block_args`` (the
        tiny one) could not be saved again after training.
        """
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(path)
        pristine = copy.deepcopy(config.vision_config.model_args)
        model = cls.model_class().from_pretrained(path, config=config, **kwargs)
        model.config.vision_config.model_args = pristine
        return model
