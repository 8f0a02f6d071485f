"""The HTML run report: what it shows, that hostile text stays text, that a browser draws it, and
that a training run writes it."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from family_checks import run_training, two_image_conversation, write_gif, write_tone, write_two_images
from PIL import Image

from mmtune.cli import main
from mmtune.outputs.runcard import RunCard
from mmtune.preprocess.settings import PrepSettings

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _write(path: Path, data) -> None:
    path.write_text(json.dumps(data))


def _predictions(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def make_output(tmp_path: Path) -> Path:
    """An output folder with every file the report reads, in the schemas training and evaluation write."""
    out = tmp_path / "out"
    out.mkdir()
    media = tmp_path / "media"
    media.mkdir()
    Image.new("RGB", (400, 300), (255, 0, 0)).save(media / "red.png")
    write_tone(media / "beep.wav", 1.0)
    write_gif(media)
    settings = PrepSettings(base_model="/models/tiny", family="qwen2_vl", chat_template="family")
    config = {"base_model": "/models/tiny", "adapter": "lora", "lora_r": 8, "learning_rate": 0.005, "datasets": []}
    config["datasets"] = [{"path": str(media / "train.jsonl")}]
    RunCard("/models/tiny", "qwen2_vl", "lora", settings, config).save(out)
    _write(
        out / "trainable.json",
        {
            "groups": {
                "vision": {"trainable": 0, "total": 5000},
                "projector": {"trainable": 0, "total": 1000},
                "language": {"trainable": 4096, "total": 120000},
            },
            "trainable": 4096,
            "total": 126000,
            "adapter_params": 4096,
        },
    )
    _write(
        out / "data_report.json",
        {
            "rows_read": 1234,
            "rows_kept": 1200,
            "rows_dropped": 34,
            "tokens": 987654,
            "supervised_tokens": 45678,
            "media": 1500,
            "train_rows": 1100,
            "eval_rows": 100,
            "rows_with_media": 1199,
            "reasons": {"image 'gone.png' not found": 30, "longer than sequence_len": 4},
            "dropped": [{"dataset": "train.jsonl", "row": 7, "field": "", "error": "image 'gone.png' not found"}],
            "length_histogram": {"edges": [100, 200, 300, 400], "counts": [10, 1000, 190]},
            "length_stats": {"min": 100, "max": 400, "mean": 250.5},
        },
    )
    history = [
        {"loss": 2.0 - 0.1 * s, "grad_norm": 1.5, "learning_rate": 0.005, "epoch": s / 10, "step": s}
        for s in range(1, 11)
    ]
    history.insert(5, {"eval_loss": 1.75, "eval_runtime": 1.0, "epoch": 0.5, "step": 5})
    history.append(
        {"train_runtime": 12.5, "train_samples_per_second": 3.2, "train_loss": 1.5, "epoch": 1.0, "step": 10}
    )
    _write(out / "log_history.json", history)
    points = [{"step": s, "seconds": 1.25 * s, "tokens_seen": 1000 * s, "epoch": s / 10} for s in range(1, 11)]
    _write(out / "throughput.json", {"batch_size": 4, "train_tokens": 8000, "points": points})
    _write(
        out / "eval_history.json",
        [
            {"step": 0, "epoch": None, "metrics": {"eval_loss": 2.5, "eval_exact_match": 0.125}},
            {"step": 10, "epoch": 1.0, "metrics": {"eval_loss": 1.25, "eval_exact_match": 0.875}},
        ],
    )
    row = {
        "row_id": "train.jsonl:3",
        "prompt": f"What color? {HOSTILE}",
        "media": [
            {"kind": "image", "ref": str(media / "red.png")},
            {"kind": "audio", "ref": "beep.wav"},  # relative: found beside the dataset file
            {"kind": "video", "ref": str(media / "clip.gif")},
            {"kind": "image", "ref": str(media / "missing.png")},
        ],
        "reference": "red",
        "scores": {"exact_match": 0.0},
    }
    _predictions(out / "eval_predictions_before.jsonl", [{**row, "prediction": "blue", "step": 0}])
    after = {**row, "prediction": f"red {HOSTILE}", "scores": {"exact_match": 1.0}, "step": 10}
    _predictions(out / "eval_predictions.jsonl", [after])
    return out


def _report(out: Path, capsys) -> str:
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed == f"{out / 'report.html'}\n"
    return (out / "report.html").read_text()


def test_report_shows_config_data_curves_and_gallery(tmp_path, capsys):
    html = _report(make_output(tmp_path), capsys)
    # trainable per module group
    assert re.search(r"<td>language</td><td class=\"n\">4,096</td><td class=\"n\">120,000</td>", html)
    assert '<td>vision</td><td class="n">0</td>' in html
    # the data report with every drop reason
    for text in ("1,234", "1,200", "987,654", "45,678", "1,500", "longer than sequence_len"):
        assert text in html, text
    assert 'image &#39;gone.png&#39; not found</td><td class="n">30</td>' in html
    # plots: length histogram, loss, learning rate, gradient norm, samples/s, tokens/s, 2 eval metrics
    titles = re.findall(r'<svg class="chart[^"]*"[^>]*aria-label="([^"]*)"', html)
    assert titles == [
        "Row length",
        "Loss",
        "Learning rate",
        "Gradient norm",
        "Samples per second",
        "Tokens per second (with padding)",
        "Eval exact match",
        "Eval loss",
    ]
    # 4 samples per 1.25 s between logs; 1000 tokens per 1.25 s; 1 - 1.0 epoch * 8000 / 10000 tokens seen
    assert "<title>samples/s: 3.2 at 10</title>" in html
    assert "<title>tokens/s: 800 at 10</title>" in html
    assert 'padding share of tokens (estimated)</th><td class="n">20.0%' in html
    assert '<tr><td class="n">10</td><td class="n">0.875</td><td class="n">1.25</td></tr>' in html
    # the gallery: the image as a 160 px thumbnail, the audio as a player, 4 video frames
    thumbs = re.findall(r'<img src="data:image/jpeg;base64,([^"]+)" alt="(\w+)', html)
    assert [kind for _, kind in thumbs] == ["image", "video", "video", "video", "video"]
    image = Image.open(io.BytesIO(base64.b64decode(thumbs[0][0])))
    assert image.size == (160, 120)
    assert image.getpixel((80, 60))[0] > 240 and image.getpixel((80, 60))[1] < 20  # red
    assert html.count('<audio controls src="data:audio/wav;base64,') == 1
    assert "could not be shown: image" in html and "missing.png" in html
    assert '<div class="text prediction">blue</div>' in html
    assert "exact_match 1" in html


def test_hostile_text_is_shown_as_text(tmp_path, capsys):
    html = _report(make_output(tmp_path), capsys)
    assert "<script" not in html and "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "")
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
    assert f"What color? {escaped}" in html
    assert f"red {escaped}" in html


def test_report_without_evaluation_or_training_files(tmp_path, capsys):
    out = make_output(tmp_path)
    for name in ("eval_history.json", "eval_predictions.jsonl", "eval_predictions_before.jsonl", "log_history.json"):
        (out / name).unlink()
    html = _report(out, capsys)
    assert "No predictions yet" in html
    assert "No evaluation yet" in html
    assert "No training log yet." in html
    assert html.count("<svg") == 3  # row lengths, samples/s, tokens/s


def test_report_of_a_folder_that_is_not_an_output(tmp_path, caplog):
    assert main(["report", str(tmp_path)]) == 2
    assert caplog.records[-1].getMessage() == f"{tmp_path} is not an mmtune output folder (no mmtune_run.json)"


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        print("chromium is not installed (`make install-dev` installs Debian's chromium package where apt can)")
        pytest.skip("chromium is not installed: the report screenshot test cannot run here")
    return found


def test_chromium_draws_the_plots_and_the_gallery(tmp_path, capsys):
    chromium = _chromium()
    html_path = Path(_report(make_output(tmp_path), capsys) and tmp_path / "out" / "report.html")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'p'}"]
    url = html_path.resolve().as_uri()
    dom = subprocess.run([chromium, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    assert len(re.findall(r'<svg class="chart', dom)) == 8
    assert len(re.findall(r"<polyline class=\"series\"", dom)) >= 7
    gallery = dom[dom.index('<section id="gallery">') :]
    assert gallery.count('<img src="data:image/jpeg;base64,') == 5 and "<audio controls" in gallery
    shot = tmp_path / "shot.png"
    subprocess.run(
        [chromium, *flags, f"--screenshot={shot}", "--window-size=1280,4200", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    img = Image.open(shot).convert("RGB")
    assert img.size == (1280, 4200)
    colors = img.getcolors(maxcolors=1 << 20)
    assert colors is not None and len(colors) > 50  # text, plots and pictures, not a blank page
    # the plot lines (the palette's blue, #0072B2) and the red thumbnail are painted
    counts = {c: n for n, c in colors}
    assert counts.get((0, 114, 178), 0) > 200
    assert sum(n for n, (r, g, b) in colors if r > 235 and g < 25 and b < 25) > 160 * 100


def test_training_writes_the_report(tiny_ckpt, tmp_path, caplog):
    a, b = write_two_images(tmp_path)
    rows = [two_image_conversation(a, b)] * 4
    result = run_training(
        tiny_ckpt("qwen2_vl"),
        rows,
        tmp_path,
        max_steps=2,
        val_set_size=2,
        eval_metrics=["loss", "exact_match"],
        eval_max_new_tokens=2,
    )
    out = result.output_dir
    assert not [r for r in caplog.records if "could not write the run report" in r.getMessage()]
    data = json.loads((out / "data_report.json").read_text())
    assert {k: data[k] for k in ("rows_read", "rows_kept", "rows_dropped", "train_rows", "eval_rows", "media")} == {
        "rows_read": 4,
        "rows_kept": 4,
        "rows_dropped": 0,
        "train_rows": 2,
        "eval_rows": 2,
        "media": 8,
    }
    assert sum(data["length_histogram"]["counts"]) == 4
    trainable = json.loads((out / "trainable.json").read_text())
    groups = trainable["groups"]
    assert groups["vision"]["trainable"] == 0 and groups["vision"]["total"] > 0  # LoRA on the language model
    assert groups["language"]["trainable"] == trainable["trainable"] == trainable["adapter_params"] > 0
    assert trainable["trainable"] == result.metrics["trainable_params"]
    assert trainable["total"] == result.metrics["total_params"]
    history = json.loads((out / "log_history.json").read_text())
    assert [e["step"] for e in history if "loss" in e] == [1, 2]
    assert any("eval_loss" in e for e in history) and history[-1].get("num_input_tokens_seen", 0) > 0
    html = (out / "report.html").read_text()
    assert 'aria-label="Loss"' in html and 'aria-label="Row length"' in html
    assert 'aria-label="Tokens per second (with padding)"' in html
    assert 'aria-label="Eval exact match"' in html
    # the gallery: both held-out rows with their two images, answered before and after training
    gallery = html[html.index('<section id="gallery">') :]
    assert gallery.count('<div class="card">') == 2
    assert gallery.count('<img src="data:image/jpeg;base64,') == 4
    assert gallery.count("before training (step 0)") == 2
    assert gallery.count("after training (step 2)") == 2


def test_long_audio_is_cut_and_said_so(tmp_path):
    import soundfile as sf

    from mmtune.data.media import MediaSettings
    from mmtune.outputs.gallery import media_view

    name = write_tone(tmp_path / "long.wav", 31.0)
    view = media_view("audio", name, [str(tmp_path)], MediaSettings())
    assert view.note == "first 30 s of 31.0 s (longer clips are cut to keep the report small)"
    samples, rate = sf.read(io.BytesIO(base64.b64decode(view.audio.removeprefix("data:audio/wav;base64,"))))
    assert (len(samples), rate) == (30 * 16_000, 16_000)
    assert media_view("image", "https://example.com/a.png", [], MediaSettings()).link == "https://example.com/a.png"


def test_axis_ticks_and_labels():
    from mmtune.outputs.svg import fmt, nice_ticks

    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(1.2, 9.7) == [0, 2, 4, 6, 8, 10]
    assert nice_ticks(0, 0) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]  # one value of a score: the axis stays at 0 and up
    assert nice_ticks(0.005, 0.005) == [0.002, 0.003, 0.004, 0.005, 0.006, 0.007, 0.008]  # the value in the middle
    assert [fmt(v) for v in (0, 1234567, 0.875, 0.00002, 12.5)] == ["0", "1,234,567", "0.875", "2.00e-05", "12.5"]
