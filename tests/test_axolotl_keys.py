"""Every key of Axolotl's schema is acted on, accepted with a warning, or refused with advice.

tests/data/axolotl_schema_keys.json is read from Axolotl's own pydantic schemas
(tools/axolotl_schema_keys.py; the source commit is in the file).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from mmtune.config import Config, DatasetConfig, parse_config
from mmtune.config.axolotl import (
    ALWAYS_PREPROCESSES_KEYS,
    DATASET_REFUSED,
    DATASET_WITHOUT_EFFECT,
    LEGACY_ATTENTION,
    REFUSED,
    WITHOUT_EFFECT,
)
from mmtune.errors import ConfigError

SCHEMA = json.loads((Path(__file__).parent / "data" / "axolotl_schema_keys.json").read_text())
BASE = {"base_model": "some/model", "datasets": [{"path": "data.jsonl"}]}


def test_every_top_level_key_of_axolotls_schema_has_a_status():
    covered = (
        set(Config.model_fields) | set(WITHOUT_EFFECT) | set(REFUSED) | set(LEGACY_ATTENTION) | ALWAYS_PREPROCESSES_KEYS
    )
    assert sorted(set(SCHEMA["config"]) - covered) == []


def test_every_dataset_key_of_axolotls_schema_has_a_status():
    covered = set(DatasetConfig.model_fields) | set(DATASET_WITHOUT_EFFECT) | set(DATASET_REFUSED)
    assert sorted(set(SCHEMA["dataset"]) - covered) == []


def test_a_key_has_one_status():
    fields = set(Config.model_fields)
    assert fields & set(WITHOUT_EFFECT) == set()
    assert fields & set(REFUSED) == set()
    assert set(WITHOUT_EFFECT) & set(REFUSED) == set()
    assert set(DatasetConfig.model_fields) & (set(DATASET_WITHOUT_EFFECT) | set(DATASET_REFUSED)) == set()


def test_all_unknown_and_refused_keys_are_reported_in_one_error():
    raw = {
        **BASE,
        "lora_targets": ["q_proj"],
        "rl": "dpo",
        "learnig_rate": 1e-4,
        "datasets": [{"path": "d.jsonl", "meda_dir": "m", "field_human": "human"}],
    }
    with pytest.raises(ConfigError) as e:
        parse_config(raw)
    assert str(e.value) == (
        "5 config keys cannot be used:\n"
        "  unknown key 'lora_targets'; did you mean 'lora_target_modules'?\n"
        f"  rl: {REFUSED['rl']}\n"
        "  unknown key 'learnig_rate'; did you mean 'learning_rate'?\n"
        "  unknown key datasets[0].'meda_dir'; did you mean 'media_dir'?\n"
        f"  datasets[0].field_human: {DATASET_REFUSED['field_human']}"
    )


def test_keys_without_effect_warn_once_per_reason_and_empty_keys_say_nothing(caplog):
    raw = {
        **BASE,
        "wandb_log_model": "end",
        "wandb_entity": None,
        "wandb_watch": "",
        "comet_api_key": "k",
        "liger_rms_norm": True,
        "liger_layer_norm": False,
        "rl": None,  # refused only when set
        "skip_prepare_dataset": True,
    }
    with caplog.at_level(logging.INFO, logger="mmtune"):
        parse_config(raw)
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert lines == [
        f"config keys without effect here ({WITHOUT_EFFECT['wandb_log_model']}): wandb_log_model, comet_api_key",
        f"config keys without effect here ({WITHOUT_EFFECT['liger_rms_norm']}): liger_rms_norm",
    ]


@pytest.mark.parametrize(("flag", "impl"), sorted(LEGACY_ATTENTION.items()))
def test_legacy_attention_flags_map_to_attn_implementation(flag, impl):
    assert parse_config({**BASE, flag: True}).attn_implementation == impl
    assert parse_config({**BASE, flag: False}).attn_implementation is None
    # the new key wins over a legacy flag
    assert parse_config({**BASE, flag: True, "attn_implementation": "eager"}).attn_implementation == "eager"


def test_empty_output_dir_is_axolotls_default(tmp_path):
    cfg = parse_config({**BASE, "output_dir": None}, base_dir=tmp_path)
    assert cfg.output_dir == str(tmp_path / "model-out")


@pytest.mark.parametrize(
    "name",
    ["one_cycle", "rex", "cosine_with_min_lr", "inverse_sqrt", "warmup_stable_decay", "reduce_lr_on_plateau"],
)
def test_axolotls_scheduler_names_are_accepted(name):
    assert parse_config({**BASE, "lr_scheduler": name}).lr_scheduler == name
