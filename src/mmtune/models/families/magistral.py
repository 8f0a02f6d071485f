"""Magistral-Small (Mistral3 architecture, reasoning model): Mistral-Small-3.1's recipe with thinking.

Magistral's tekken file is instruct format v13, which has ``[THINK]`` / ``[/THINK]`` control tokens:
an answer with its reasoning is ``[THINK]reasoning[/THINK]answer</s>``. Training rows write that
layout in the assistant text; mistral-common encodes the bracketed part as a thinking chunk, so the
markers become the control tokens, and the reasoning is supervised with the answer
(``MistralChatFamily.assistant_chunks``; it applies to any checkpoint whose tekken has them).

Its config says ``model_type: mistral3`` like Mistral-Small-3.1, and a real checkpoint resolves to
that family, which encodes with the checkpoint's own v13 tekken just the same. This family exists
for its tiny checkpoint (``mmtune tiny magistral``, recipe in ``mmtune/tiny/magistral.py``: a v13
tekken with the thinking tokens), chosen through ``mmtune_family`` in its config.
"""

from __future__ import annotations

from mmtune.models.families import register
from mmtune.models.families.mistral_small_3_1 import MistralSmall31


@register
class Magistral(MistralSmall31):
    id = "magistral"
    # ``mistral3`` resolves to mistral_small_3_1 (same encoding, driven by the checkpoint's tekken).
    model_types = ()
    hub_example = "mistralai/Magistral-Small-2509"
