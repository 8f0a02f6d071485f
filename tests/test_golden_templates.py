"""mmtune's chat templates against the hub's own, kept in ``tests/golden/templates/``.

Each family with a public copy of its hub template (sources in ``tests/golden/templates/SOURCES.md``)
renders the same conversations with both templates, as a whole row and as a generation prompt (the
row up to its last user turn, ``add_generation_prompt=True``), and the two strings must be equal.
Where mmtune's template differs from the hub's today, the case is a strict xfail whose reason names
the difference: it starts failing the day either side changes, and whoever fixes it updates the table.
Pure Jinja rendering, no tokenizer or checkpoint.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

# What ``apply_chat_template`` renders with: the sandboxed environment (trim_blocks, lstrip_blocks,
# ``raise_exception``, ``strftime_now``, ``{% generation %}``) compiled by transformers itself.
from transformers.utils.chat_template_utils import _compile_jinja_template

from mmtune.models.families import all_families, get_family

GOLDEN = Path(__file__).parent / "golden" / "templates"
TODAY = datetime(2026, 11, 30)  # pinned for templates that print the date

# (bos_token, eos_token) of each hub tokenizer; None where the tokenizer has no such token. The same
# tokens are what the tiny recipes (src/mmtune/tiny/) give their tokenizers.
SPECIAL_TOKENS: dict[str, tuple[str | None, str]] = {
    "gemma3": ("<bos>", "<eos>"),
    "gemma3n": ("<bos>", "<eos>"),
    "gemma4": ("<bos>", "<turn|>"),
    "internvl": (None, "<|im_end|>"),
    "lfm2_vl": ("<|startoftext|>", "<|im_end|>"),
    "llama4": ("<|begin_of_text|>", "<|eot|>"),
    "llava": ("<s>", "</s>"),
    "mistral_small_3_1": ("<s>", "</s>"),
    "mllama": ("<|begin_of_text|>", "<|eot_id|>"),
    "paddleocr_vl": ("<s>", "</s>"),
    "pixtral": ("<s>", "</s>"),
    "qwen2_vl": (None, "<|im_end|>"),
    "qwen2_5_vl": (None, "<|im_end|>"),
    "qwen3_5": (None, "<|im_end|>"),
    "smolvlm2": ("<|im_start|>", "<end_of_utterance>"),
}


def text(s: str) -> dict:
    return {"type": "text", "text": s}


IMAGE, VIDEO, AUDIO = {"type": "image"}, {"type": "video"}, {"type": "audio"}

# (role, parts) per message, parts as mmtune's transforms pass them.
CONVERSATIONS: dict[str, list[tuple[str, list[dict]]]] = {
    "image_text": [
        ("user", [IMAGE, text("What is in the picture?")]),
        ("assistant", [text("A red square.")]),
    ],
    "system_two_images_multiturn": [
        ("system", [text("You are a careful assistant.")]),
        ("user", [IMAGE, IMAGE, text("Compare the two pictures.")]),
        ("assistant", [text("The first is red, the second is blue.")]),
        ("user", [text("Which one is larger?")]),
        ("assistant", [text("They are the same size.")]),
    ],
    "text_only": [
        ("user", [text("Hello there.")]),
        ("assistant", [text("Hi! How can I help?")]),
    ],
    "image_later_turn": [
        ("user", [text("I will show you a picture next.")]),
        ("assistant", [text("Ready.")]),
        ("user", [IMAGE, text("What colour is it?")]),
        ("assistant", [text("Green.")]),
    ],
    "text_before_image": [
        ("user", [text("Describe this:"), IMAGE]),
        ("assistant", [text("A small cat.")]),
    ],
    "system_several_text_parts": [
        ("system", [text("You are a careful assistant."), text("Answer in one sentence.")]),
        ("user", [IMAGE, text("What is in the picture?")]),
        ("assistant", [text("A red square.")]),
    ],
    "system_edge_whitespace": [
        ("system", [text("  You are a careful assistant.\n")]),
        ("user", [text("Hello there.")]),
        ("assistant", [text("Hi! How can I help?")]),
    ],
    "video": [
        ("user", [VIDEO, text("What happens in the clip?")]),
        ("assistant", [text("A ball rolls.")]),
    ],
    "audio": [
        ("user", [AUDIO, text("Transcribe the audio.")]),
        ("assistant", [text("Hello world.")]),
    ],
}

MODES = ("row", "prompt")

# -- where mmtune's template differs from the hub's today: (family, conversation, mode) -> difference
DIFFERENCES: dict[tuple[str, str, str], str] = {}


def differs(family: str, kinds: tuple[str, ...], reason: str, modes: tuple[str, ...] = MODES) -> None:
    for kind in kinds:
        for mode in modes:
            DIFFERENCES[(family, kind, mode)] = f"{family}: {reason}"


# A deliberate difference (docs/families.md, "Hub templates"): mmtune supervises '</s>' as the end of an
# answer, the token llava-hf's model stops generating on; the hub's text is otherwise identical.
LLAVA_EOS = (
    "deliberate: ours ends every answer with '</s>' (the token the model stops on, supervised) where the hub "
    "writes none ('… ASSISTANT: A red square.</s> USER: …' vs '… ASSISTANT: A red square. USER: …')"
)
differs(
    "llava",
    tuple(k for k in CONVERSATIONS if k not in ("video", "audio")),
    f"{LLAVA_EOS}; the hub's row ends with the space after the last answer, ours with '</s>'",
    ("row",),
)
# prompts that show an earlier answer; every other llava prompt matches the hub exactly
differs("llava", ("system_two_images_multiturn", "image_later_turn"), LLAVA_EOS, ("prompt",))

differs(
    "pixtral",
    ("system_two_images_multiturn", "system_several_text_parts", "system_edge_whitespace"),
    "hub writes the system text only into the [INST] of the row's last message when that is a user turn, "
    "so a full row (ending with the answer) loses it; ours puts it before the last user message's text, "
    "as mistral-common's v3 encoding of a training row does",
    ("row",),
)

differs(
    "mistral_small_3_1",
    ("image_text", "text_only", "image_later_turn", "text_before_image"),
    "hub Jinja adds a dated default system prompt ('[SYSTEM_PROMPT]You are Mistral Small 3, … The current "
    "date is 2026-11-30. …[/SYSTEM_PROMPT]') when the row has no system message; ours adds none, as mistral-common "
    "(what mmtune trains with) adds none; training such rows warns once per run",
)
differs(
    "mistral_small_3_1",
    ("system_several_text_parts",),
    "hub keeps only the first text part of the system message; ours joins all parts with '\\n\\n'",
)


def render(template: str, messages: list[dict], add_generation_prompt: bool, family_id: str) -> str:
    bos, eos = SPECIAL_TOKENS[family_id]
    extra = {"eos_token": eos, "date_string": TODAY.strftime("%d %b %Y"), "strftime_now": TODAY.strftime}
    if bos is not None:
        extra["bos_token"] = bos
    return _compile_jinja_template(template).render(
        messages=messages, tools=None, documents=None, add_generation_prompt=add_generation_prompt, **extra
    )


def applies(family_id: str, kind: str) -> bool:
    media = {p["type"] for _, parts in CONVERSATIONS[kind] for p in parts} - {"text"}
    return media <= get_family(family_id).modalities


def cases():
    for family_id in sorted(SPECIAL_TOKENS):
        for kind in CONVERSATIONS:
            if not applies(family_id, kind):
                continue
            for mode in MODES:
                reason = DIFFERENCES.get((family_id, kind, mode))
                marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                yield pytest.param(family_id, kind, mode, id=f"{family_id}-{kind}-{mode}", marks=marks)


@pytest.mark.parametrize(("family_id", "kind", "mode"), list(cases()))
def test_renders_like_hub(family_id: str, kind: str, mode: str):
    family = get_family(family_id)
    messages = [family.template_message(role, [dict(p) for p in parts]) for role, parts in CONVERSATIONS[kind]]
    gen = mode == "prompt"
    if gen:
        last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
        messages = messages[: last_user + 1]
    hub = (GOLDEN / f"{family_id}.jinja").read_text(encoding="utf-8")
    assert render(family.chat_template, messages, gen, family_id) == render(hub, messages, gen, family_id)


def test_golden_copies_are_listed():
    """One golden copy per family in the token table, each with its source in SOURCES.md, and every
    other family listed there as not found."""
    assert {p.stem for p in GOLDEN.glob("*.jinja")} == set(SPECIAL_TOKENS)
    assert set(SPECIAL_TOKENS) <= set(all_families())
    sources = (GOLDEN / "SOURCES.md").read_text(encoding="utf-8")
    named = {fid: f"`{fid}.jinja`" if fid in SPECIAL_TOKENS else f"| `{fid}` |" for fid in all_families()}
    missing = [fid for fid, name in named.items() if name not in sources]
    assert not missing, f"families not in SOURCES.md: {missing}"


def test_differences_name_real_cases():
    """A difference entry for a case that is not rendered would never be checked."""
    stale = [key for key in DIFFERENCES if key[0] not in SPECIAL_TOKENS or not applies(key[0], key[1])]
    assert not stale
