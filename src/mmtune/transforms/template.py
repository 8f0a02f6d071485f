"""Render a conversation message by message into chunks that know whether they are supervised.

Each message is rendered with the chat template incrementally: the text a message adds is the
rendering of ``messages[:i+1]`` minus that of ``messages[:i]``. For an assistant message the
generation prompt (e.g. ``<|im_start|>assistant\\n``) is split off as scaffolding, and what
follows is supervised up to and including the family's end-of-turn token. Roles are known from
the messages themselves; nothing is recovered by scanning token ids afterwards.

Every prefix is rendered with the same template variables: the config's options
(``template_vars``) and what the family decides from the whole conversation
(``conversation_vars``, e.g. whether it has an image anywhere), so a template that looks ahead
still renders each message by appending text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mmtune.conversation import Conversation, MediaPart, Message, TextPart
from mmtune.errors import ConfigError
from mmtune.transforms.base import FamilySpec
from mmtune.transforms.labels import is_trained


@dataclass
class Chunk:
    text: str
    supervised: bool
    media: list[MediaPart] = field(default_factory=list)


def template_messages(family: FamilySpec, conv: Conversation) -> list[dict]:
    out = []
    for m in conv.messages:
        parts = [{"type": "text", "text": p.text} if isinstance(p, TextPart) else {"type": p.type} for p in m.parts]
        out.append(family.template_message(m.role, parts))
    return out


def _media_before_text(m: Message) -> int:
    """How many media parts come before the first text part of ``m`` (all of them if none)."""
    for n, p in enumerate(m.parts):
        if isinstance(p, TextPart):
            return sum(1 for q in m.parts[:n] if isinstance(q, MediaPart))
    return len(m.media())


_MARK = "\u2063"  # invisible separator: never in real data, survives any template


class Renderer:
    """Applies one template; ``render(msgs, gen)`` is the checkpoint's ``apply_chat_template``."""

    def __init__(self, family: FamilySpec, processor: Any, template: str, template_vars: dict | None = None):
        self.family = family
        self.template = template
        self.template_vars = dict(template_vars or {})
        self.tokenizer = getattr(processor, "tokenizer", processor)

    def render(self, msgs: list[dict], add_generation_prompt: bool = False, conv_vars: dict | None = None) -> str:
        """``conv_vars``: the family's ``conversation_vars`` of the whole conversation ``msgs`` is a
        prefix of, so that every prefix renders the same earlier text."""
        if not msgs:
            return ""
        return self.tokenizer.apply_chat_template(
            msgs,
            chat_template=self.template,
            tokenize=False,
            add_generation_prompt=add_generation_prompt,
            **{**self.template_vars, **(conv_vars or {})},
        )

    def prompt(self, conv: Conversation) -> tuple[str, list[MediaPart]]:
        """Text and media for generation: the conversation plus the assistant prompt."""
        msgs = template_messages(self.family, conv)
        return self.render(msgs, True, self.family.conversation_vars(conv)), conv.media()

    def _hint(self) -> str:
        names = self.family.template_names
        return f"; set `chat_template: {names[0]}` to use mmtune's template for this family" if names else ""

    def _content_start(self, msgs: list[dict], i: int, conv_vars: dict) -> int:
        """Where message ``i``'s own text begins in the rendering (found with a marker character;
        a family's ``template_message`` may give plain string content)."""
        marked = [dict(m) for m in msgs[: i + 1]]
        content = marked[i]["content"]
        if isinstance(content, str):
            content = _MARK + content
        else:
            texts = [j for j, p in enumerate(content) if p.get("type") == "text"]
            if not texts:
                return len(self.render(msgs[: i + 1], conv_vars=conv_vars))
            content = [dict(p) for p in content]
            content[texts[0]]["text"] = _MARK + content[texts[0]]["text"]
        marked[i] = {**marked[i], "content": content}
        found = self.render(marked, conv_vars=conv_vars).find(_MARK)
        # A template may render a message's text with a later turn (a system text in a user turn):
        # then this message adds no text of its own here, and nothing of it is split off.
        return found if found >= 0 else len(self.render(msgs[: i + 1], conv_vars=conv_vars))

    def chunks(
        self, conv: Conversation, train_on_inputs: bool = False, roles_to_train: tuple[str, ...] = ("assistant",)
    ) -> list[Chunk]:
        msgs = template_messages(self.family, conv)
        # Facts about the whole conversation (e.g. whether it has images): every prefix sees them.
        cvars = self.family.conversation_vars(conv)
        eot = self.family.eot_token
        chunks: list[Chunk] = []
        prev = ""

        def take(full: str, what: str) -> str:
            if not full.startswith(prev):
                raise ConfigError(
                    f"the chat template does not render messages incrementally ({what} changes earlier text); "
                    f"mmtune needs a template where each message only appends text{self._hint()}"
                )
            return full[len(prev) :]

        for i, m in enumerate(conv.messages):
            trained = is_trained(m, train_on_inputs, roles_to_train)
            if m.role == "assistant":
                head_full = self.render(msgs[:i], True, cvars) if i else ""
                head = take(head_full, f"the generation prompt before message {i}")
                chunks.append(Chunk(head, train_on_inputs))
                prev = head_full
                full = self.render(msgs[: i + 1], conv_vars=cvars)
                body = take(full, f"message {i}")
                cut = body.find(eot)
                if cut < 0:
                    raise ConfigError(
                        f"the chat template does not end assistant turns with {eot!r} (family {self.family.id})"
                        f"{self._hint()}"
                    )
                cut += len(eot)
                chunks.append(Chunk(body[:cut], trained, m.media()))
                if body[cut:]:
                    chunks.append(Chunk(body[cut:], train_on_inputs))
            else:
                full = self.render(msgs[: i + 1], conv_vars=cvars)
                text = take(full, f"message {i}")
                start = self._content_start(msgs, i, cvars) - len(prev) if trained and not train_on_inputs else 0
                # The role header (and a default system prompt a template may inject) is scaffolding.
                # Media placed before the message's first text are rendered before that split, so
                # they travel with the header (their tokens are never supervised either way).
                media = m.media()
                n_head = _media_before_text(m) if start else 0
                chunks.append(Chunk(text[:start], train_on_inputs, media[:n_head]))
                body = text[start:]
                cut = body.find(eot) + len(eot) if trained and not train_on_inputs and eot in body else len(body)
                chunks.append(Chunk(body[:cut], trained, media[n_head:]))
                chunks.append(Chunk(body[cut:], train_on_inputs))
            prev = full
        return [c for c in chunks if c.text]
