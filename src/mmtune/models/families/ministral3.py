"""Ministral 3 (Mistral3 architecture with a ``ministral3`` language model): Mistral-Small-3.1's encoding.

Ministral-3-3B/8B/14B (Instruct, Reasoning, Base; December 2025) are ``model_type: mistral3`` checkpoints,
a Pixtral vision tower and 2x2 patch merger in front of a ``ministral3`` text model: Mistral's layout
(``self_attn.{q,k,v,o}_proj``, ``mlp.{gate,up,down}_proj``) with YaRN rope and Llama-4-style attention
scaling. So the module groups, the image path (mistral-common resizes and normalizes, one ``[IMG]`` per
28x28 pixels) and the encoding are Mistral-Small-3.1's; what tells the family apart is the language
model's type (``text_config.model_type``), which the registry reads (``mistral3/ministral3``). Mistral
Medium 3.5 (``mistral3``, dense, the same YaRN rope) resolves here when its ``text_config`` says
``ministral3`` and to Mistral-Small-3.1 when it says ``mistral``: the same classes either way.

The checkpoints ship ``tekken.json`` (Axolotl trains them with ``tokenizer_use_mistral_common``), a
format with ``[THINK]`` / ``[/THINK]`` control tokens: an answer written ``[THINK]reasoning[/THINK]answer``
trains the reasoning as Magistral's does. The checkpoints also ship the system prompt they were tuned with
(``SYSTEM_PROMPT.txt``); mistral-common adds none, so rows without a system message train without it,
which the run warns about once (``missing_system_note``).
"""

from __future__ import annotations

from mmtune.models.families import register
from mmtune.models.families.mistral_small_3_1 import MistralSmall31


@register
class Ministral3(MistralSmall31):
    id = "ministral3"
    model_types = ("mistral3/ministral3",)
    hub_example = "mistralai/Ministral-3-3B-Reasoning-2512"
    missing_system_note = (
        "mmtune encodes them as mistral-common does, with no system prompt, while Ministral 3 checkpoints ship "
        "the system prompt they were tuned with (SYSTEM_PROMPT.txt); give rows that system message (or a "
        "similar one) to train close to how the model is prompted"
    )
