"""Conversation -> tokens + labels: the per-model transform, built once per process and called per row.

Nothing here names a model family or imports one: a transform reads the family's declarations
through the small ``FamilySpec`` protocol (``transforms/base.py``), and ``Family.transform`` picks
which transform a checkpoint needs (a Jinja chat template rendered message by message, or
mistral-common's tokenizer).
"""

from mmtune.transforms.base import FamilySpec, Transform, TransformSettings
from mmtune.transforms.labels import IGNORE, Encoded, check_roles, is_trained

__all__ = ["FamilySpec", "Transform", "TransformSettings", "IGNORE", "Encoded", "check_roles", "is_trained"]
