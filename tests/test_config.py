"""Config: Axolotl keys load, unknown keys get a suggestion, bad values name their key path."""

from __future__ import annotations

import pytest

from mmtune.config import load_config, parse_config
from mmtune.errors import ConfigError

BASE = {"base_model": "some/model", "datasets": [{"path": "data.jsonl", "type": "chat_template"}]}


def test_axolotl_multimodal_config_loads(tmp_path):
    (tmp_path / "cfg.yaml").write_text(
        """
base_model: Qwen/Qwen2-VL-7B-Instruct
processor_type: AutoProcessor
chat_template: qwen2_vl
datasets:
  - path: HuggingFaceH4/llava-instruct-mix-vsft
    type: chat_template
    split: train[:1%]
adapter: lora
lora_r: 32
lora_alpha: 16
lora_dropout: 0.05
lora_target_modules: 'model.language_model.layers.[\\d]+.(mlp|cross_attn|self_attn).(up|down|gate|q|k|v|o)_proj'
image_size: [448, 336]
image_resize_algorithm: bicubic
sequence_len: 8192
micro_batch_size: 1
gradient_accumulation_steps: 4
num_epochs: 1
learning_rate: 0.0002
lr_scheduler: cosine
optimizer: adamw_torch
bf16: true
gradient_checkpointing: true
skip_prepare_dataset: true
remove_unused_columns: false
flash_attention: true
wandb_project: demo
"""
    )
    cfg = load_config(tmp_path / "cfg.yaml")
    assert cfg.image_wh == (448, 336)
    assert cfg.datasets[0].split == "train[:1%]"
    assert cfg.base_model == "Qwen/Qwen2-VL-7B-Instruct"  # a hub id stays a hub id
    assert cfg.output_dir.startswith(str(tmp_path))


def test_unknown_key_suggests_the_closest():
    with pytest.raises(ConfigError, match=r"unknown key 'lora_targets'; did you mean 'lora_target_modules'\?"):
        parse_config({**BASE, "lora_targets": ["q_proj"]})


def test_unknown_dataset_key_names_its_place():
    with pytest.raises(ConfigError, match=r"unknown key datasets\[0\]\.'meda_dir'; did you mean 'media_dir'\?"):
        parse_config({**BASE, "datasets": [{"path": "x.jsonl", "meda_dir": "m"}]})


def test_bad_value_names_the_key_path():
    with pytest.raises(ConfigError, match=r"micro_batch_size: Input should be greater than 0"):
        parse_config({**BASE, "micro_batch_size": 0})
    with pytest.raises(ConfigError, match=r"image_size"):
        parse_config({**BASE, "image_size": [1, 2, 3]})
    with pytest.raises(ConfigError, match=r"adapter"):
        parse_config({**BASE, "adapter": "loraa"})


def test_quantization_without_cuda_is_a_clear_error(tiny_ckpt, tmp_path):
    import torch

    from mmtune.models.loading import quantization_config

    cfg = parse_config({**BASE, "adapter": "qlora"})
    assert cfg.load_in_4bit
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match=r"load_in_4bit \(QLoRA\) needs a CUDA GPU"):
            quantization_config(cfg)


def test_freeze_options_are_for_full_fine_tuning():
    with pytest.raises(ConfigError, match="apply to full fine-tuning"):
        parse_config({**BASE, "adapter": "lora", "freeze_vision_tower": False})


def test_missing_config_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("base_model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")


def test_docs_config_reference_is_up_to_date():
    from pathlib import Path

    from mmtune.config import Config, config_reference

    doc = (Path(__file__).resolve().parents[1] / "docs" / "config.md").read_text()
    assert doc.strip() == config_reference().strip(), "regenerate docs/config.md from config_reference()"
    from mmtune.config.reference import axolotl_reference

    doc = (Path(__file__).resolve().parents[1] / "docs" / "axolotl.md").read_text()
    assert doc.strip() == axolotl_reference().strip(), "regenerate docs/axolotl.md from axolotl_reference()"
    assert all(f.description for f in Config.model_fields.values())  # every key is documented in place


def test_field_messages_and_processor_type(tiny_ckpt, tmp_path):
    from family_checks import tiny_config, write_jsonl

    from mmtune.preprocess.cache import prepare
    from mmtune.preprocess.settings import settings_from_config

    row = {"conversation": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yes"}]}
    data = write_jsonl(tmp_path / "d.jsonl", [row])
    cfg = tiny_config(tiny_ckpt("qwen2_vl"), data, tmp_path, processor_type="Qwen2VLProcessor")
    cfg.datasets[0].field_messages = "conversation"
    settings, proc = settings_from_config(cfg)
    assert type(proc).__name__ == "Qwen2VLProcessor"
    prep = prepare(cfg, settings, processor=proc)
    assert proc.tokenizer.decode([t for t in prep.dataset[0]["labels"] if t != -100]) == "yes<|im_end|>"
    bad = tiny_config(tiny_ckpt("qwen2_vl"), data, tmp_path, processor_type="NoSuchProcessor")
    with pytest.raises(ConfigError, match="processor_type 'NoSuchProcessor' is not a transformers processor class"):
        settings_from_config(bad)


def test_precision_keys_say_what_they_do(tmp_path):
    """fp16 acts on a GPU (and yields to bf16); on CPU both say what happens instead."""
    from mmtune.train.args import precision_notes

    base = {"base_model": str(tmp_path), "datasets": [{"path": "d.jsonl"}], "output_dir": str(tmp_path / "o")}
    assert precision_notes(parse_config({**base, "fp16": True}), cuda=True) == []
    assert precision_notes(parse_config({**base, "fp16": True}), cuda=False) == [
        "fp16 needs a CUDA GPU; training in float32 on this CPU"
    ]
    assert precision_notes(parse_config({**base, "bf16": True}), cuda=False) == [
        "bf16 on CPU: the model's weights are bfloat16 and train in bfloat16 (no mixed precision)"
    ]
    assert precision_notes(parse_config({**base, "fp16": True, "bf16": True}), cuda=True) == [
        "fp16 and bf16 are both set: bf16 wins (float16 mixed precision is off)"
    ]
    args_fp16 = parse_config({**base, "fp16": True})
    assert args_fp16.fp16 is True
