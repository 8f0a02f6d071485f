"""Voxtral (speech understanding): a Whisper-style audio encoder, a projector, a Llama-style LM.

Voxtral's chat format exists only in mistral-common (tekken v7 with an ``audio`` section): each clip
is padded to a multiple of 30 s and becomes ``[BEGIN_AUDIO]`` + one ``[AUDIO]`` per 80 ms (375 per
30 s chunk) inside the user turn: ``<s>[INST][BEGIN_AUDIO][AUDIO]...question[/INST]answer</s>``.
``VoxtralProcessor`` hardcodes ``[AUDIO]`` = id 24 and refuses ``[AUDIO]`` in plain text, so chats
go through ``models/mistral_chat.py``; the padded clips become ``input_features``
[n_30s_chunks, mel bins, 3000] with the processor's own Whisper feature extractor.

mistral-common's v7 rules apply as they are, with one choice left to the config: v7 takes no system
message in a conversation with audio (``MistralChatFamily.system_message_refusal``), and
``system_message_policy`` says what happens to one: ``fold`` (default) puts its text at the start of
the first user message's text, ``drop`` removes it, ``error`` reports the row as a data error naming
that rule (``transforms/system.py``; training rows and prompts alike).
"""

from __future__ import annotations

from typing import Any

import torch

from mmtune.models.families import register
from mmtune.models.families.base import family_template
from mmtune.models.mistral_chat import MistralChatFamily


@register
class Voxtral(MistralChatFamily):
    id = "voxtral"
    can_pack = True  # packed rows train as if alone (tests/test_packing.py)
    model_types = ("voxtral",)
    modalities = frozenset({"audio"})
    template_names = ()  # the checkpoint's own format (mistral-common)
    chat_template = family_template("voxtral.jinja")
    eot_token = "</s>"
    media_tokens = ("[AUDIO]", "[BEGIN_AUDIO]")
    vision_pattern = r"^model\.audio_tower\."  # the "vision" group is the audio encoder here
    projector_pattern = r"^model\.multi_modal_projector\."
    language_prefix = "model.language_model"
    # AutoModelForImageTextToText rejects VoxtralConfig
    auto_model_class = "AutoModelForMultimodalLM"
    hub_example = "mistralai/Voxtral-Mini-3B-2507"

    @classmethod
    def media_tensors(cls, processor: Any, images: list, audios: list) -> dict[str, torch.Tensor]:
        """Log-mel features of the (already 30 s padded) clips, exactly as ``VoxtralProcessor`` makes them."""
        if not audios:
            return {}
        # The processor's defaults (padding to 30 s multiples, chunks of max_source_positions frames)
        # live in its kwargs machinery; reuse it rather than copy the numbers.
        kwargs = processor._merge_kwargs(return_tensors="pt")["audio_kwargs"]
        chunk = kwargs.pop("max_source_positions")
        features = processor._retrieve_input_features([a.audio_array for a in audios], chunk, **kwargs)
        return {"input_features": features}
