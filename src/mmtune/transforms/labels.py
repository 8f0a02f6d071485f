"""The label contract, in one place: what a training row is, which message is trained, and
the check that per-message token spans are exactly the whole row's tokens."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import torch

from mmtune.conversation import Conversation, Message
from mmtune.errors import ConfigError, DataError

log = logging.getLogger("mmtune")

# The label of a token that is not in the loss (transformers' cross-entropy ignore index).
IGNORE = -100


@dataclass
class Encoded:
    """One row as the model takes it: token ids, their labels (``IGNORE`` where masked), and the
    family's extra tensors (pixels, grids, token type ids, ...) from one processor call."""

    input_ids: list[int]
    labels: list[int]
    tensors: dict[str, torch.Tensor]
    # What the tensors were made from, so a cache can store the media instead of the processor's
    # float pixels and make them again at batch time (``Transform.batch_tensors``): the text of the
    # processor call (None where the transform calls it on media alone) and the decoded media,
    # ``(kind, value)`` in row order.
    media_text: str | None = None
    media: list[tuple[str, Any]] = field(default_factory=list)

    @property
    def supervised(self) -> int:
        return sum(1 for t in self.labels if t != IGNORE)


def is_trained(msg: Message, train_on_inputs: bool, roles_to_train: Iterable[str]) -> bool:
    """The one rule: a message's own ``train`` flag wins; else every message with
    ``train_on_inputs``; else the roles listed in ``roles_to_train``."""
    if msg.train is not None:
        return msg.train
    return train_on_inputs or msg.role in roles_to_train


# Axolotl's train_on_eos / train_on_eot values: which end-of-turn tokens are trained.
END_MODES = ("turn", "last", "all", "none")


_IGNORED_EOT: set[str] = set()  # warned once per process


@dataclass(frozen=True)
class EndRules:
    """Which end-of-turn tokens are trained (Axolotl's ``train_on_eos``, ``train_on_eot``, ``eot_tokens``).

    An end token is one that closes a message: in the text after the message's content, before the
    next message. ``eos`` is the model's own end-of-turn token (the family's, which an answer ends
    with: what Axolotl's EOS is for a chat model), under ``train_on_eos``; the ``eot`` tokens are the
    config's ``eot_tokens``, or that same token when none are given (Axolotl defaults eot_tokens to
    the EOS token), under ``train_on_eot``. A token under both rules is trained when either trains
    it, as Axolotl labels each rule's tokens in turn. Each mode: ``turn`` trains the end tokens of
    trained messages, ``last`` only those of the last trained message, ``all`` every message's,
    ``none`` none.
    """

    eos: str
    eot: tuple[str, ...] = ()
    train_on_eos: str = "turn"
    train_on_eot: str = "turn"

    @classmethod
    def of(cls, settings: Any, eos: str, usable: Callable[[str], bool] | None = None) -> EndRules:
        """The rules of a transform's settings (``PrepSettings`` fields; absent ones: Axolotl's defaults).
        ``usable``: whether the chat format can write an ``eot_tokens`` entry at all; one it never
        writes is left out with a warning, as Axolotl does (configs copied between families carry
        another family's token)."""
        on_eos = getattr(settings, "train_on_eos", None) or "turn"
        on_eot = getattr(settings, "train_on_eot", None) or on_eos
        given = tuple(getattr(settings, "eot_tokens", None) or ())
        if usable is not None:
            for t in [t for t in given if t != eos and not usable(t)]:
                if t not in _IGNORED_EOT:
                    _IGNORED_EOT.add(t)
                    log.warning("eot_tokens: %r never appears in this model's chat format; ignored", t)
            given = tuple(t for t in given if t == eos or usable(t))
        for mode in (on_eos, on_eot):
            if mode not in END_MODES:
                raise ConfigError(f"train_on_eos / train_on_eot must be one of {', '.join(END_MODES)} (got {mode!r})")
        if eos in given and on_eos != on_eot:
            raise ConfigError(
                f"eot_tokens lists the model's end-of-turn token {eos!r}, which train_on_eos ({on_eos}) and "
                f"train_on_eot ({on_eot}) then disagree on; make them equal or leave {eos!r} out of eot_tokens"
            )
        return cls(eos, given or (eos,), on_eos, on_eot)

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        """Every end token, longest first (so that one containing another is found whole)."""
        return re.compile("|".join(re.escape(t) for t in sorted({self.eos, *self.eot}, key=len, reverse=True)))

    @property
    def plain(self) -> bool:
        """The default: only the model's own token, trained with its trained message (``turn``)."""
        return self.eot == (self.eos,) and self.train_on_eos == self.train_on_eot == "turn"

    def kinds(self, token: str) -> frozenset[str]:
        return frozenset(k for k, hit in (("eos", token == self.eos), ("eot", token in self.eot)) if hit)

    def flags(self, ends: Sequence[tuple[int, bool, frozenset[str]]]) -> list[bool]:
        """Whether each end token is trained, given per token the index of the message it closes,
        whether that message is trained, and its kinds (``kinds``)."""
        modes = {"eos": self.train_on_eos, "eot": self.train_on_eot}
        last = {
            kind: max((i for i, trained, kinds in ends if trained and kind in kinds), default=None) for kind in modes
        }

        def rule(kind: str, i: int, trained: bool) -> bool:
            mode = modes[kind]
            return mode == "all" or (mode == "turn" and trained) or (mode == "last" and i == last[kind])

        return [any(rule(k, i, trained) for k in kinds) for i, trained, kinds in ends]


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
