"""Options of the training pipeline that no family changes, checked once on the tiny Qwen2-VL:
predict's CLI, freezing, checkpoints and resume, LoRA targets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from family_checks import (
    run_training,
    tiny_config,
    two_image_conversation,
    write_jsonl,
    write_two_images,
)

from mmtune.cli import main
from mmtune.errors import ConfigError, MmtuneError
from mmtune.models.families import get_family
from mmtune.models.loading import apply_training_mode, load_model

FIRST = "qwen2_vl"


def test_predict_cli_on_trained_output(tiny_ckpt, tmp_path, capsys):
    from mmtune.outputs.predict import Predictor

    a, b = write_two_images(tmp_path)
    rows = [two_image_conversation(a, b, last_as_parts=True)] * 2
    result = run_training(tiny_ckpt(FIRST), rows, tmp_path, max_steps=2)
    images = [str(tmp_path / a), str(tmp_path / b)]
    capsys.readouterr()  # the training logs
    code = main(
        [
            "predict",
            str(result.output_dir),
            "--image",
            images[0],
            "--image",
            images[1],
            "--prompt",
            "What colors are these?",
            "--max-new-tokens",
            "3",
        ]
    )
    assert code == 0
    # it prints the answer and nothing else
    answer = Predictor(result.output_dir).generate("What colors are these?", images=images, max_new_tokens=3)
    assert capsys.readouterr().out == answer + "\n"


def _trainable_model(ckpt: Path, tmp_path: Path, **options):
    fam = get_family(FIRST)
    data = write_jsonl(tmp_path / "d.jsonl", [{"messages": []}])
    cfg = tiny_config(ckpt, data, tmp_path, **options)
    return fam, apply_training_mode(load_model(cfg.base_model, fam), cfg, fam)


def test_freeze_options_choose_the_trained_groups(tiny_ckpt, tmp_path):
    def trained_groups(**freeze):
        fam, model = _trainable_model(tiny_ckpt(FIRST), tmp_path, adapter=None, **freeze)
        return {fam.group_of(n) for n, p in model.named_parameters() if p.requires_grad}

    assert trained_groups() == {"vision", "projector", "language"}  # every parameter, as Axolotl trains
    assert trained_groups(freeze_vision_tower=True) == {"projector", "language"}
    assert trained_groups(freeze_vision_tower=False, freeze_language_model=True) == {"vision", "projector"}
    assert trained_groups(freeze_projector=True) == {"vision", "language"}


def test_checkpoints_are_saved_and_training_resumes(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    rows = [two_image_conversation(a, b)] * 2
    first = run_training(tiny_ckpt(FIRST), rows, tmp_path, max_steps=4, save_steps=2)
    ckpt = first.output_dir / "checkpoint-4"
    assert (ckpt / "adapter_model.safetensors").exists() and (ckpt / "optimizer.pt").exists()
    resumed = run_training(
        tiny_ckpt(FIRST), rows, tmp_path, max_steps=6, save_steps=2, resume_from_checkpoint=str(ckpt)
    )
    assert resumed.metrics["steps"] == 6
    assert len(resumed.losses) == 2  # only steps 5 and 6 ran


LM_PROJECTIONS = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        (None, {("language", x) for x in LM_PROJECTIONS}),  # absent: the language model's projections
        (["q_proj", "v_proj"], {("language", "q_proj"), ("language", "v_proj")}),
        # a list keeps peft's meaning: names anywhere in the model, vision tower and projector included
        (["qkv", "mlp.0"], {("vision", "qkv"), ("projector", "0")}),
        (
            r"model.language_model.layers.[\d]+.(mlp|cross_attn|self_attn).(up|down|gate|q|k|v|o)_proj",
            {("language", x) for x in LM_PROJECTIONS},
        ),
    ],
)
def test_lora_targets_default_to_the_language_model_and_lists_follow_peft(tiny_ckpt, tmp_path, targets, expected):
    fam, model = _trainable_model(tiny_ckpt(FIRST), tmp_path, lora_target_modules=targets)
    wrapped = {n.removeprefix("base_model.model.") for n, m in model.named_modules() if hasattr(m, "lora_A")}
    assert {(fam.group_of(n), n.rsplit(".", 1)[-1]) for n in wrapped} == expected


def test_lora_target_regex_that_matches_nothing_is_a_clear_error(tiny_ckpt, tmp_path):
    with pytest.raises(ConfigError, match="lora_target_modules matched no module"):
        _trainable_model(tiny_ckpt(FIRST), tmp_path, lora_target_modules=r"no\.such\.module")


QWEN2_LINEAR = (
    "language model: down_proj, gate_proj, k_proj, lm_head, o_proj, q_proj, up_proj, v_proj; projector: mlp.0, "
    "mlp.2; vision/audio tower: fc1, fc2, proj, qkv"
)


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        (
            ["qproj", "vproj"],
            f"lora_target_modules ['qproj', 'vproj'] matched no module of this model; its linear layers are named: "
            f"{QWEN2_LINEAR}",
        ),
        (  # one misspelt name beside a good one: peft would wrap v_proj alone without a word
            ["qproj", "v_proj"],
            "lora_target_modules: 'qproj' matched no module of this model; its linear layers are named: "
            f"{QWEN2_LINEAR}",
        ),
        (
            r"model\.language_model\.layers\.\d+",
            r"lora_target_modules 'model\\.language_model\\.layers\\.\\d+' matched only modules LoRA cannot wrap "
            "(model.language_model.layers.0, model.language_model.layers.1); its linear layers are named: "
            f"{QWEN2_LINEAR}",
        ),
    ],
)
@pytest.mark.parametrize("command", ["validate", "train"])
def test_lora_targets_that_match_nothing_are_refused_before_preprocessing(
    tiny_ckpt, tmp_path, command, targets, message
):
    from mmtune.preprocess.validate import validate
    from mmtune.train.recipe import train

    a, b = write_two_images(tmp_path)
    data = write_jsonl(tmp_path / "d.jsonl", [two_image_conversation(a, b)])
    cfg = tiny_config(tiny_ckpt(FIRST), data, tmp_path, lora_target_modules=targets)
    with pytest.raises(ConfigError) as e:
        (validate if command == "validate" else train)(cfg)
    assert str(e.value) == message
    assert not (tmp_path / "prepared").exists()  # found before any preprocessing


@pytest.mark.parametrize("adapter", ["lora", None])
def test_resuming_reproduces_the_uninterrupted_run(tiny_ckpt, tmp_path, adapter):
    """A run resumed from checkpoint-3 ends exactly where the same run without a stop ends: same
    losses for the steps after the checkpoint, same final weights (full fine-tuning included)."""
    a, b = write_two_images(tmp_path)
    rows = [two_image_conversation(str(tmp_path / a), str(tmp_path / b))] * 4
    opts = {"adapter": adapter, "max_steps": 6, "save_steps": 3, "seed": 7, "learning_rate": 1e-3}
    whole = run_training(tiny_ckpt(FIRST), rows, tmp_path / "whole", **opts)
    ckpt = whole.output_dir / "checkpoint-3"
    resumed = run_training(tiny_ckpt(FIRST), rows, tmp_path / "resumed", **opts, resume_from_checkpoint=str(ckpt))
    assert resumed.metrics["steps"] == 6
    assert len(resumed.losses) == 3
    assert resumed.losses == pytest.approx(whole.losses[3:], abs=1e-6)
    for (name, p), (_, q) in zip(whole.model.named_parameters(), resumed.model.named_parameters()):
        torch.testing.assert_close(p, q, msg=name)


def test_resuming_from_a_checkpoint_with_a_missing_weight_is_an_error(tiny_ckpt, tmp_path):
    """Never a silent partial load: a checkpoint missing a weight stops the resume and names it."""
    from safetensors.torch import load_file, save_file

    a, b = write_two_images(tmp_path)
    rows = [two_image_conversation(str(tmp_path / a), str(tmp_path / b))] * 2
    first = run_training(tiny_ckpt(FIRST), rows, tmp_path / "first", adapter=None, max_steps=2, save_steps=2)
    ckpt = first.output_dir / "checkpoint-2"
    weights = load_file(ckpt / "model.safetensors")
    dropped = next(k for k in weights if "layers.0.mlp.down_proj" in k)
    save_file({k: v for k, v in weights.items() if k != dropped}, ckpt / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(MmtuneError, match=r"checkpoint .*checkpoint-2 does not fit the model: 1 missing keys"):
        run_training(
            tiny_ckpt(FIRST), rows, tmp_path / "again", adapter=None, max_steps=4, resume_from_checkpoint=str(ckpt)
        )


def test_an_existing_run_is_never_overwritten_silently(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    rows = [two_image_conversation(str(tmp_path / a), str(tmp_path / b))] * 2
    first = run_training(tiny_ckpt(FIRST), rows, tmp_path, max_steps=2, save_steps=1)
    assert [p.name for p in sorted(first.output_dir.glob("checkpoint-*"))] == ["checkpoint-1", "checkpoint-2"]
    with pytest.raises(ConfigError, match=r"already holds 2 checkpoint folder\(s\); resume it"):
        run_training(tiny_ckpt(FIRST), rows, tmp_path, max_steps=1)
    again = run_training(tiny_ckpt(FIRST), rows, tmp_path, max_steps=1, save_steps=1, overwrite_output_dir=True)
    assert [p.name for p in again.output_dir.glob("checkpoint-*")] == ["checkpoint-1"]  # the old ones are gone


def test_resume_latest_and_paths_from_the_config_folder(tiny_ckpt, tmp_path):
    import yaml

    a, b = write_two_images(tmp_path)
    rows = [two_image_conversation(str(tmp_path / a), str(tmp_path / b))] * 2
    data = write_jsonl(tmp_path / "train.jsonl", rows)
    cfg = tiny_config(tiny_ckpt(FIRST), data, tmp_path, max_steps=2, save_steps=1).model_dump(mode="json")
    cfg["output_dir"] = "out"  # relative: from the config's folder
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["train", str(path)]) == 0
    # --resume alone: the newest checkpoint of output_dir (checkpoint-2), then two more steps
    path.write_text(yaml.safe_dump({**cfg, "max_steps": 4}))
    assert main(["train", str(path), "--resume"]) == 0
    metrics = json.loads((tmp_path / "out" / "train_metrics.json").read_text())
    assert metrics["steps"] == 4 and len(metrics["losses"]) == 2
    # a relative resume_from_checkpoint in the file resolves against the config's folder
    path.write_text(yaml.safe_dump({**cfg, "max_steps": 5, "resume_from_checkpoint": "out/checkpoint-4"}))
    assert main(["train", str(path)]) == 0
    assert json.loads((tmp_path / "out" / "train_metrics.json").read_text())["steps"] == 5


def test_a_wrong_resume_path_fails_before_preprocessing(tiny_ckpt, tmp_path, caplog):
    a, b = write_two_images(tmp_path)
    rows = [two_image_conversation(str(tmp_path / a), str(tmp_path / b))]
    with pytest.raises(ConfigError, match=r"resume_from_checkpoint .*nope does not exist"):
        run_training(tiny_ckpt(FIRST), rows, tmp_path, resume_from_checkpoint=str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match=r"resume_from_checkpoint: true, but .* has no checkpoint-N folder"):
        run_training(tiny_ckpt(FIRST), rows, tmp_path, resume_from_checkpoint=True)
    assert not (tmp_path / "prepared").exists()  # nothing was preprocessed


def test_predict_refuses_what_preprocessing_refuses(tiny_ckpt, tmp_path):
    """Audio given to an image-only family is an error naming the modality, never silently dropped."""
    from family_checks import write_tone

    from mmtune.errors import DataError
    from mmtune.outputs.predict import Predictor
    from mmtune.preprocess.settings import settings_from_config

    fam = get_family(FIRST)
    cfg = tiny_config(tiny_ckpt(FIRST), write_jsonl(tmp_path / "d.jsonl", [{"messages": []}]), tmp_path)
    settings, processor = settings_from_config(cfg)
    pred = Predictor.from_parts(load_model(cfg.base_model, fam), processor, settings)
    clip = tmp_path / write_tone(tmp_path / "a.wav", 0.5)
    with pytest.raises(
        DataError, match=r"audio input is not supported by model family 'qwen2_vl' \(it takes: image, video\)"
    ):
        pred.generate("What is it?", audio=[str(clip)])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"optimizer": "adamw_torhc"},
            "optimizer 'adamw_torhc' is not a transformers optimizer; "
            "did you mean adamw_torch, adamw_torch_xla, adamw_torch_8bit?",
        ),
        ({"val_set_size": 2}, "val_set_size 2 leaves no training rows (of 2 kept)"),
        ({"val_set_size": 0.9}, "val_set_size 0.9 leaves no training rows (of 2 kept)"),
    ],
)
def test_train_refuses_early_with_a_clear_message(tiny_ckpt, tmp_path, options, message):
    a, b = write_two_images(tmp_path)
    rows = [two_image_conversation(str(tmp_path / a), str(tmp_path / b))] * 2
    with pytest.raises(ConfigError) as err:
        run_training(tiny_ckpt(FIRST), rows, tmp_path, **options)
    assert str(err.value) == message
    assert not (tmp_path / "out").exists()  # no model was trained or saved


def test_paths_that_are_files_and_roles_that_are_not_roles_are_refused(tiny_ckpt, tmp_path):
    (tmp_path / "afile").write_text("x")
    rows = [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}]
    with pytest.raises(ConfigError, match=r"^base_model .*afile is a file; give the checkpoint's folder"):
        run_training(tmp_path / "afile", rows, tmp_path)
    with pytest.raises(ConfigError, match=r"^dataset_prepared_path .*afile is a file, not a folder$"):
        run_training(tiny_ckpt(FIRST), rows, tmp_path, dataset_prepared_path=str(tmp_path / "afile"))
    with pytest.raises(ConfigError, match="roles_to_train"):
        run_training(tiny_ckpt(FIRST), rows, tmp_path, roles_to_train=["assistant", "bot"])


def test_training_shows_one_bar_with_loss_and_lr_on_stderr(tiny_ckpt, tmp_path, capfd):
    import yaml

    a, b = write_two_images(tmp_path)
    rows = [two_image_conversation(str(tmp_path / a), str(tmp_path / b))] * 2
    data = write_jsonl(tmp_path / "train.jsonl", rows)
    cfg = tiny_config(tiny_ckpt(FIRST), data, tmp_path, max_steps=3).model_dump(mode="json")
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(tmp_path / "cfg.yaml")]) == 0
    out, err = capfd.readouterr()
    assert re.search(r"3/3 \[.*loss=[0-9.]+.*lr=[0-9.e-]+", err), err[-2000:]
    assert "{'loss'" not in out + err  # no raw dicts of quoted numbers
    assert json.loads(out[: out.rindex("}") + 1])["steps"] == 3  # stdout: the metrics as JSON
