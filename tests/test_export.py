"""``mmtune export``: each provider's file is written, validated, and reads back through mmtune's
own formats as the same conversations (text equal, media byte-equal, or equal after the
documented conversion: a PDF for a provider without PDFs reads back as its pages' images).

Runs on the quickstart data and on a mixed dataset (image, audio, PDF, video, text-only rows)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
import yaml
from media_fixtures import make_mp4, make_pdf, make_png, make_wav, page_color
from PIL import Image

from mmtune.cli import main
from mmtune.config import load_config, parse_config
from mmtune.data.formats import RowContext, format_by_type
from mmtune.data.intake import dataset_tasks
from mmtune.data.media import MediaSettings, read_source
from mmtune.errors import ConfigError, DataError
from mmtune.export.run import check_export, export
from mmtune.quickstart.shapes import make_dataset

PREFIX = {
    "openai": None,
    "azure": None,
    "together": None,
    "fireworks": None,
    "gemini": "gs://b/ft",
    "nova": "s3://b/ft",
}
OPENAI_SHAPE = ("openai", "azure", "together", "fireworks")


def _user(text, *media):
    return {"role": "user", "content": [*media, {"type": "text", "text": text}]}


MIXED = [
    {
        "messages": [
            {"role": "system", "content": "Be brief."},
            _user("Color?", {"type": "image", "path": "red.png"}),
            {"role": "assistant", "content": "Red."},
        ]
    },
    {
        "messages": [
            _user("What is it?", {"type": "audio", "path": "tone.wav"}),
            {"role": "assistant", "content": "A tone."},
        ]
    },
    {"messages": [_user("Pages?", {"type": "document", "path": "doc.pdf"}), {"role": "assistant", "content": "Two."}]},
    {
        "messages": [
            _user("Motion?", {"type": "video", "path": "clip.mp4"}),
            {"role": "assistant", "content": "Grey frames."},
        ]
    },
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]},
]
# Rows each provider writes from MIXED; the others are refused with their rule.
WRITTEN = {p: [0, 2, 4] for p in OPENAI_SHAPE} | {"gemini": [0, 1, 2, 3, 4], "nova": [0, 2, 4]}
REFUSED = {p: {1: "media_kind", 3: "media_kind"} for p in OPENAI_SHAPE} | {
    "gemini": {},
    "nova": {1: "media_kind", 3: "mixed_media"},
}


# Documented media token counts: a 32x24 image and two 144x72 PDF pages are one GPT-4o tile each
# (85 + 170); Nova bills 230 per image; Gemini counts 32 per second of the 0.5 s tone.
TOKENS = {"openai": 765, "azure": 765, "together": None, "fireworks": None, "gemini": 16, "nova": 690}


def test_gpt4o_image_tokens_match_openai_worked_example():
    from mmtune.export.report import _gpt4o_image_tokens

    # 2048x4096 -> 1024x2048 -> 768x1536: 6 tiles of 512 -> 85 + 6 * 170
    assert _gpt4o_image_tokens(2048, 4096) == 1105


def _config(folder: Path, data: str) -> Path:
    cfg = folder / f"{Path(data).stem}.yaml"
    cfg.write_text(yaml.safe_dump({"base_model": "none", "datasets": [{"path": data}]}))
    return cfg


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("mixed")
    make_png(d / "red.png", color=(255, 0, 0))
    make_wav(d / "tone.wav")
    make_pdf(d / "doc.pdf", pages=2)
    make_mp4(d / "clip.mp4")
    (d / "mixed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in MIXED))
    return _config(d, "mixed.jsonl")


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("quickstart")
    make_dataset(d, n_train=2, n_heldout=1)
    return _config(d, "train.jsonl")


def _read(path: Path) -> list:
    """The conversations of a JSONL file, read as training reads them."""
    cfg = parse_config({"base_model": "none", "datasets": [{"path": str(path)}]}, base_dir=path.parent)
    tasks, _ = dataset_tasks(cfg.datasets[0])
    return [format_by_type(t.format).convert(t.row, t.context()) for t in tasks], tasks[0].format


def _flat(conv) -> list[tuple[str, list]]:
    """(role, pieces) per message: adjacent text merged, media as (kind, bytes)."""
    out = []
    for m in conv.messages:
        pieces: list = []
        for p in m.parts:
            if hasattr(p, "text"):
                if pieces and isinstance(pieces[-1], str):
                    pieces[-1] += p.text
                else:
                    pieces.append(p.text)
            else:
                kind = p.type
                pieces.append((kind, read_source(p.ref, kind, MediaSettings()).read()))
        out.append((m.role, pieces))
    return out


def _expected(conv, provider: str, folder: Path) -> list[tuple[str, list]]:
    """The source conversation as the provider gets it: files byte for byte, a PDF as page images
    for the providers that take no PDF (checked by their colours, not by re-rendering)."""
    out = []
    for role, pieces in _flat(conv):
        exp: list = []
        for p in pieces:
            if isinstance(p, tuple) and p[0] == "document" and provider != "gemini":
                exp.extend([("page", i) for i in range(2)])
            else:
                exp.append(p)
        out.append((role, exp))
    return out


def _same(got, want) -> None:
    assert [r for r, _ in got] == [r for r, _ in want]
    for (_, g), (_, w) in zip(got, want):
        assert len(g) == len(w)
        for a, b in zip(g, w):
            if isinstance(b, tuple) and b[0] == "page":
                assert a[0] == "image"
                img = Image.open(io.BytesIO(a[1])).convert("RGB")
                got = img.getpixel((img.width // 2, img.height // 2))  # the PDF holds its pages as JPEG
                assert max(abs(x - y) for x, y in zip(got, page_color(b[1]))) <= 3
            else:
                assert a == b


@pytest.mark.parametrize("provider", list(PREFIX))
def test_mixed_dataset_round_trip(provider, mixed, tmp_path):
    out = tmp_path / "out"
    report = export(load_config(mixed), provider, out, PREFIX[provider])
    d = json.loads((out / "export_report.json").read_text())
    assert d["rows_read"] == 5
    assert d["rows_written"] + d["rows_refused"] == d["rows_read"]
    assert {r["row"]: r["rule"] for r in d["refused"]} == REFUSED[provider]
    assert d["estimated_media_tokens"] == TOKENS[provider]
    source, _ = _read(mixed.parent / "mixed.jsonl")
    back, fmt = _read(out / "train.jsonl")
    assert fmt == {"gemini": "gemini", "nova": "nova"}.get(provider, "chat_template")
    assert len(back) == len(WRITTEN[provider]) == report.written
    for got, i in zip(back, WRITTEN[provider]):
        _same(_flat(got), _expected(source[i], provider, mixed.parent))
    # the written file passes the provider's own rules when checked again
    assert check_export(load_config(_config(out, "train.jsonl")), provider).refused == []
    if provider == "gemini":
        assert d["media"] == {
            "image": {"count": 1, "bytes": (mixed.parent / "red.png").stat().st_size},
            "audio": {"count": 1, "bytes": (mixed.parent / "tone.wav").stat().st_size},
            "document": {"count": 1, "bytes": (mixed.parent / "doc.pdf").stat().st_size},
            "video": {"count": 1, "bytes": (mixed.parent / "clip.mp4").stat().st_size},
        }
        assert sorted(p.suffix for p in (out / "media").iterdir()) == [".mp4", ".pdf", ".png", ".wav"]
        assert d["conversions"] == []
    else:
        assert d["conversions"] == [
            {
                "dataset": "mixed.jsonl",
                "row": 2,
                "note": f"document[0]: PDF became 2 page image(s) (PNG, 72 dpi); {provider} takes no PDF",
            }
        ]


@pytest.mark.parametrize("provider", list(PREFIX))
def test_quickstart_round_trip(provider, quickstart, tmp_path):
    out = tmp_path / "out"
    report = export(load_config(quickstart), provider, out, PREFIX[provider])
    assert (report.read, report.written, report.refused) == (6, 6, [])
    source, _ = _read(quickstart.parent / "train.jsonl")
    back, _ = _read(out / "train.jsonl")
    assert len(back) == 6
    for got, want in zip(back, source):
        _same(_flat(got), _expected(want, provider, quickstart.parent))
    media = out / "media"
    if PREFIX[provider]:  # referenced files are written once each: 2 images for 6 rows
        assert len(list(media.iterdir())) == 2 and report.media_files == 2
    else:
        assert not media.exists()


def test_nova_video_dataset_round_trips(tmp_path):
    make_mp4(tmp_path / "clip.mp4")
    rows = [
        {
            "messages": [
                _user("Motion?", {"type": "video", "path": "clip.mp4"}),
                {"role": "assistant", "content": "No."},
            ]
        },
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]},
    ]
    (tmp_path / "v.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    report = export(load_config(_config(tmp_path, "v.jsonl")), "nova", out, "s3://bucket/job/")
    assert (report.written, report.refused) == (2, [])
    line = json.loads((out / "train.jsonl").read_text().splitlines()[0])
    block = line["messages"][0]["content"][0]["video"]
    assert line["schemaVersion"] == "bedrock-conversation-2024"
    assert block["format"] == "mp4"
    assert block["source"]["s3Location"]["uri"].startswith("s3://bucket/job/media/")
    back, _ = _read(out / "train.jsonl")
    assert _flat(back[0])[0][1][0] == ("video", (tmp_path / "clip.mp4").read_bytes())


def test_openai_urls_under_prefix_and_weights(tmp_path):
    make_png(tmp_path / "red.png")
    row = {
        "messages": [
            _user("Color?", {"type": "image", "path": "red.png"}),
            {"role": "assistant", "content": "Blue.", "train": False},
            {"role": "user", "content": "Sure?"},
            {"role": "assistant", "content": "Red."},
        ]
    }
    (tmp_path / "w.jsonl").write_text(json.dumps(row) + "\n")
    out = tmp_path / "out"
    export(load_config(_config(tmp_path, "w.jsonl")), "openai", out, "https://cdn.example.com/ft")
    msgs = json.loads((out / "train.jsonl").read_text())["messages"]
    name = next((out / "media").iterdir()).name
    assert msgs[0]["content"][0] == {
        "type": "image_url",
        "image_url": {"url": f"https://cdn.example.com/ft/media/{name}"},
    }
    assert msgs[1] == {"role": "assistant", "content": "Blue.", "weight": 0}
    assert "weight" not in msgs[3]
    assert (out / "media" / name).read_bytes() == (tmp_path / "red.png").read_bytes()


def test_data_uri_is_the_file_itself(quickstart, tmp_path):
    export(load_config(quickstart), "together", tmp_path / "out")
    first = json.loads((tmp_path / "out" / "train.jsonl").read_text().splitlines()[0])
    url = first["messages"][0]["content"][0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == (quickstart.parent / "images/train/00000.png").read_bytes()


def test_split_validation_is_fixed_and_complete(quickstart, tmp_path):
    report = export(load_config(quickstart), "gemini", tmp_path / "a", "gs://b", split_validation=0.34)
    assert (report.train_rows, report.validation_rows) == (4, 2)
    again = export(load_config(quickstart), "gemini", tmp_path / "b", "gs://b", split_validation=0.34)
    for name in ("train.jsonl", "validation.jsonl"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()
    lines = [(tmp_path / "a" / n).read_text().splitlines() for n in ("train.jsonl", "validation.jsonl")]
    assert len(set(lines[0]) | set(lines[1])) == 6 and again.written == 6


def test_option_errors(quickstart, tmp_path):
    cfg = load_config(quickstart)
    with pytest.raises(
        ConfigError, match=r"^together takes images only inline, as base64 data URIs; remove --media-uri-prefix$"
    ):
        export(cfg, "together", tmp_path / "o", "https://x")
    with pytest.raises(ConfigError, match=r"^--media-uri-prefix 's3://b' must start with gs:// for gemini$"):
        export(cfg, "gemini", tmp_path / "o", "s3://b")
    with pytest.raises(
        ConfigError, match=r"^unknown export target 'bard'; known: openai, azure, together, fireworks, gemini, nova$"
    ):
        export(cfg, "bard", tmp_path / "o")
    with pytest.raises(ConfigError, match=r"must be at least 0 and below 1$"):
        export(cfg, "openai", tmp_path / "o", split_validation=1.0)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="is not empty and holds no earlier export; choose a new or empty folder$"):
        export(cfg, "openai", tmp_path / "busy")


def test_cli_export_and_validate_for(mixed, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["export", str(mixed), "--to", "gemini", "--out", str(out), "--media-uri-prefix", "gs://b/x"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("gemini: 5 rows read, 5 written, 0 refused (5 train, 0 validation)\n")
    assert (out / "export_report.json").is_file()
    assert main(["validate", str(mixed), "--for", "gemini"]) == 0
    assert main(["validate", str(mixed), "--for", "nova", "--report", str(tmp_path / "r.json")]) == 1
    printed = capsys.readouterr().out
    assert "nova: 5 rows read, 3 written, 2 refused\n" in printed
    assert (
        "- mixed.jsonl row 1: [media_kind] audio input is not taken by nova (it takes: image, video); "
        "the row is refused" in printed
    )
    assert json.loads((tmp_path / "r.json").read_text())["rows_refused"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "r.json"]  # validate --for wrote nothing else


def test_cloud_uri_outside_an_export_is_a_clear_row_error(tmp_path):
    row = {
        "contents": [
            {"role": "user", "parts": [{"fileData": {"mimeType": "image/png", "fileUri": "gs://b/pics/x.png"}}]}
        ]
    }
    with pytest.raises(DataError) as e:
        format_by_type("gemini").convert(row, RowContext(str(tmp_path)))
    assert e.value.reason == (
        "'gs://b/pics/x.png' is a gs:// URI, which mmtune cannot fetch; put the file in the dataset's media/ folder "
        "(an `mmtune export` folder has it there)"
    )
    assert e.value.field == "contents[0].parts[0].fileData.fileUri"


def test_exporting_again_replaces_the_earlier_export(quickstart, tmp_path):
    out = tmp_path / "out"
    export(load_config(quickstart), "gemini", out, "gs://b", split_validation=0.5)
    assert len(list((out / "media").iterdir())) == 2 and (out / "validation.jsonl").is_file()
    (tmp_path / "t.jsonl").write_text(
        json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}) + "\n"
    )
    report = export(load_config(_config(tmp_path, "t.jsonl")), "gemini", out, "gs://b")
    assert report.written == 1
    assert sorted(p.name for p in out.iterdir()) == ["export_report.json", "train.jsonl"]
