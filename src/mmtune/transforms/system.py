"""The conversation-level step before a family's transform: system messages.

Some chat formats cannot take a system message in some conversations (mistral-common's v7 format
refuses one beside audio); the family says when and why (``system_message_refusal``) and the
config's ``system_message_policy`` says what happens: ``fold`` puts the system text at the start of
the first user message's text (a blank line between), ``drop`` removes it, ``error`` makes the row a
bad row. A family may also declare what a row *without* a system message means for inference
(``missing_system_note``: a hub template that adds a default system prompt mmtune's encoding does
not). Both transforms run this step on training rows and generation prompts alike, so ``predict``
sees the text the rows were trained with. The config's ``default_system_message`` is the system
message of every conversation without one, added first, so the policy applies to it too. Each
warning is logged once per transform, i.e. once per run in each process that preprocesses rows
(and once per ``Predictor``), never once per row.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, Protocol

from mmtune.conversation import Conversation, Message, TextPart
from mmtune.errors import ConfigError, DataError

log = logging.getLogger("mmtune")

POLICIES = ("fold", "drop", "error")


class SystemSpec(Protocol):
    """The family declarations this step reads (``models.families.base.Family`` has them)."""

    id: str
    missing_system_note: str

    @classmethod
    def system_message_refusal(cls, processor: Any, conv: Conversation) -> str | None: ...


def fold_system(conv: Conversation) -> Conversation:
    """``conv`` without its system messages, their text (joined by a blank line) put at the start of
    the first user message's first text part, a blank line between; a user message without text gets
    it as its text (after its media). With no user message, the text becomes one in the system's place."""
    system = "\n\n".join(t for t in (m.text for m in conv.messages if m.role == "system") if t)
    rest = [m for m in conv.messages if m.role != "system"]
    if not system:
        return Conversation(rest)
    users = [i for i, m in enumerate(rest) if m.role == "user"]
    if not users:
        first = next(i for i, m in enumerate(conv.messages) if m.role == "system")
        return Conversation([*rest[:first], Message("user", [TextPart(system)]), *rest[first:]])
    user = rest[users[0]]
    parts = list(user.parts)
    texts = [j for j, p in enumerate(parts) if isinstance(p, TextPart)]
    if texts:
        j = texts[0]
        parts[j] = TextPart(f"{system}\n\n{parts[j].text}" if parts[j].text else system)
    else:
        parts.append(TextPart(system))
    rest[users[0]] = replace(user, parts=parts)
    return Conversation(rest)


def drop_system(conv: Conversation) -> Conversation:
    return Conversation([m for m in conv.messages if m.role != "system"])


class SystemStep:
    """Applies ``system_message_policy`` to one conversation at a time; built once per transform."""

    def __init__(self, spec: SystemSpec, processor: Any, policy: str = "fold", default: str | None = None):
        if policy not in POLICIES:
            raise ConfigError(f"system_message_policy must be one of {', '.join(POLICIES)} (got {policy!r})")
        self.spec = spec
        self.processor = processor
        self.policy = policy
        # The config's default_system_message: the system message of a conversation that has none.
        self.default = default
        self._warned: set[str] = set()

    def _warn_once(self, key: str, msg: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(msg, *args)

    def __call__(self, conv: Conversation, training: bool = True) -> Conversation:
        """The conversation the transform encodes (``training``: a row, else a generation prompt)."""
        if self.default is not None and not any(m.role == "system" for m in conv.messages):
            # added here, where rows and prompts both pass, so predict prompts as the rows were trained
            conv = Conversation([Message("system", [TextPart(self.default)]), *conv.messages])
        if not any(m.role == "system" for m in conv.messages):
            if training and self.spec.missing_system_note:
                self._warn_once(
                    "missing",
                    "model family %r, rows without a system message: %s (warned once)",
                    self.spec.id,
                    self.spec.missing_system_note,
                )
            return conv
        reason = self.spec.system_message_refusal(self.processor, conv)
        if reason is None:
            return conv
        i = next(i for i, m in enumerate(conv.messages) if m.role == "system")
        if self.policy == "error":
            raise DataError(
                f"{reason} (system_message_policy: error; 'fold' moves the system text into the first user "
                "message, 'drop' removes it)",
                field=f"messages[{i}]",
            )
        self._warn_once(
            self.policy,
            "model family %r: %s; system_message_policy: %s %s (warned once, not per row)",
            self.spec.id,
            reason,
            self.policy,
            "puts the system text at the start of the first user message's text, a blank line between"
            if self.policy == "fold"
            else "removes the system message",
        )
        return fold_system(conv) if self.policy == "fold" else drop_system(conv)
