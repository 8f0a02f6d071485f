"""``mmtune validate`` lists exactly the bad rows, with messages a user can act on, and exits 1;
a clean dataset exits 0. Runs against a tiny qwen2_vl checkpoint (processor only, no weights)."""

from __future__ import annotations

import csv
import json

import pytest
import yaml
from media_fixtures import make_png, make_wav

from mmtune.cli import main
from mmtune.config import load_config
from mmtune.preprocess.validate import validate


def _user(text, *media):
    return {"role": "user", "content": [*media, {"type": "text", "text": text}]}


def _image(path):
    return {"type": "image", "path": path}


def _assistant(text):
    return {"role": "assistant", "content": text}


GOOD = {"messages": [_user("Color?", _image("red.png")), _assistant("Red.")]}
PLANTED = [
    GOOD,  # 0 ok
    {"messages": [_user("Color?", _image("missing.png")), _assistant("Red.")]},  # 1 missing image
    {"messages": [_user("Color?", _image("broken.png")), _assistant("Red.")]},  # 2 undecodable image
    {"messages": [_user("Hello?")]},  # 3 no assistant turn
    {"messages": [_user("Hi"), _assistant("Hello."), _user("Bye")]},  # 4 last turn is user
    {"messages": [{"role": "robot", "content": "beep"}, _assistant("Hi.")]},  # 5 unknown role
    {
        "messages": [{"role": "user", "content": "<image> and <image>?"}, _assistant("Two.")],
        "images": ["red.png"],
    },  # 6 placeholder count
    {"messages": [_user("Tell me everything."), _assistant("word " * 150)]},  # 7 too long
    {"messages": [_user("Listen.", {"type": "audio", "path": "tone.wav"}), _assistant("A tone.")]},  # 8 audio
    {"messages": [_user("Again?", _image("red.png")), _assistant("Still red.")]},  # 9 ok
]


@pytest.fixture
def project(tmp_path, tiny_ckpt):
    """A folder with a config, a dataset with planted bad rows, a clean dataset and a CSV."""
    make_png(tmp_path / "media" / "red.png", color=(255, 0, 0))
    (tmp_path / "media" / "broken.png").write_bytes(b"this is not a png")
    make_wav(tmp_path / "media" / "tone.wav")
    (tmp_path / "media" / "planted.jsonl").write_text("".join(json.dumps(r) + "\n" for r in PLANTED))
    (tmp_path / "media" / "clean.jsonl").write_text(json.dumps(GOOD) + "\n" + json.dumps(PLANTED[9]) + "\n")
    with open(tmp_path / "sheet.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["prompt", "completion", "files"])
        w.writerow(["skipped by the split", "", "nothing.png"])  # bad, but outside train[1:]
        w.writerow(["Color?", "Red.", "red.png"])
        w.writerow(["Color?", "Red.", "gone.png"])  # row 1 after the split
    ckpt = str(tiny_ckpt("qwen2_vl"))

    def write(name: str, datasets: list[dict]) -> str:
        cfg = {"base_model": ckpt, "sequence_len": 160, "datasets": datasets}
        (tmp_path / name).write_text(yaml.safe_dump(cfg))
        return str(tmp_path / name)

    bad = write(
        "bad.yaml",
        [
            {"path": "media/planted.jsonl"},
            {"path": "sheet.csv", "type": "prompt_completion", "split": "train[1:]", "media_dir": "media"},
            {"path": "media/absent.jsonl"},
        ],
    )
    clean = write("clean.yaml", [{"path": "media/clean.jsonl"}])
    return tmp_path, bad, clean


def test_validate_lists_exactly_the_planted_rows(project):
    tmp_path, bad, _ = project
    report = validate(load_config(bad), workers=1)
    probs = report.problems
    assert [(p["dataset"], p["row"]) for p in probs] == [
        ("media/absent.jsonl", None),
        ("media/planted.jsonl", 1),
        ("media/planted.jsonl", 2),
        ("media/planted.jsonl", 3),
        ("media/planted.jsonl", 4),
        ("media/planted.jsonl", 5),
        ("media/planted.jsonl", 6),
        ("media/planted.jsonl", 7),
        ("media/planted.jsonl", 8),
        ("sheet.csv", 1),
    ]
    by_row = {(p["dataset"], p["row"]): p for p in probs}

    def check(key, field, error):
        assert (by_row[key]["field"], by_row[key]["error"]) == (field, error)

    assert by_row[("media/absent.jsonl", None)]["error"].startswith("dataset 'media/absent.jsonl' not found")
    # Media messages come from data/media; they must name the file and say what is wrong.
    assert by_row[("media/planted.jsonl", 1)]["field"] == "image[0]"
    assert by_row[("media/planted.jsonl", 1)]["error"].startswith("image 'missing.png' not found (looked in ")
    assert by_row[("media/planted.jsonl", 2)]["error"].startswith("image 'broken.png' could not be decoded")
    check(("media/planted.jsonl", 3), "messages", "row has no assistant turn (nothing to train on)")
    check(
        ("media/planted.jsonl", 4),
        "messages",
        "the last turn is 'user'; a training row must end with an assistant turn",
    )
    check(
        ("media/planted.jsonl", 5),
        "messages[0].role",
        "unknown role 'robot' (known roles: assistant, developer, gpt, human, model, system, tool, user)",
    )
    check(("media/planted.jsonl", 6), "images", "2 <image> placeholder(s) in the text but 1 item(s) in column 'images'")
    assert by_row[("media/planted.jsonl", 7)]["field"] == "length"
    assert by_row[("media/planted.jsonl", 7)]["error"].endswith(
        "more than sequence_len 160 (dropped: multimodal rows are never cut)"
    )
    check(
        ("media/planted.jsonl", 8),
        "audio",
        "audio input is not supported by model family 'qwen2_vl' (it takes: image, video)",
    )
    assert by_row[("sheet.csv", 1)]["error"].startswith("image 'gone.png' not found")
    assert (report.rows_total, report.rows_ok) == (12, 3)
    assert [(d.label, d.format, d.rows, d.ok, d.problems) for d in report.datasets] == [
        ("media/planted.jsonl", "chat_template", 10, 2, 8),
        ("sheet.csv", "prompt_completion", 2, 1, 1),
        ("media/absent.jsonl", "-", 0, 0, 1),
    ]


def test_cli_validate_writes_the_report_and_exits_1(project, capsys):
    tmp_path, bad, _ = project
    out = tmp_path / "reports" / "validate.json"
    assert main(["validate", bad, "--report", str(out), "--workers", "2"]) == 1
    rep = json.loads(out.read_text())
    assert (rep["rows_total"], rep["rows_ok"]) == (12, 3)
    assert len(rep["problems"]) == 10
    assert set(rep["problems"][0]) == {"dataset", "row", "field", "error"}
    assert rep["problems"][-1]["dataset"] == "sheet.csv"
    text = capsys.readouterr().out
    assert "10 problem(s); 3 of 12 rows are OK" in text
    assert "messages[0].role" in text  # brackets are printed as written, not read as markup


def test_cli_validate_clean_dataset_exits_0(project, capsys):
    tmp_path, _, clean = project
    out = tmp_path / "ok.json"
    assert main(["validate", clean, "--report", str(out)]) == 0
    assert json.loads(out.read_text()) == {"rows_total": 2, "rows_ok": 2, "problems": []}
    assert "all 2 rows are OK" in capsys.readouterr().out


def test_csv_row_with_more_cells_than_its_header_and_empty_answers_are_bad_rows(tiny_ckpt, tmp_path):
    """Nothing lost without a word: an unquoted comma would have cut the prompt to 'Hi', and an
    empty answer would have trained on the end-of-turn token alone."""
    from family_checks import tiny_config, write_jsonl

    from mmtune.preprocess.validate import validate

    (tmp_path / "t.csv").write_text("prompt,completion\nHi, how are you?,fine thanks\nWhat is 2+2?,4\n")
    rows = [
        {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "   "}]},
        {
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": "c"},
                {"role": "assistant", "content": ""},
            ]
        },
        {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
    ]
    chat = write_jsonl(tmp_path / "chat.jsonl", rows)
    cfg = tiny_config(tiny_ckpt("qwen2_vl"), chat, tmp_path).model_dump(mode="json")
    cfg["datasets"] = [{"path": str(tmp_path / "t.csv"), "type": "prompt_completion"}, {"path": str(chat)}]
    from mmtune.config import parse_config

    report = validate(parse_config(cfg), workers=1)
    got = [(p["dataset"].rsplit("/", 1)[-1], p["row"], p["field"], p["error"]) for p in report.problems]
    assert got == [
        (
            "t.csv",
            0,
            "csv",
            "the row has 1 more cell(s) than the header ('fine thanks'); quote cells that contain commas",
        ),
        ("chat.jsonl", 0, "messages[1]", "assistant turn (message 1) is empty"),
        ("chat.jsonl", 1, "messages[3]", "assistant turn (message 3) is empty"),
    ]
    assert report.rows_ok == 2 and report.rows_total == 5


def test_a_broken_jsonl_line_is_one_bad_row(tiny_ckpt, tmp_path):
    from family_checks import tiny_config

    from mmtune.config import parse_config
    from mmtune.preprocess.validate import validate

    good = json.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})
    data = tmp_path / "chat.jsonl"
    data.write_text(f'{good}\n{{"messages": [\n{good}\n')
    report = validate(parse_config(tiny_config(tiny_ckpt("qwen2_vl"), data, tmp_path).model_dump(mode="json")))
    assert [(p["row"], p["field"], p["error"]) for p in report.problems] == [
        (1, "line", "line 2 is not valid JSON (Expecting value)")
    ]
    assert (report.rows_ok, report.rows_total) == (2, 3)
