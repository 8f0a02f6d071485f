"""A provider's rules table as named checks: each reads one ``Item`` and says what it breaks.

Every check has a name (the ``rule`` of the report, the docs' tables and the tests) and words its
reason exactly, naming the provider and the limit, so a refused row says what to change. All
checks run on every row, so a row that breaks two rules shows both.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from mmtune.export.base import Item, Violation
from mmtune.export.rules import Rules

Check = Callable[[Item, Rules], list[Violation]]


def _plural(kind: str, n: int) -> str:
    return kind if n == 1 else f"{kind}s" if kind != "audio" else "audio files"


def check_roles(item: Item, r: Rules) -> list[Violation]:
    return [
        Violation("role", f"messages[{i}] has role {t.role!r}; {r.provider} takes {', '.join(r.roles)}")
        for i, t in enumerate(item.turns)
        if t.role not in r.roles
    ]


def check_empty(item: Item, r: Rules) -> list[Violation]:
    out = [
        Violation("empty_turn", f"messages[{i}] ({t.role}) is empty; {r.provider} needs text or media in every turn")
        for i, t in enumerate(item.turns)
        if not t.text.strip() and not t.blobs()
    ]
    if not any(t.role == "assistant" for t in item.turns):
        out.append(
            Violation("no_assistant", f"the row has no assistant message; {r.provider} trains on assistant turns")
        )
    return out


def check_media_kinds(item: Item, r: Rules) -> list[Violation]:
    takes = ", ".join(k for k in ("image", "audio", "video", "document") if k in r.formats)
    return [
        Violation("media_kind", f"{kind} input is not taken by {r.provider} (it takes: {takes}); the row is refused")
        for kind in sorted(item.kinds())
        if kind not in r.formats
    ]


def check_media_roles(item: Item, r: Rules) -> list[Violation]:
    where = " or ".join(r.media_roles)
    return [
        Violation(
            "media_role", f"messages[{i}] ({t.role}) holds {b.kind}; {r.provider} takes media only in {where} messages"
        )
        for i, t in enumerate(item.turns)
        for b in t.blobs()[:1]
        if t.role not in r.media_roles
    ]


def check_formats(item: Item, r: Rules) -> list[Violation]:
    out = []
    seen: dict[str, int] = {}
    for b in item.blobs():
        n = seen[b.kind] = seen.get(b.kind, -1) + 1
        allowed = r.formats.get(b.kind)
        mime = r.mime_aliases.get(b.mime, b.mime)
        if allowed and mime not in allowed:
            out.append(Violation("format", f"{b.kind}[{n}] is {mime}; {r.provider} takes {', '.join(allowed)}"))
    return out


def check_sizes(item: Item, r: Rules) -> list[Violation]:
    out = []
    seen: dict[str, int] = {}
    for b in item.blobs():
        n = seen[b.kind] = seen.get(b.kind, -1) + 1
        limit = r.max_bytes.get(b.kind)
        if limit is not None and len(b.data) > limit:
            out.append(
                Violation(
                    "size",
                    f"{b.kind}[{n}] is {len(b.data):,} bytes; {r.provider} takes at most {limit:,} bytes per {b.kind}",
                )
            )
    return out


def check_counts(item: Item, r: Rules) -> list[Violation]:
    out = []
    for kind in sorted(item.kinds()):
        n = sum(1 for b in item.blobs() if b.kind == kind)
        limit = r.max_per_example.get(kind)
        if limit is not None and n > limit:
            out.append(
                Violation(
                    "count", f"{n} {_plural(kind, n)} in one example; {r.provider} takes at most {limit} per example"
                )
            )
    return out


def check_image_modes(item: Item, r: Rules) -> list[Violation]:
    if not r.image_modes:
        return []
    from PIL import Image

    out = []
    for n, b in enumerate(b for b in item.blobs() if b.kind == "image"):
        try:
            mode = Image.open(io.BytesIO(b.data)).mode
        except Exception:  # undecodable: the format check or the provider says so
            continue
        if mode not in r.image_modes:
            out.append(
                Violation(
                    "image_mode", f"image[{n}] has mode {mode}; {r.provider} takes {' or '.join(r.image_modes)} images"
                )
            )
    return out


def check_reserved_words(item: Item, r: Rules) -> list[Violation]:
    out = []
    for i, t in enumerate(item.turns):
        if t.role not in ("user", "system"):
            continue
        for w in r.reserved_words:
            if w in t.text:
                out.append(
                    Violation(
                        "reserved_word",
                        f"messages[{i}] ({t.role}) contains {w!r}, a reserved word of {r.provider}; reword it",
                    )
                )
    return out


def check_system(item: Item, r: Rules) -> list[Violation]:
    if not r.system_first_only:
        return []
    return [
        Violation(
            "system_position",
            f"messages[{i}] is a system message; {r.provider} takes one system prompt, before the first turn",
        )
        for i, t in enumerate(item.turns)
        if t.role == "system" and i > 0
    ]


def check_turns(item: Item, r: Rules) -> list[Violation]:
    if not r.strict_turns:
        return []
    turns = [(i, t.role) for i, t in enumerate(item.turns) if t.role != "system"]
    out = []
    if turns and turns[0][1] != "user":
        out.append(Violation("turn_order", f"the first turn is {turns[0][1]}; {r.provider} needs a user turn first"))
    if turns and turns[-1][1] != "assistant":
        out.append(
            Violation("turn_order", f"the last turn is {turns[-1][1]}; {r.provider} needs an assistant turn last")
        )
    for (_, a), (j, b) in zip(turns, turns[1:]):
        if a == b:
            out.append(
                Violation(
                    "turn_order", f"messages[{j}] is a second {b} turn in a row; {r.provider} needs turns to alternate"
                )
            )
    return out


def check_uri(item: Item, r: Rules, prefix: str | None) -> list[Violation]:
    """Providers that take media only by reference need somewhere the references point to."""
    if r.media_transport != "uri" or prefix is not None or not item.blobs():
        return []
    scheme = r.uri_schemes[0]
    return [
        Violation(
            "media_uri",
            f"{r.provider} takes media only as {scheme}:// references; pass --media-uri-prefix {scheme}://BUCKET/PATH",
        )
    ]


CHECKS: dict[str, Check] = {
    "role": check_roles,
    "empty_turn": check_empty,
    "media_kind": check_media_kinds,
    "media_role": check_media_roles,
    "format": check_formats,
    "size": check_sizes,
    "count": check_counts,
    "image_mode": check_image_modes,
    "reserved_word": check_reserved_words,
    "system_position": check_system,
    "turn_order": check_turns,
}


def check_item(item: Item, r: Rules, prefix: str | None) -> list[Violation]:
    """Every rule ``item`` breaks under ``r`` (empty: it may be written)."""
    out = [v for check in CHECKS.values() for v in check(item, r)]
    return out + check_uri(item, r, prefix)


def check_dataset_kind(item: Item, r: Rules, first: tuple[str, str, int] | None) -> Violation | None:
    """Nova's dataset rule: text+image or text+video, never both. ``first`` is the first written
    media row's (kind, dataset, row); the row may not bring another kind."""
    if not r.one_media_kind_per_dataset:
        return None
    kinds = item.kinds() & set(r.formats)  # a kind the provider takes not at all is media_kind's
    if len(kinds) > 1:
        return Violation(
            "mixed_media",
            f"the row has {' and '.join(sorted(kinds))}; {r.provider} takes text+image or text+video, never both",
        )
    if first is None or not kinds or kinds == {first[0]}:
        return None
    kind, ds, row = first
    return Violation(
        "mixed_media",
        f"the row has {next(iter(kinds))} and the export's media are {kind} (first at {ds} row {row}); "
        f"{r.provider} takes text+image or text+video datasets, never both",
    )
