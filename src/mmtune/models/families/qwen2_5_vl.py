"""Qwen2.5-VL: Qwen2-VL's ChatML prompt format and media tokens with a windowed-attention vision tower.

Everything the pipeline asks (template, end-of-turn, placeholders, how a ``VideoClip`` becomes
processor kwargs) is inherited from ``Qwen2VL``. What differs is the architecture: the vision
tower has its own hidden size and an ``out_hidden_size`` projected by ``visual.merger``, and the
processor adds ``second_per_grid_ts`` for videos (seconds covered by one temporal patch, computed
from the clip's fps), which the model uses for its temporal rope positions.
"""

from __future__ import annotations

from mmtune.models.families import register
from mmtune.models.families.qwen2_vl import Qwen2VL


@register
class Qwen2_5VL(Qwen2VL):
    id = "qwen2_5_vl"
    model_types = ("qwen2_5_vl",)
    hub_example = "Qwen/Qwen2.5-VL-7B-Instruct"
