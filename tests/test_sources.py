"""Every kind of dataset source reads into the same rows, and split expressions slice like datasets."""

from __future__ import annotations

import csv
import json

import datasets
import huggingface_hub
import openpyxl
import pytest
from media_fixtures import make_png

from mmtune.config import DatasetConfig, parse_config
from mmtune.data.sources import load_rows, media_base, split_indices
from mmtune.errors import ConfigError

ROWS = [
    {"prompt": "one", "completion": "1", "files": "a.png"},
    {"prompt": "two", "completion": "2", "files": None},
    {"prompt": "three", "completion": "3", "files": "b.png,c.png"},
]


def rows_of(path, **kw) -> list[dict]:
    ds = load_rows(DatasetConfig(path=str(path), **kw))
    return [ds[i] for i in range(len(ds))]


def test_json_list_data_object_and_column_dict_read_the_same(tmp_path):
    (tmp_path / "list.json").write_text(json.dumps(ROWS))
    (tmp_path / "data.json").write_text(json.dumps({"data": ROWS}))
    (tmp_path / "cols.json").write_text(json.dumps({k: [r[k] for r in ROWS] for k in ROWS[0]}))
    for name in ("list.json", "data.json", "cols.json"):
        assert rows_of(tmp_path / name) == ROWS, name


def test_json_single_conversation_object_is_one_row(tmp_path):
    row = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}], "images": []}
    (tmp_path / "one.json").write_text(json.dumps(row))
    assert rows_of(tmp_path / "one.json") == [row]


def test_json_column_lists_of_different_lengths(tmp_path):
    (tmp_path / "d.json").write_text(json.dumps({"prompt": ["a", "b"], "completion": ["c"]}))
    with pytest.raises(ConfigError, match=r"columns have different lengths: \{'prompt': 2, 'completion': 1\}"):
        rows_of(tmp_path / "d.json")


def test_jsonl_keeps_mixed_content_types_and_late_columns(tmp_path):
    rows = [
        {
            "messages": [
                {"role": "user", "content": [{"type": "image", "path": "a.png"}, {"type": "text", "text": "hi"}]},
                {"role": "assistant", "content": "ok"},
            ]
        },
        {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}], "images": ["b.png"]},
    ]
    p = tmp_path / "d.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    assert rows_of(p) == [{**rows[0], "images": None}, rows[1]]


def test_jsonl_broken_line_is_named_and_kept_as_its_row(tmp_path):
    """One broken line is one row that says what is wrong (reported as a bad row), not a lost file."""
    from mmtune.data.sources import ROW_PROBLEM

    p = tmp_path / "d.jsonl"
    p.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": "a",\n[1, 2]\n')
    rows = list(load_rows(DatasetConfig(path=str(p))))
    assert rows[1][ROW_PROBLEM] == "line 2 is not valid JSON (Expecting property name enclosed in double quotes)"
    assert rows[2][ROW_PROBLEM] == "line 3 is a JSON list, expected an object"
    assert rows[0]["prompt"] == "a"


def test_jsonl_with_a_byte_order_mark_and_non_utf8_files(tmp_path):
    p = tmp_path / "bom.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + b'{"prompt": "a", "completion": "b"}\n')
    assert list(load_rows(DatasetConfig(path=str(p))))[0]["prompt"] == "a"
    bad = tmp_path / "latin.csv"
    bad.write_bytes("prompt,completion\nok,fine\ncaf\xe9,au lait\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin\.csv: line 3 is not UTF-8 text \(invalid continuation byte"):
        load_rows(DatasetConfig(path=str(bad)))
    bad = tmp_path / "latin.jsonl"
    bad.write_bytes('{"prompt": "ok"}\n{"prompt": "caf\xe9"}\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin\.jsonl: line 2 is not UTF-8 text"):
        load_rows(DatasetConfig(path=str(bad)))


def test_csv_cells_stay_text_and_empty_cells_are_none(tmp_path):
    p = tmp_path / "d.csv"
    with open(p, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["prompt", "completion", "files"])
        w.writerow(["code?", "007", "a.png,b.png"])
        w.writerow(["none", "0", ""])
    assert rows_of(p) == [
        {"prompt": "code?", "completion": "007", "files": "a.png,b.png"},
        {"prompt": "none", "completion": "0", "files": None},
    ]


def test_xlsx_first_sheet_or_named_sheet(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "main"
    ws.append(["prompt", "completion", "files"])
    ws.append(["How many?", 42, "a.png"])
    ws.append(["Half?", 0.5, None])
    ws.append([None, None, None])  # an empty formatted row at the end
    other = wb.create_sheet("extra")
    other.append(["instruction", "output"])
    other.append(["Say hi", "hi"])
    p = tmp_path / "d.xlsx"
    wb.save(p)
    assert rows_of(p) == [
        {"prompt": "How many?", "completion": "42", "files": "a.png"},
        {"prompt": "Half?", "completion": "0.5", "files": None},
    ]
    assert rows_of(p, sheet="extra") == [{"instruction": "Say hi", "output": "hi"}]
    with pytest.raises(ConfigError, match=r"no sheet named 'nope'; it has 'main', 'extra'"):
        rows_of(p, sheet="nope")


def test_parquet_with_image_feature_reads_undecoded_bytes(tmp_path):
    png = make_png(tmp_path / "a.png")
    ds = datasets.Dataset.from_dict(
        {"prompt": ["color?"], "completion": ["red"], "images": [[{"bytes": png.read_bytes(), "path": None}]]},
        features=datasets.Features(
            {
                "prompt": datasets.Value("string"),
                "completion": datasets.Value("string"),
                "images": datasets.List(datasets.Image()),
            }
        ),
    )
    ds.to_parquet(str(tmp_path / "d.parquet"))
    (row,) = rows_of(tmp_path / "d.parquet")
    assert row["prompt"] == "color?"
    assert row["images"][0]["bytes"] == png.read_bytes()


def test_save_to_disk_dataset_and_dataset_dict_split(tmp_path):
    ds = datasets.Dataset.from_list(ROWS)
    ds.save_to_disk(str(tmp_path / "one"))
    assert rows_of(tmp_path / "one") == ROWS
    datasets.DatasetDict({"train": ds, "test": ds.select([2])}).save_to_disk(str(tmp_path / "dd"))
    assert rows_of(tmp_path / "dd", split="test") == [ROWS[2]]
    assert rows_of(tmp_path / "dd", split="train[1:]") == ROWS[1:]
    with pytest.raises(ConfigError, match=r"split 'validation' not found; it has 'train', 'test'"):
        rows_of(tmp_path / "dd", split="validation")


@pytest.mark.parametrize(
    "split, expected",
    [
        ("train", range(0, 200)),
        ("train[:1%]", range(0, 2)),
        ("train[10:20]", range(10, 20)),
        ("train[-5:]", range(195, 200)),
        ("train[10%:20%]", range(20, 40)),
        ("train[:-10%]", range(0, 180)),
    ],
)
def test_split_slices_like_datasets(split, expected):
    assert split_indices(split, 200) == expected


def test_split_slicing_applies_to_files(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text("".join(json.dumps({"prompt": str(i), "completion": "x"}) + "\n" for i in range(10)))
    assert [r["prompt"] for r in rows_of(p, split="train[-3:]")] == ["7", "8", "9"]
    assert [r["prompt"] for r in rows_of(p, split="train[:20%]")] == ["0", "1"]


@pytest.mark.parametrize(
    "split, message",
    [
        ("train[1]", r"split 'train\[1\]': the part in brackets must be a slice"),
        ("train[a:b]", r"split 'train\[a:b\]': cannot read slice \[a:b\]"),
        ("train[:5", r"split 'train\[:5' is not a valid split expression"),
    ],
)
def test_bad_split_expressions(split, message):
    with pytest.raises(ConfigError, match=message):
        split_indices(split, 10)


def test_single_file_has_only_train_split(tmp_path):
    (tmp_path / "d.json").write_text(json.dumps(ROWS))
    with pytest.raises(ConfigError, match=r"d.json: a single file has only the 'train' split \(got split 'test'\)"):
        rows_of(tmp_path / "d.json", split="test")


def test_missing_and_unsupported_files(tmp_path):
    cfg = parse_config({"base_model": "x", "datasets": [{"path": "data/missing.jsonl"}]}, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"dataset 'data/missing.jsonl' not found"):
        load_rows(cfg.datasets[0])
    (tmp_path / "d.txt").write_text("hello")
    with pytest.raises(ConfigError, match=r"unsupported file type '.txt' \(use .json, .jsonl, .csv, .xlsx, .parquet\)"):
        rows_of(tmp_path / "d.txt")


def test_unreachable_hub_name_is_a_clear_config_error(monkeypatch):
    # Offline mode fails at once, the same way as a machine without network (after retries).
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(
        ConfigError, match=r"dataset 'mmtune-test/made-up-name' could not be reached on the Hugging Face Hub"
    ):
        load_rows(DatasetConfig(path="mmtune-test/made-up-name"))


def test_media_base_is_media_dir_or_the_dataset_folder(tmp_path):
    p = tmp_path / "sub" / "d.jsonl"
    p.parent.mkdir()
    p.write_text("")
    assert media_base(DatasetConfig(path=str(p))) == str(tmp_path / "sub")
    assert media_base(DatasetConfig(path=str(p), media_dir=str(tmp_path / "media.zip"))) == str(tmp_path / "media.zip")
