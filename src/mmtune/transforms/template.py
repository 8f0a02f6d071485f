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
from mmtune.transforms.labels import EndRules, is_trained


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
        self,
        conv: Conversation,
        train_on_inputs: bool = False,
        roles_to_train: tuple[str, ...] = ("assistant",),
        ends: EndRules | None = None,
    ) -> list[Chunk]:
        """The row's chunks, each with its supervised flag. A message renders as its header, its content
        and what closes it; ``ends`` says which end-of-turn tokens in that closing text are trained."""
        msgs = template_messages(self.family, conv)
        # Facts about the whole conversation (e.g. whether it has images): every prefix sees them.
        cvars = self.family.conversation_vars(conv)
        eot = self.family.eot_token
        ends = ends or EndRules(eot, (eot,))
        out = _Pieces(ends)
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
                out.add(take(head_full, f"the generation prompt before message {i}"), train_on_inputs, (i, 0))
                prev = head_full
                full = self.render(msgs[: i + 1], conv_vars=cvars)
                body = take(full, f"message {i}")
                cut = body.find(eot)
                if cut < 0:
                    raise ConfigError(
                        f"the chat template does not end assistant turns with {eot!r} (family {self.family.id})"
                        f"{self._hint()}"
                    )
                out.add(body[:cut], trained, (i, 1), m.media())
                out.closing(body[cut:], i, trained, train_on_inputs, (i, 1), (i, 2))
            else:
                full = self.render(msgs[: i + 1], conv_vars=cvars)
                text = take(full, f"message {i}")
                split = trained and not train_on_inputs  # a header that is not trained while the content is
                start = self._content_start(msgs, i, cvars) - len(prev) if split or not ends.plain else 0
                # The role header (and a default system prompt a template may inject) is scaffolding.
                # Media placed before the message's first text are rendered before that split, so
                # they travel with the header (their tokens are never supervised either way).
                media = m.media()
                n_head = _media_before_text(m) if start else 0
                groups = ((i, 0), (i, 1), (i, 2)) if split else ((i, 1),) * 3  # unsplit: one chunk, as before
                out.add(text[:start], trained and train_on_inputs, groups[0], media[:n_head])
                body = text[start:]
                found = ends.pattern.search(body)
                cut = found.start() if found else len(body)
                out.add(body[:cut], trained, groups[1], media[n_head:])
                out.closing(body[cut:], i, trained, trained and train_on_inputs, groups[1], groups[2])
            prev = full
        return out.chunks()


class _Pieces:
    """A row's text pieces in order, each with its supervised flag (end tokens' flags decided once all
    messages are known, for ``last``). Adjacent pieces of one group with one flag become one chunk: with
    the default rules exactly the chunks of header, content up to its end token, and the rest."""

    def __init__(self, ends: EndRules):
        self.ends = ends
        self.items: list[list[Any]] = []  # [text, supervised (None: an end token), media, group]
        self.closes: list[tuple[int, bool, frozenset[str]]] = []  # per end token: message, trained, kinds

    def add(self, text: str, supervised: bool | None, group: tuple[int, int], media: list | None = None) -> None:
        self.items.append([text, supervised, list(media or []), group])

    def closing(
        self, text: str, i: int, trained: bool, rest: bool, first: tuple[int, int], after: tuple[int, int]
    ) -> None:
        """What follows message ``i``'s content: its end tokens, the first of each kind as Axolotl finds
        them (the one right after the content in group ``first``, with the content), and the text around
        them (flag ``rest``, group ``after``)."""
        pos, seen = 0, set()
        for found in self.ends.pattern.finditer(text):
            kinds = self.ends.kinds(found.group()) - seen
            if not kinds:
                continue  # a later one of a kind already found: text like any other
            seen |= kinds
            if found.start() > pos:
                self.add(text[pos : found.start()], rest, after)
            self.add(found.group(), None, first if found.start() == 0 else after)
            self.closes.append((i, trained, kinds))
            pos = found.end()
        if pos < len(text):
            self.add(text[pos:], rest, after)

    def chunks(self) -> list[Chunk]:
        flags = iter(self.ends.flags(self.closes))
        out: list[Chunk] = []
        last_group = None
        for text, supervised, media, group in self.items:
            supervised = next(flags) if supervised is None else supervised
            if out and group == last_group and out[-1].supervised == supervised:
                out[-1].text += text
                out[-1].media.extend(media)
            else:
                out.append(Chunk(text, supervised, media))
            last_group = group
        return [c for c in out if c.text]
