"""Every rule of every provider's table refuses a row that breaks it, with its exact reason.

One planted dataset per provider: row 0 passes, every other row breaks one rule. The rows go
through ``mmtune validate --for``'s library call (``check_export``), the same reading and checks
that ``mmtune export`` runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from media_fixtures import make_bmp, make_gif, make_mp4, make_png, make_wav, make_webp

from mmtune.config import load_config
from mmtune.export.checks import CHECKS
from mmtune.export.run import check_export, export


def user(text, *files):
    return {"role": "user", "content": [*({"type": k, "path": f} for k, f in files), {"type": "text", "text": text}]}


def bot(text="Ok.", *files):
    if files:
        return {
            "role": "assistant",
            "content": [*({"type": k, "path": f} for k, f in files), {"type": "text", "text": text}],
        }
    return {"role": "assistant", "content": text}


IMG = ("image", "red.png")
GOOD = [user("Color?", IMG), bot("Red.")]

# provider -> [(messages, rule, reason)]; row i + 1 of the provider's dataset (row 0 is GOOD).
CASES: dict[str, list[tuple[list, str, str]]] = {
    "openai": [
        (
            [user("Hi"), {"role": "tool", "content": "42"}, bot()],
            "role",
            "messages[1] has role 'tool'; openai takes system, user, assistant",
        ),
        ([user(""), bot()], "empty_turn", "messages[0] (user) is empty; openai needs text or media in every turn"),
        ([user("Hi")], "no_assistant", "the row has no assistant message; openai trains on assistant turns"),
        (
            [user("Hear?", ("audio", "tone.wav")), bot()],
            "media_kind",
            "audio input is not taken by openai (it takes: image); the row is refused",
        ),
        (
            [user("Draw."), bot("Here.", IMG)],
            "media_role",
            "messages[1] (assistant) holds image; openai takes media only in user messages",
        ),
        (
            [user("Hm?", ("image", "pic.bmp")), bot()],
            "format",
            "image[0] is image/bmp; openai takes image/png, image/jpeg, image/webp",
        ),
        (
            [user("Hm?", ("image", "big.png")), bot()],
            "size",
            "image[0] is 10,000,009 bytes; openai takes at most 10,000,000 bytes per image",
        ),
        ([user("Hm?", *[IMG] * 11), bot()], "count", "11 images in one example; openai takes at most 10 per example"),
        (
            [user("Hm?", ("image", "grey.png")), bot()],
            "image_mode",
            "image[0] has mode L; openai takes RGB or RGBA images",
        ),
    ],
    "azure": [
        ([user("Hm?", *[IMG] * 65), bot()], "count", "65 images in one example; azure takes at most 64 per example"),
        (
            [user("Hm?", ("image", "big.png")), bot()],
            "size",
            "image[0] is 10,000,009 bytes; azure takes at most 10,000,000 bytes per image",
        ),
    ],
    "together": [
        (
            [user("Hm?", ("image", "anim.gif")), bot()],
            "format",
            "image[0] is image/gif; together takes image/png, image/jpeg, image/webp",
        ),
        ([user("Hm?", *[IMG] * 11), bot()], "count", "11 images in one example; together takes at most 10 per example"),
        (
            [user("Hm?", ("image", "big.png")), bot()],
            "size",
            "image[0] is 10,000,009 bytes; together takes at most 10,000,000 bytes per image",
        ),
    ],
    "fireworks": [
        (
            [user("Hm?", ("image", "pic.webp")), bot()],
            "format",
            "image[0] is image/webp; fireworks takes image/png, image/jpeg",
        ),
        (
            [user("Hm?", ("video", "clip.mp4")), bot()],
            "media_kind",
            "video input is not taken by fireworks (it takes: image); the row is refused",
        ),
    ],
    "gemini": [
        (
            [user("Hi"), bot(), {"role": "system", "content": "Be brief."}, user("And?"), bot()],
            "system_position",
            "messages[2] is a system message; gemini takes one system prompt, before the first turn",
        ),
        (
            [user("Hear?", ("audio", "tone.wav"), ("audio", "tone.wav")), bot()],
            "count",
            "2 audio files in one example; gemini takes at most 1 per example",
        ),
        (
            [user("Hm?", ("image", "huge.png")), bot()],
            "size",
            "image[0] is 20,000,009 bytes; gemini takes at most 20,000,000 bytes per image",
        ),
        (
            [user("Hm?", ("image", "pic.bmp")), bot()],
            "format",
            "image[0] is image/bmp; gemini takes image/png, image/jpeg, image/webp",
        ),
        (
            [user("Draw."), bot("Here.", IMG)],
            "media_role",
            "messages[1] (assistant) holds image; gemini takes media only in user messages",
        ),
        (
            [user("Hi"), {"role": "tool", "content": "42"}, bot()],
            "role",
            "messages[1] has role 'tool'; gemini takes system, user, assistant",
        ),
    ],
    "nova": [
        (
            [user("User: what is this?", IMG), bot()],
            "reserved_word",
            "messages[0] (user) contains 'User:', a reserved word of nova; reword it",
        ),
        (
            [{"role": "system", "content": "Say [EOS] at the end."}, user("Hi"), bot()],
            "reserved_word",
            "messages[0] (system) contains '[EOS]', a reserved word of nova; reword it",
        ),
        ([bot("Hello."), user("Hi"), bot()], "turn_order", "the first turn is assistant; nova needs a user turn first"),
        ([user("Hi"), bot(), user("Bye")], "turn_order", "the last turn is user; nova needs an assistant turn last"),
        (
            [user("Hi"), user("Again"), bot()],
            "turn_order",
            "messages[1] is a second user turn in a row; nova needs turns to alternate",
        ),
        (
            [user("Hm?", ("video", "clip.mp4"), ("video", "clip.mp4")), bot()],
            "count",
            "2 videos in one example; nova takes at most 1 per example",
        ),
        (
            [user("Hm?", ("video", "clip.mp4")), bot()],
            "mixed_media",
            "the row has video and the export's media are image (first at planted.jsonl row 0); "
            "nova takes text+image or text+video datasets, never both",
        ),
        (
            [user("Hm?", IMG, ("video", "clip.mp4")), bot()],
            "mixed_media",
            "the row has image and video; nova takes text+image or text+video, never both",
        ),
        (
            [user("Hear?", ("audio", "tone.wav")), bot()],
            "media_kind",
            "audio input is not taken by nova (it takes: image, video); the row is refused",
        ),
        (
            [user("Hm?", ("image", "pic.bmp")), bot()],
            "format",
            "image[0] is image/bmp; nova takes image/png, image/jpeg, image/gif, image/webp",
        ),
        (
            [user("Draw."), bot("Here.", IMG)],
            "media_role",
            "messages[1] (assistant) holds image; nova takes media only in user messages",
        ),
        (
            [user("Hi"), bot(), {"role": "system", "content": "Be brief."}],
            "system_position",
            "messages[2] is a system message; nova takes one system prompt, before the first turn",
        ),
    ],
}


# Rows that break a second rule too, listed after the first: nova's two-video row is also a
# video row in a dataset whose media are images (its row 0).
ALSO = {
    ("nova", 6): [
        (
            "mixed_media",
            "the row has video and the export's media are image (first at planted.jsonl row 0); "
            "nova takes text+image or text+video datasets, never both",
        )
    ]
}


def _padded(path: Path, size: int) -> None:
    """A file that is a PNG by its signature and ``size`` bytes long (never decoded by the size check)."""
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * (size - 8))


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("rules")
    make_png(d / "red.png")
    make_png(d / "grey.png", mode="L")
    make_gif(d / "anim.gif", frames=2)
    make_bmp(d / "pic.bmp")
    make_webp(d / "pic.webp")
    make_wav(d / "tone.wav", seconds=0.1)
    make_mp4(d / "clip.mp4", frames=2)
    _padded(d / "big.png", 10_000_009)
    _padded(d / "huge.png", 20_000_009)
    return d


@pytest.fixture(scope="module")
def reports(media):
    """Each provider's planted dataset checked once: provider -> {row: [(rule, reason)]}."""
    out = {}
    for provider, cases in CASES.items():
        folder = media / provider
        folder.mkdir()
        rows = [{"messages": GOOD}] + [{"messages": msgs} for msgs, _, _ in cases]
        (folder / "planted.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        cfg = folder / "c.yaml"
        cfg.write_text(
            yaml.safe_dump({"base_model": "none", "datasets": [{"path": "planted.jsonl", "media_dir": str(media)}]})
        )
        report = check_export(load_config(cfg), provider)
        got: dict[int, list[tuple[str, str]]] = {}
        for r in report.refused:
            got.setdefault(r["row"], []).append((r["rule"], r["reason"]))
        out[provider] = (report, got)
    return out


@pytest.mark.parametrize(
    "provider,row,rule,reason",
    [
        pytest.param(p, i + 1, rule, reason, id=f"{p}-{rule}-row{i + 1}")
        for p, cases in CASES.items()
        for i, (_, rule, reason) in enumerate(cases)
    ],
)
def test_each_rule_refuses_its_row_with_its_reason(reports, provider, row, rule, reason):
    report, got = reports[provider]
    assert got[row] == [(rule, reason)] + ALSO.get((provider, row), [])


@pytest.mark.parametrize("provider", list(CASES))
def test_the_good_row_passes_and_counts_add_up(reports, provider):
    report, got = reports[provider]
    assert 0 not in got
    assert report.read == len(CASES[provider]) + 1
    assert report.written + report.refused_rows == report.read


def test_every_named_check_has_a_failing_row():
    tested = {rule for cases in CASES.values() for _, rule, _ in cases}
    assert set(CHECKS) - {"empty_turn"} <= tested | {"no_assistant"}
    assert {"empty_turn", "no_assistant", "mixed_media"} <= tested


def test_unreadable_row_is_refused_with_the_training_reason(media, tmp_path):
    rows = [{"messages": GOOD}, {"messages": [user("Hm?", ("image", "missing.png")), bot()]}, "not an object"]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "c.yaml").write_text(
        yaml.safe_dump({"base_model": "none", "datasets": [{"path": "d.jsonl", "media_dir": str(media)}]})
    )
    report = check_export(load_config(tmp_path / "c.yaml"), "openai")
    assert [(r["row"], r["rule"], r["field"]) for r in report.refused] == [(1, "read", "image"), (2, "read", "line")]
    assert report.refused[0]["reason"] == f"image 'missing.png' not found (looked in {media})"
    assert (report.read, report.written, report.refused_rows) == (3, 1, 2)


def test_gemini_export_without_prefix_refuses_media_rows(media, tmp_path):
    rows = [{"messages": GOOD}, {"messages": [user("Hi"), bot()]}]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "c.yaml").write_text(
        yaml.safe_dump({"base_model": "none", "datasets": [{"path": "d.jsonl", "media_dir": str(media)}]})
    )
    report = export(load_config(tmp_path / "c.yaml"), "gemini", tmp_path / "out")
    assert report.refused == [
        {
            "dataset": "d.jsonl",
            "row": 0,
            "field": "",
            "rule": "media_uri",
            "reason": "gemini takes media only as gs:// references; pass --media-uri-prefix gs://BUCKET/PATH",
        }
    ]
    assert report.written == 1


def test_docs_name_every_rule_and_source():
    from mmtune.export.rules import RULES

    docs = (Path(__file__).resolve().parents[1] / "docs" / "exports.md").read_text()
    for rule in (*CHECKS, "no_assistant", "read", "mixed_media", "media_uri"):
        assert f"| `{rule}` |" in docs, rule
    for rules in RULES.values():
        for url in rules.sources:
            assert url in docs, url


def test_pdf_pages_left_out_are_reported(tmp_path):
    from media_fixtures import make_pdf

    make_pdf(tmp_path / "doc.pdf", pages=3)
    row = {"messages": [user("Read.", ("document", "doc.pdf")), bot()]}
    (tmp_path / "d.jsonl").write_text(json.dumps(row) + "\n")
    (tmp_path / "c.yaml").write_text(
        yaml.safe_dump({"base_model": "none", "pdf_max_pages": 2, "datasets": [{"path": "d.jsonl"}]})
    )
    report = export(load_config(tmp_path / "c.yaml"), "fireworks", tmp_path / "out")
    assert report.conversions == [
        {
            "dataset": "d.jsonl",
            "row": 0,
            "note": "document[0]: PDF became 2 page image(s) (PNG, 72 dpi); page 3 left out (pdf_max_pages); "
            "fireworks takes no PDF",
        }
    ]
    assert report.media == {"image": {"count": 2, "bytes": report.media["image"]["bytes"]}}
