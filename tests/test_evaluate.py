"""Task metrics during training (eval_metrics) and after it (`mmtune evaluate`), on a tiny run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from family_checks import one_media_conversation, tiny_config, write_jsonl, write_two_images

from mmtune.cli import main
from mmtune.outputs.metrics import corpus_scores, row_scores
from mmtune.train.recipe import train

FAMILY = "qwen2_vl"
RECORD_KEYS = ["row_id", "prompt", "media", "reference", "prediction", "scores", "step"]


def _rows(tmp_path: Path, n: int, question: str = "What color?") -> list[dict]:
    a, b = write_two_images(tmp_path)
    return [one_media_conversation("image", a if i % 2 else b, question, "red" if i % 2 else "blue") for i in range(n)]


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def run(tiny_ckpt, tmp_path_factory):
    """Six rows, two held out (val_set_size), two steps in one epoch: evaluated at steps 0 and 2."""
    tmp = tmp_path_factory.mktemp("eval_run")
    data = write_jsonl(tmp / "train.jsonl", _rows(tmp, 6))
    cfg = tiny_config(
        tiny_ckpt(FAMILY),
        data,
        tmp,
        max_steps=2,
        val_set_size=2,
        eval_metrics=["exact_match", "cer"],
        eval_max_new_tokens=3,
    )
    result = train(cfg)
    return tmp, result


def test_training_logs_eval_metrics_before_training_and_at_each_evaluation(run):
    tmp, result = run
    out = result.output_dir
    history = json.loads((out / "eval_history.json").read_text())
    # step 0 is the model before training; the final evaluation after training is not a second entry
    assert [(e["step"], e["epoch"]) for e in history] == [(0, 0), (2, 1.0)]
    for entry in history:
        assert list(entry["metrics"]) == ["eval_loss", "eval_exact_match", "eval_cer"]
    before, latest = _records(out / "eval_predictions_before.jsonl"), _records(out / "eval_predictions.jsonl")
    assert [r["step"] for r in before] == [0, 0] and [r["step"] for r in latest] == [2, 2]
    data = str(tmp / "train.jsonl")
    held = sorted(int(r["row_id"].rsplit(":", 1)[1]) for r in latest)
    assert all(r["row_id"].startswith(f"{data}:") for r in latest) and len(set(held)) == 2
    for rec in latest:
        assert list(rec) == RECORD_KEYS
        assert rec["prompt"] == "What color?"
        index = int(rec["row_id"].rsplit(":", 1)[1])
        image = tmp / ("imgs/a.png" if index % 2 else "imgs/b.png")
        assert rec["media"] == [{"kind": "image", "ref": str(image)}]
        assert rec["reference"] == ("red" if index % 2 else "blue")
        assert rec["scores"] == row_scores(rec["prediction"], rec["reference"], ["exact_match", "cer"])
    preds, refs = [r["prediction"] for r in latest], [r["reference"] for r in latest]
    expected = corpus_scores(preds, refs, ["exact_match", "cer"])
    assert history[-1]["metrics"]["eval_exact_match"] == expected["exact_match"]
    assert history[-1]["metrics"]["eval_cer"] == expected["cer"]
    # through Trainer.log: in the log history and in TensorBoard, at both steps
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = [EventAccumulator(str(f)).Reload() for f in (out / "runs").rglob("events.out.tfevents*")]
    for tag in ("eval/exact_match", "eval/cer"):
        steps = sorted(s.step for ev in events if tag in ev.Tags()["scalars"] for s in ev.Scalars(tag))
        assert steps == [0, 2], tag


def test_evaluate_command_scores_the_runs_held_out_rows(run, capsys):
    tmp, result = run
    out = result.output_dir
    trained_ids = [r["row_id"] for r in _records(out / "eval_predictions.jsonl")]
    assert main(["evaluate", str(out), "--max-new-tokens", "3"]) == 0
    results = json.loads((out / "eval_results.json").read_text())
    records = _records(out / "eval_predictions.jsonl")
    assert [r["row_id"] for r in records] == trained_ids  # the same val_set_size split, same seed
    assert list(records[0]) == RECORD_KEYS and records[0]["step"] == 0
    m = corpus_scores([r["prediction"] for r in records], [r["reference"] for r in records], ["exact_match", "cer"])
    assert results == {
        "metrics": m,
        "rows": 2,
        "rows_left_out": 0,
        "model": str(out.resolve()),
        "base": False,
        "data": "the run's held-out rows: the val_set_size 2 split, seed 42",
        "max_new_tokens": 3,
    }
    stdout = capsys.readouterr().out.splitlines()
    assert stdout == [f"exact_match  {m['exact_match']:.4f}", f"cer          {m['cer']:.4f}", "rows         2"]


def test_evaluate_base_model_on_a_data_file_with_chosen_metrics(run, tiny_ckpt):
    tmp, result = run
    out = result.output_dir
    data = write_jsonl(tmp / "more.jsonl", _rows(tmp, 3, "Which color is it?"))
    argv = ["evaluate", str(out), "--base", "--data", str(data), "--metrics", "anls,wer", "--max-samples", "2"]
    assert main(argv) == 0
    results = json.loads((out / "eval_results_base.json").read_text())
    assert list(results["metrics"]) == ["anls", "wer"]
    assert (results["rows"], results["base"], results["model"]) == (2, True, str(tiny_ckpt(FAMILY)))
    records = _records(out / "eval_predictions_base.jsonl")
    assert [r["row_id"] for r in records] == [f"{data}:0", f"{data}:1"]
    assert {r["prompt"] for r in records} == {"Which color is it?"}


def test_evaluate_reports_bad_rows_and_scores_the_others(run, caplog):
    tmp, result = run
    good = _rows(tmp, 1)[0]
    missing = one_media_conversation("image", "imgs/nowhere.png", "What color?", "red")
    no_answer = {"messages": [{"role": "user", "content": "Hello?"}]}
    data = write_jsonl(tmp / "bad.jsonl", [good, missing, no_answer])
    assert main(["evaluate", str(result.output_dir), "--data", str(data), "--metrics", "exact_match"]) == 0
    results = json.loads((result.output_dir / "eval_results.json").read_text())
    assert (results["rows"], results["rows_left_out"]) == (1, 2)
    text = caplog.text
    assert f"{data} row 2: no assistant answer after a prompt to compare a generated answer with" in text
    assert f"{data} row 1: " in text and "nowhere.png" in text


def test_evaluate_refuses_a_folder_that_is_not_an_output_and_an_unknown_metric(run, tmp_path, caplog):
    assert main(["evaluate", str(tmp_path)]) == 2
    assert f"{tmp_path} is not an mmtune output folder (no mmtune_run.json)" in caplog.text
    assert main(["evaluate", str(run[1].output_dir), "--metrics", "exact_match,f1"]) == 2
    assert "eval_metrics: unknown metric 'f1'; valid: loss, exact_match, accuracy, rouge_l, bleu, cer, wer, anls" in (
        caplog.text
    )


def test_test_datasets_are_the_held_out_rows_in_training_and_in_evaluate(tiny_ckpt, tmp_path):
    data = write_jsonl(tmp_path / "train.jsonl", _rows(tmp_path, 4))
    test = write_jsonl(tmp_path / "test.jsonl", _rows(tmp_path, 3, "Name the color."))
    cfg = tiny_config(
        tiny_ckpt(FAMILY),
        data,
        tmp_path,
        max_steps=1,
        test_datasets=[{"path": str(test)}],
        eval_metrics=["loss", "accuracy"],
        eval_max_samples=2,
        eval_max_new_tokens=2,
    )
    result = train(cfg)
    assert result.metrics["data_rows_kept"] == 4  # every row of datasets trains
    records = _records(result.output_dir / "eval_predictions.jsonl")
    assert [r["row_id"] for r in records] == [f"{test}:0", f"{test}:1"]  # eval_max_samples: the first two
    history = json.loads((result.output_dir / "eval_history.json").read_text())
    assert [list(e["metrics"]) for e in history] == [["eval_loss", "eval_accuracy"]] * 2
    assert main(["evaluate", str(result.output_dir)]) == 0
    results = json.loads((result.output_dir / "eval_results.json").read_text())
    assert (results["data"], results["rows"], list(results["metrics"])) == (
        "the run's held-out rows: test_datasets",
        2,
        ["accuracy"],
    )
