"""Axolotl's training-run keys act with Axolotl's meaning: schedules, warmup, when checkpoints
are saved, early stopping. Checked on real short runs of the tiny Qwen2-VL."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from family_checks import run_training, tiny_config, two_image_conversation, write_jsonl, write_two_images

from mmtune.config import parse_config
from mmtune.errors import ConfigError
from mmtune.train.args import training_args, warmup
from mmtune.train.schedulers import rex_factor

FIRST = "qwen2_vl"
BASE = {"base_model": "x", "datasets": [{"path": "d.jsonl"}]}


def _rows(tmp_path: Path, n: int) -> list[dict]:
    a, b = write_two_images(tmp_path)
    return [two_image_conversation(a, b)] * n


def _lrs(out: Path) -> list[float]:
    """The learning rate logged at each step, from the last checkpoint's trainer state."""
    last = max(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    history = json.loads((last / "trainer_state.json").read_text())["log_history"]
    return [h["learning_rate"] for h in history if "learning_rate" in h]


def test_rex_follows_its_formula_after_warmup(tiny_ckpt, tmp_path):
    steps, lr = 8, 1e-3
    run_training(
        tiny_ckpt(FIRST),
        _rows(tmp_path, 2),
        tmp_path,
        max_steps=steps,
        micro_batch_size=1,
        warmup_steps=2,
        learning_rate=lr,
        lr_scheduler="rex",
        cosine_min_lr_ratio=0.1,
        save_steps=steps,
    )
    # logged at step k: the rate step k used, which the scheduler set after step k - 1
    expected = [lr * rex_factor(k, steps, 2, 0.1) for k in range(steps)]
    assert _lrs(tmp_path / "out")[-steps:] == pytest.approx(expected, rel=1e-6)


def test_one_cycle_rises_over_warmup_and_falls_to_near_zero(tiny_ckpt, tmp_path):
    steps = 8
    run_training(
        tiny_ckpt(FIRST),
        _rows(tmp_path, 2),
        tmp_path,
        max_steps=steps,
        micro_batch_size=1,
        warmup_steps=3,
        learning_rate=1e-3,
        lr_scheduler="one_cycle",
        save_steps=steps,
    )
    lrs = _lrs(tmp_path / "out")[-steps:]
    peak = lrs.index(max(lrs))
    assert max(lrs) == pytest.approx(1e-3, rel=1e-6)
    assert peak == 2  # after step 3 of 3 warmup steps
    assert lrs[: peak + 1] == sorted(lrs[: peak + 1]) and lrs[peak:] == sorted(lrs[peak:], reverse=True)
    assert lrs[-1] < 1e-5


@pytest.mark.parametrize(
    ("steps", "keys", "expected"),
    [
        (100, {}, 3),  # Axolotl: 3% of the steps
        (10_000, {}, 100),  # ... at most 100
        (100, {"warmup_ratio": 0.1}, 10),
        (100, {"warmup_ratio": 0.1, "warmup_steps": 7}, 7),  # warmup_steps wins
    ],
)
def test_warmup_is_axolotls_rule(steps, keys, expected):
    assert warmup(parse_config({**BASE, **keys}), steps) == expected


def test_saves_per_epoch_and_save_first_step_decide_the_checkpoints(tiny_ckpt, tmp_path):
    run_training(
        tiny_ckpt(FIRST),
        _rows(tmp_path, 8),
        tmp_path,
        max_steps=None,
        num_epochs=1,
        micro_batch_size=1,
        saves_per_epoch=4,
        save_first_step=True,
        save_total_limit=10,
    )
    assert sorted(p.name for p in (tmp_path / "out").glob("checkpoint-*")) == [
        "checkpoint-1",
        "checkpoint-2",
        "checkpoint-4",
        "checkpoint-6",
        "checkpoint-8",
    ]


def test_without_save_keys_a_checkpoint_is_saved_each_epoch_and_four_are_kept(tiny_ckpt, tmp_path):
    run_training(tiny_ckpt(FIRST), _rows(tmp_path, 2), tmp_path, max_steps=None, num_epochs=6, micro_batch_size=1)
    assert sorted(p.name for p in (tmp_path / "out").glob("checkpoint-*")) == [
        "checkpoint-10",
        "checkpoint-12",
        "checkpoint-6",
        "checkpoint-8",
    ]


def test_early_stopping_stops_when_the_eval_loss_stops_improving(tiny_ckpt, tmp_path):
    """With a learning rate too small to change the loss, evaluation never improves: the run stops
    after the first evaluation plus ``early_stopping_patience`` more, not at its last step."""
    result = run_training(
        tiny_ckpt(FIRST),
        _rows(tmp_path, 6),
        tmp_path,
        max_steps=30,
        micro_batch_size=1,
        learning_rate=1e-30,
        val_set_size=2,
        eval_steps=2,
        save_steps=2,
        early_stopping_patience=2,
        save_total_limit=10,
    )
    assert result.metrics["steps"] == 6


@pytest.mark.parametrize(
    "key", [{"early_stopping_patience": 2}, {"load_best_model_at_end": True}, {"eval_metrics": ["exact_match"]}]
)
def test_keys_that_need_evaluation_are_refused_without_held_out_rows(tiny_ckpt, tmp_path, key):
    from mmtune.preprocess.validate import validate

    data = write_jsonl(tmp_path / "d.jsonl", [{"messages": []}])
    with pytest.raises(ConfigError) as e:
        validate(tiny_config(tiny_ckpt(FIRST), data, tmp_path, **key))
    assert (
        str(e.value) == f"{next(iter(key))} needs evaluation: set val_set_size or test_datasets (no rows are held out)"
    )


def test_optimizer_and_schedule_keys_reach_the_trainer():
    args = training_args(
        parse_config(
            {
                **BASE,
                "adam_beta1": 0.8,
                "adam_beta2": 0.95,
                "adam_epsilon": 1e-6,
                "lr_scheduler": "cosine",
                "cosine_min_lr_ratio": 0.1,
                "neftune_noise_alpha": 5,
                "eval_batch_size": 3,
                "dataloader_num_workers": 2,
                "save_only_model": True,
            }
        ),
        has_eval=False,
        train_rows=10,
    )
    assert (args.adam_beta1, args.adam_beta2, args.adam_epsilon) == (0.8, 0.95, 1e-6)
    assert args.lr_scheduler_type == "cosine_with_min_lr" and args.lr_scheduler_kwargs == {"min_lr_rate": 0.1}
    assert args.neftune_noise_alpha == 5
    assert args.per_device_eval_batch_size == 3 and args.dataloader_num_workers == 2
    assert args.save_only_model is True
    assert math.isclose(
        training_args(parse_config({**BASE, "saves_per_epoch": 4, "num_epochs": 2}), False, 10).save_steps, 0.125
    )


def test_gradient_checkpointing_kwargs_and_neftune_reach_the_model(tiny_ckpt, tmp_path, monkeypatch):
    """The options reach the calls that use them, and the run trains."""
    from transformers import PreTrainedModel

    seen = {}
    real = PreTrainedModel.activation_checkpointing_enable

    def spy(self, *args, **kwargs):
        seen.update(kwargs.get("activation_checkpointing_kwargs") or {})
        return real(self, *args, **kwargs)

    monkeypatch.setattr(PreTrainedModel, "activation_checkpointing_enable", spy)
    result = run_training(
        tiny_ckpt(FIRST),
        _rows(tmp_path, 2),
        tmp_path,
        max_steps=3,
        gradient_checkpointing=True,
        gradient_checkpointing_kwargs={"use_reentrant": True},
        neftune_noise_alpha=5.0,
    )
    assert seen == {"use_reentrant": True}
    assert all(math.isfinite(x) for x in result.losses)
