"""Preprocessing: legacy image columns, cache reuse, bad rows (collected or skipped), CLI views."""

from __future__ import annotations

import json
import logging

import pytest
from family_checks import tiny_config, write_jsonl
from PIL import Image

from mmtune.cli import main
from mmtune.errors import BadRowsError
from mmtune.models.families import get_family
from mmtune.preprocess.cache import prepare
from mmtune.preprocess.settings import settings_from_config


def _img(path, color="red", size=(64, 48)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def _row(answer="red", images=("imgs/a.png",)):
    return {
        "messages": [
            {
                "role": "user",
                "content": [*({"type": "image", "path": p} for p in images), {"type": "text", "text": "Color?"}],
            },
            {"role": "assistant", "content": answer},
        ]
    }


def _bad_rows(tmp_path):
    _img(tmp_path / "imgs/a.png")
    (tmp_path / "imgs/broken.png").write_bytes(b"not an image at all")
    return [
        _row(),
        _row(images=("imgs/3.png",)),
        _row(images=("imgs/broken.png",)),
        {"messages": [{"role": "user", "content": "hello?"}]},
        _row(answer="3"),  # a numeric-looking answer must stay the string "3"
    ]


def test_bad_rows_stop_before_training_with_the_full_list(tiny_ckpt, tmp_path):
    data = write_jsonl(tmp_path / "data.jsonl", _bad_rows(tmp_path))
    cfg = tiny_config(tiny_ckpt("qwen2_vl"), data, tmp_path)
    settings, proc = settings_from_config(cfg)
    with pytest.raises(BadRowsError) as err:
        prepare(cfg, settings, processor=proc)
    report = err.value.report
    assert (report.read, report.kept, report.dropped) == (5, 2, 3)
    msgs = [str(e) for e in report.errors]
    assert msgs[0] == f"{data} row 1: image 'imgs/3.png' not found (looked in {tmp_path})"
    assert msgs[1].startswith(f"{data} row 2: image 'imgs/broken.png' could not be decoded")
    assert msgs[2] == f"{data} row 3: row has no assistant turn (nothing to train on)"
    assert "on_bad_rows: skip" in str(err.value)


def test_skip_drops_bad_rows_and_accounts_for_every_row(tiny_ckpt, tmp_path, caplog):
    data = write_jsonl(tmp_path / "data.jsonl", _bad_rows(tmp_path))
    cfg = tiny_config(tiny_ckpt("qwen2_vl"), data, tmp_path, on_bad_rows="skip")
    settings, proc = settings_from_config(cfg)
    with caplog.at_level(logging.WARNING, logger="mmtune"):
        prep = prepare(cfg, settings, processor=proc)
    assert prep.report.kept + prep.report.dropped == prep.report.read == 5
    assert [r["row"] for r in prep.dataset] == [0, 4]
    assert "dropped 3 of 5 rows" in caplog.text
    tok = proc.tokenizer
    assert tok.decode([t for t in prep.dataset[1]["labels"] if t != -100]) == "3<|im_end|>"


def test_second_preprocess_reuses_the_cache(tiny_ckpt, tmp_path, caplog):
    _img(tmp_path / "imgs/a.png")
    data = write_jsonl(tmp_path / "data.jsonl", [_row()] * 3)
    cfg = tiny_config(tiny_ckpt("qwen2_vl"), data, tmp_path)
    settings, proc = settings_from_config(cfg)
    first = prepare(cfg, settings, processor=proc)
    with caplog.at_level(logging.INFO, logger="mmtune"):
        second = prepare(cfg, settings, processor=proc)
    assert not first.reused and second.reused
    assert "reusing preprocessed data" in caplog.text
    assert second.dataset["input_ids"] == first.dataset["input_ids"]
    # a changed data file is a different fingerprint
    write_jsonl(data, [_row("blue")] * 3)
    assert not prepare(cfg, settings, processor=proc).reused


def test_val_set_size_reuses_the_cache(tiny_ckpt, tmp_path):
    """The train/validation split happens after the cache, so changing it preprocesses nothing again."""
    _img(tmp_path / "imgs/a.png")
    data = write_jsonl(tmp_path / "data.jsonl", [_row()] * 4)
    cfg = tiny_config(tiny_ckpt("qwen2_vl"), data, tmp_path)
    settings, proc = settings_from_config(cfg)
    first = prepare(cfg, settings, processor=proc)
    again = prepare(tiny_config(tiny_ckpt("qwen2_vl"), data, tmp_path, val_set_size=0.25), settings, processor=proc)
    assert not first.reused and again.reused
    assert again.cache_dir == first.cache_dir


def test_legacy_images_column_uses_every_image(tiny_ckpt, tmp_path):
    _img(tmp_path / "a.png", "red")
    _img(tmp_path / "b.png", "blue", (48, 64))
    row = {
        "messages": [{"role": "user", "content": "Colors?"}, {"role": "assistant", "content": "red, blue"}],
        "images": ["a.png", "b.png"],
    }
    data = write_jsonl(tmp_path / "data.jsonl", [row])
    cfg = tiny_config(tiny_ckpt("qwen2_vl"), data, tmp_path)
    settings, proc = settings_from_config(cfg)
    prep = prepare(cfg, settings, processor=proc)
    ids = prep.dataset[0]["input_ids"]
    start = proc.tokenizer.convert_tokens_to_ids("<|vision_start|>")
    assert ids.count(start) == 2 and prep.dataset[0]["n_media"] == 2


def test_image_size_resizes_every_image(tiny_ckpt, tmp_path):
    from mmtune.preprocess.codec import row_tensors, unpack_media

    _img(tmp_path / "imgs/a.png", size=(300, 100))
    data = write_jsonl(tmp_path / "data.jsonl", [_row()])
    cfg = tiny_config(tiny_ckpt("qwen2_vl"), data, tmp_path, image_size=56)
    settings, proc = settings_from_config(cfg)
    row = prepare(cfg, settings, processor=proc).dataset[0]
    ((kind, image),) = unpack_media(row["media"])[1]  # the cache keeps the resized image itself
    assert kind == "image" and image.size == (56, 56) and image.mode == "RGB"
    transform = get_family(settings.family).transform(proc, settings)
    assert row_tensors(row, transform)["image_grid_thw"].tolist() == [[1, 4, 4]]  # 56 px / 14 px patches


def _write_cfg(tmp_path, ckpt, rows):
    import yaml

    data = write_jsonl(tmp_path / "data.jsonl", rows)
    cfg = {
        "base_model": str(ckpt),
        "datasets": [{"path": str(data)}],
        "dataset_prepared_path": str(tmp_path / "prep"),
        "output_dir": str(tmp_path / "out"),
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_preprocess_cli_prints_counts(tiny_ckpt, tmp_path, capsys):
    _img(tmp_path / "imgs/a.png")
    cfg = _write_cfg(tmp_path, tiny_ckpt("qwen2_vl"), [_row(), _row("blue")])
    assert main(["preprocess", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "rows_read          2" in out and "rows_kept          2" in out and "media              2" in out
    assert main(["preprocess", str(cfg)]) == 0
    assert "reused cached preprocessing" in capsys.readouterr().out
    assert main(["preprocess", str(cfg), "--rebuild"]) == 0
    assert capsys.readouterr().out.startswith("preprocessed: ")


def test_inspect_json_lists_rows_with_labels(tiny_ckpt, tmp_path, capsys):
    _img(tmp_path / "imgs/a.png")
    cfg = _write_cfg(tmp_path, tiny_ckpt("qwen2_vl"), [_row(), _row("blue")])
    assert main(["inspect", str(cfg), "--rows", "2", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["dataset"], r["row"]) for r in rows] == [
        (str(tmp_path / "data.jsonl"), 0),
        (str(tmp_path / "data.jsonl"), 1),
    ]
    assert all(len(r["input_ids"]) == len(r["labels"]) for r in rows)
    assert main(["inspect", str(cfg), "--rows", "1"]) == 0
    assert "supervised" in capsys.readouterr().out


def test_cli_reports_bad_rows_without_traceback(tiny_ckpt, tmp_path, caplog):
    cfg = _write_cfg(tmp_path, tiny_ckpt("qwen2_vl"), [_row(images=("imgs/nope.png",))])
    with caplog.at_level(logging.ERROR, logger="mmtune"):
        assert main(["preprocess", str(cfg)]) == 2
    assert "row 0: image 'imgs/nope.png' not found" in caplog.text


def test_template_without_end_of_turn_is_refused_with_a_hint(tiny_ckpt, tmp_path):
    from family_checks import encode_row, row_processor

    from mmtune.errors import ConfigError

    bare = "{% for m in messages %}{{ m['role'] }}: {{ m['content'][0]['text'] }}\n{% endfor %}"
    rp = row_processor(tiny_ckpt("qwen2_vl"), tmp_path, chat_template_jinja=bare)
    row = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yes"}]}
    with pytest.raises(
        ConfigError,
        match=r"does not end assistant turns with '<\|im_end\|>' \(family qwen2_vl\); "
        r"set `chat_template: qwen2_vl`",
    ):
        encode_row(rp, row)


@pytest.mark.parametrize("truncation", ["drop", "error"])
def test_over_long_rows_are_dropped_or_stop_the_run(tiny_ckpt, tmp_path, truncation):
    long = {"messages": [{"role": "user", "content": "word " * 300}, {"role": "assistant", "content": "ok"}]}
    short = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}]}
    data = write_jsonl(tmp_path / "data.jsonl", [short, long])
    cfg = tiny_config(tiny_ckpt("qwen2_vl"), data, tmp_path, sequence_len=64, truncation=truncation)
    settings, proc = settings_from_config(cfg)
    if truncation == "error":
        with pytest.raises(BadRowsError, match=r"row 1: row has \d+ tokens, more than sequence_len 64"):
            prepare(cfg, settings, processor=proc)
        return
    prep = prepare(cfg, settings, processor=proc)
    assert (prep.report.read, prep.report.kept, prep.report.dropped) == (2, 1, 1)
    assert str(prep.report.errors[0]).endswith("more than sequence_len 64 (dropped: multimodal rows are never cut)")
    assert prepare(cfg, settings, processor=proc).reused  # the cached report keeps the drop


def test_inspect_json_stdout_is_clean_while_logs_go_to_stderr(tiny_ckpt, tmp_path):
    """A real process: a dropped row logs a warning, and stdout still parses as JSON."""
    import subprocess
    import sys

    _img(tmp_path / "imgs/a.png")
    cfg = _write_cfg(tmp_path, tiny_ckpt("qwen2_vl"), [_row(), _row(images=("imgs/nope.png",))])
    (tmp_path / "cfg.yaml").write_text((tmp_path / "cfg.yaml").read_text() + "on_bad_rows: skip\ntorch_threads: 1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "mmtune.cli", "inspect", str(cfg), "--json"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert [r["row"] for r in json.loads(proc.stdout)] == [0]
    assert "dropped 1 of 2 rows" in proc.stderr


def test_a_replaced_or_new_media_file_is_preprocessed_again(tiny_ckpt, tmp_path, caplog):
    """The cache never goes stale: the same data file with a changed image, or with a missing image
    that appeared since, is preprocessed again (and --rebuild always is)."""
    _img(tmp_path / "imgs/a.png", size=(56, 56))
    data = write_jsonl(tmp_path / "data.jsonl", [_row(), _row(images=("imgs/late.png",))])
    cfg = tiny_config(tiny_ckpt("qwen2_vl"), data, tmp_path, on_bad_rows="skip")
    settings, proc = settings_from_config(cfg)
    first = prepare(cfg, settings, processor=proc)
    assert (first.report.kept, first.report.dropped) == (1, 1)
    assert prepare(cfg, settings, processor=proc).reused
    pad = proc.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert first.dataset[0]["input_ids"].count(pad) == 4
    _img(tmp_path / "imgs/a.png", size=(112, 112))  # replaced in place: 4x the pixels
    with caplog.at_level(logging.INFO, logger="mmtune"):
        second = prepare(cfg, settings, processor=proc)
    assert not second.reused and "media changed since the last preprocessing" in caplog.text
    assert second.dataset[0]["input_ids"].count(pad) == 16
    _img(tmp_path / "imgs/late.png")  # the missing image appeared
    third = prepare(cfg, settings, processor=proc)
    assert not third.reused and (third.report.kept, third.report.dropped) == (2, 0)
    assert prepare(cfg, settings, processor=proc).reused
    assert not prepare(cfg, settings, processor=proc, rebuild=True).reused


def test_a_file_replaced_with_the_same_size_and_time_is_caught_by_its_content(tiny_ckpt, tmp_path, monkeypatch):
    """``cp -p`` or ``rsync -t`` can replace an image keeping its size and time: small files are
    compared by content on every reuse, larger ones with --verify."""
    import os

    from mmtune.preprocess import cache

    path = tmp_path / "imgs/a.png"
    path.parent.mkdir(parents=True)
    Image.new("RGB", (56, 56), "red").save(path, compress_level=0)  # stored: the size is the same for any color
    data = write_jsonl(tmp_path / "data.jsonl", [_row()])
    cfg = tiny_config(tiny_ckpt("qwen2_vl"), data, tmp_path)
    settings, proc = settings_from_config(cfg)
    prepare(cfg, settings, processor=proc)

    def replace_keeping_size_and_time(color: str) -> None:
        st = os.stat(path)
        raw = path.read_bytes()
        Image.new("RGB", (56, 56), color).save(path, compress_level=0)
        new = path.read_bytes()
        assert len(new) == len(raw), "the test needs a same-size replacement"
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))

    replace_keeping_size_and_time("blue")
    assert not prepare(cfg, settings, processor=proc).reused  # a small file: its content is compared
    monkeypatch.setattr(cache, "SMALL_FILE", 0)  # as if the image were large
    replace_keeping_size_and_time("green")
    assert prepare(cfg, settings, processor=proc).reused  # size and time alone cannot tell
    assert not prepare(cfg, settings, processor=proc, verify=True).reused
