"""The label contract, in one place: what a training row is, which message is trained, and
the check that per-message token spans are exactly the whole row's tokens."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from mmtune.conversation import Conversation, Message
from mmtune.errors import DataError

# The label of a token that is not in the loss (transformers' cross-entropy ignore index).
IGNORE = -100


@dataclass
class Encoded:
    """One row as the model takes it: token ids, their labels (``IGNORE`` where masked), and the
    family's extra tensors (pixels, grids, token type ids, ...) from one processor call."""

    input_ids: list[int]
    labels: list[int]
    tensors: dict[str, torch.Tensor]

    @property
    def supervised(self) -> int:
        return sum(1 for t in self.labels if t != IGNORE)


def is_trained(msg: Message, train_on_inputs: bool, roles_to_train: Iterable[str]) -> bool:
    """The one rule: a message's own ``train`` flag wins; else every message with
    ``train_on_inputs``; else the roles listed in ``roles_to_train``."""
    if msg.train is not None:
        return msg.train
    return train_on_inputs or msg.role in roles_to_train


def check_roles(conv: Conversation) -> None:
    """A training row has an assistant turn, ends with one, and has a system message only first."""
    roles = [m.role for m in conv.messages]
    if "assistant" not in roles:
        raise DataError("row has no assistant turn (nothing to train on)", field="messages")
    if roles[-1] != "assistant":
        raise DataError(
            f"the last turn is {roles[-1]!r}; a training row must end with an assistant turn", field="messages"
        )
    for i, m in enumerate(conv.messages):
        if m.role == "assistant" and not m.text.strip() and not m.media():
            # it would train on the end-of-turn token alone: the model would learn to say nothing
            raise DataError(f"assistant turn (message {i}) is empty", field=f"messages[{i}]")
    if "system" in roles[1:]:
        i = roles.index("system", 1)
        raise DataError(f"a system message may only come first (found one at message {i})", field=f"messages[{i}]")


def mask_media(labels: list[int], media_ids: set[int] | frozenset[int]) -> list[int]:
    """Media placeholder tokens are never supervised, whatever the message flags say."""
    return [IGNORE if t in media_ids else t for t in labels]
