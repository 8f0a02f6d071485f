"""The quickstart's synthetic VQA set and its end-to-end runner."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict

from mmtune.quickstart.shapes import make_dataset
from mmtune.tiny import TinySizes


def test_dataset_has_three_question_kinds_with_five_answers_each(tmp_path):
    train, heldout = make_dataset(tmp_path, n_train=60, n_heldout=20)
    answers = defaultdict(set)
    for line in train.read_text().splitlines():
        row = json.loads(line)
        answers[row["question"]].add(row["messages"][-1]["content"])
    assert set(answers) == {"color", "kind", "count"}
    assert all(len(v) >= 5 for v in answers.values()), answers  # guessing scores 20% at most


def test_heldout_images_are_never_seen_in_training(tmp_path):
    make_dataset(tmp_path, n_train=60, n_heldout=20)

    def digests(split):
        return {hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "images" / split).iterdir()}

    assert not digests("train") & digests("heldout")


def test_quickstart_runs_end_to_end(tmp_path, capsys, monkeypatch):
    """A short run of the real runner (few steps): it prints the accuracy line the demo ends with."""
    import yaml

    from mmtune.quickstart import run as qs

    cfg = yaml.safe_load((qs.resources.files("mmtune.examples") / "quickstart.yaml").read_text())
    cfg.update(max_steps=3, micro_batch_size=2)
    (tmp_path / "q.yaml").write_text(yaml.safe_dump(cfg))
    monkeypatch.setattr(qs, "make_dataset", lambda out: make_dataset(out, n_train=6, n_heldout=3))
    monkeypatch.setattr(qs, "TINY_SIZES", TinySizes())
    assert qs.run_quickstart(str(tmp_path / "q.yaml"), str(tmp_path / "run")) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("quickstart accuracy: before ") and " -> after " in last
    assert (tmp_path / "run" / "model" / "mmtune_run.json").exists()
    # both numbers are the evaluation path's exact_match, written as `mmtune evaluate` writes them
    model = tmp_path / "run" / "model"
    before = json.loads((model / "eval_results_base.json").read_text())
    after = json.loads((model / "eval_results.json").read_text())
    # 3 held-out images, 3 questions each
    assert before["rows"] == after["rows"] == 9 and before["base"] and not after["base"]
    em = before["metrics"]["exact_match"], after["metrics"]["exact_match"]
    assert last == f"quickstart accuracy: before {em[0]:.0%} -> after {em[1]:.0%}"
    assert len((model / "eval_predictions.jsonl").read_text().splitlines()) == 9
