"""Axolotl's model and adapter keys act with Axolotl's meaning, checked on the tiny Qwen2-VL: what
trains (freeze_mm_modules, unfrozen_parameters, the full fine-tuning default), what LoRA wraps
(lists, layers, parameters), continuing a saved adapter, LoRA+ and per-part learning rates, and
tokenizer_use_mistral_common."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import torch
from family_checks import run_training, tiny_config, two_image_conversation, write_jsonl, write_two_images

from mmtune.config import parse_config
from mmtune.errors import ConfigError
from mmtune.models.families import get_family
from mmtune.models.loading import apply_training_mode, check_mistral_common, load_model

FIRST = "qwen2_vl"
FAM = get_family(FIRST)
DATA = {"base_model": "some/model", "datasets": [{"path": "d.jsonl"}]}


def _model(ckpt: Path, tmp_path: Path, **options):
    data = write_jsonl(tmp_path / "d.jsonl", [{"messages": []}])
    cfg = tiny_config(ckpt, data, tmp_path, **options)
    return apply_training_mode(load_model(cfg.base_model, FAM), cfg, FAM)


def _trained(model) -> set[str]:
    return {n.removeprefix("base_model.model.") for n, p in model.named_parameters() if p.requires_grad}


def _rows(tmp_path: Path, n: int = 2) -> list[dict]:
    a, b = write_two_images(tmp_path)
    return [two_image_conversation(str(tmp_path / a), str(tmp_path / b))] * n


# -- what trains ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "trains"),
    [
        ({}, lambda n: True),  # full fine-tuning trains every parameter, as Axolotl does
        ({"freeze_mm_modules": True}, lambda n: n.startswith("model.language_model.")),
        ({"freeze_vision_tower": True}, lambda n: not re.match(r"model\.visual\.(?!merger)", n)),
        (  # Axolotl's rule: matched from the start, '.' literal unless '+' follows
            {"unfrozen_parameters": ["model.language_model.layers.+.self_attn.q_proj.weight", "model.visual.merger"]},
            lambda n: n.endswith("self_attn.q_proj.weight") or n.startswith("model.visual.merger."),
        ),
        (  # unfrozen_parameters chooses, the freeze keys then take their groups out
            {
                "unfrozen_parameters": ["model.visual.blocks.0.attn", "model.language_model.norm"],
                "freeze_mm_modules": True,
            },
            lambda n: n == "model.language_model.norm.weight",
        ),
    ],
)
def test_the_trained_parameters_of_full_fine_tuning(tiny_ckpt, tmp_path, options, trains):
    model = _model(tiny_ckpt(FIRST), tmp_path, adapter=None, **options)
    assert _trained(model) == {n for n, _ in model.named_parameters() if trains(n)}


def test_freeze_mm_modules_also_freezes_lora_inside_the_towers(tiny_ckpt, tmp_path):
    model = _model(tiny_ckpt(FIRST), tmp_path, lora_target_modules=["qkv", "q_proj"], freeze_mm_modules=True)
    assert _trained(model) == {
        f"model.language_model.layers.{i}.self_attn.q_proj.lora_{ab}.default.weight" for i in (0, 1) for ab in "AB"
    }


def test_the_start_of_a_run_says_what_trains_per_group(tiny_ckpt, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="mmtune"):
        _model(tiny_ckpt(FIRST), tmp_path, adapter=None, freeze_vision_tower=True)
    assert "trainable: language 112,704 of 112,704; projector 24,832 of 24,832; vision 0 of 54,720" in caplog.messages


def test_unfrozen_parameters_that_match_nothing_or_take_ranges_are_refused(tiny_ckpt, tmp_path):
    from mmtune.train.recipe import train

    data = write_jsonl(tmp_path / "d.jsonl", _rows(tmp_path, 1))
    cfg = tiny_config(tiny_ckpt(FIRST), data, tmp_path, adapter=None, unfrozen_parameters=["model.lm_head", "lm_head"])
    with pytest.raises(ConfigError) as e:
        train(cfg)
    assert str(e.value) == (
        "unfrozen_parameters 'model.lm_head', 'lm_head' matched no parameter of this model (a pattern is matched from "
        "the start of a name and '.' is a literal dot); names look like "
        "'model.language_model.layers.0.self_attn.q_proj.weight'"
    )
    assert not (tmp_path / "prepared").exists()  # found before preprocessing
    with pytest.raises(ConfigError, match=re.escape("'embed_tokens.weight$[:32000]': an index range")):
        parse_config({**DATA, "unfrozen_parameters": ["embed_tokens.weight$[:32000]"]})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"loraplus_lr_ratio": 16}, "loraplus_lr_ratio apply to a LoRA adapter: set adapter: lora (or qlora)"),
        ({"lora_model_dir": "x", "peft_layers_to_transform": [0]}, "lora_model_dir / peft_layers_to_transform apply"),
        ({"adapter": "lora", "unfrozen_parameters": ["model"]}, "unfrozen_parameters chooses what full fine-tuning"),
        ({"adapter": "lora", "peft_layers_pattern": ["layers"]}, "peft_layers_pattern needs peft_layers_to_transform"),
    ],
)
def test_keys_of_the_other_training_mode_are_refused(options, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config({**DATA, **options})


# -- what LoRA wraps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "wrapped"),
    [
        ({"lora_target_modules": ["qkv"]}, {f"model.visual.blocks.{i}.attn.qkv" for i in (0, 1)}),
        (  # peft's layers_to_transform counts in every numbered list: vision blocks and language layers
            {"lora_target_modules": ["qkv", "q_proj"], "peft_layers_to_transform": [1]},
            {"model.visual.blocks.1.attn.qkv", "model.language_model.layers.1.self_attn.q_proj"},
        ),
        (
            {
                "lora_target_modules": ["qkv", "q_proj"],
                "peft_layers_to_transform": [1],
                "peft_layers_pattern": "layers",
            },
            {"model.language_model.layers.1.self_attn.q_proj"},
        ),
        (  # the default targets, restricted to layer 0
            {"peft_layers_to_transform": [0]},
            {
                f"model.language_model.layers.0.{m}"
                for m in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj")
                + ("mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")
            },
        ),
        (  # parameters alone: no module targets (Axolotl's meaning)
            {"lora_target_parameters": "mlp.down_proj.weight"},
            {f"model.language_model.layers.{i}.mlp.down_proj" for i in (0, 1)},
        ),
    ],
)
def test_what_lora_wraps(tiny_ckpt, tmp_path, options, wrapped):
    model = _model(tiny_ckpt(FIRST), tmp_path, **options)
    assert {n.removeprefix("base_model.model.") for n, m in model.named_modules() if hasattr(m, "lora_A")} == wrapped


def test_lora_target_parameters_that_match_nothing_are_refused_early(tiny_ckpt, tmp_path):
    from mmtune.preprocess.validate import validate

    data = write_jsonl(tmp_path / "d.jsonl", _rows(tmp_path, 1))
    cfg = tiny_config(tiny_ckpt(FIRST), data, tmp_path, lora_target_parameters=["experts.gate_up_proj"])
    with pytest.raises(ConfigError, match=r"^lora_target_parameters: 'experts.gate_up_proj' matched no parameter"):
        validate(cfg)


def test_lora_model_dir_continues_a_saved_adapter(tiny_ckpt, tmp_path):
    from peft import get_peft_model_state_dict
    from safetensors.torch import load_file

    ckpt, rows = tiny_ckpt(FIRST), _rows(tmp_path)
    first = run_training(ckpt, rows, tmp_path / "first", max_steps=4)
    saved = load_file(first.output_dir / "adapter_model.safetensors")
    # a different rank in the config does not matter: the adapter's own config decides
    model = _model(ckpt, tmp_path / "load", lora_model_dir=str(first.output_dir), lora_r=4)
    loaded = get_peft_model_state_dict(model)
    assert loaded.keys() == saved.keys()
    for k, v in saved.items():
        torch.testing.assert_close(loaded[k], v, msg=k)
    assert _trained(model) == {k.removeprefix("base_model.model.").replace(".weight", ".default.weight") for k in saved}
    more = run_training(ckpt, rows, tmp_path / "more", max_steps=2, lora_model_dir=str(first.output_dir))
    assert more.losses[0] < first.losses[0]  # it starts from the trained adapter
    assert more.losses[0] == pytest.approx(first.losses[-1], rel=0.5)
    after = get_peft_model_state_dict(more.model)
    assert any(not torch.equal(after[k], v) for k, v in saved.items())  # and trains it further


@pytest.mark.parametrize("where", ["nope", "empty"])
def test_a_wrong_lora_model_dir_is_refused_before_preprocessing(tiny_ckpt, tmp_path, where):
    from mmtune.train.recipe import train

    (tmp_path / "empty").mkdir()
    data = write_jsonl(tmp_path / "d.jsonl", _rows(tmp_path, 1))
    cfg = tiny_config(tiny_ckpt(FIRST), data, tmp_path, lora_model_dir=str(tmp_path / where))
    message = "does not exist" if where == "nope" else "holds no adapter_config.json: give the folder of a saved LoRA"
    with pytest.raises(ConfigError, match=f"^lora_model_dir '.*{where}' {message}"):
        train(cfg)
    assert not (tmp_path / "prepared").exists()


# -- learning rates -------------------------------------------------------------------------------


def _optimizer_groups(ckpt: Path, tmp_path: Path, **options) -> dict[str, tuple[float, float, set[str]]]:
    """Each optimizer group's (lr, weight decay, parameter names), by its part name."""
    from mmtune.train.args import training_args
    from mmtune.train.optimizer import GroupRates
    from mmtune.train.trainer import MultimodalTrainer

    data = write_jsonl(tmp_path / "d.jsonl", [{"messages": []}])
    cfg = tiny_config(ckpt, data, tmp_path, **options)
    model = apply_training_mode(load_model(cfg.base_model, FAM), cfg, FAM)
    trainer = MultimodalTrainer(
        model=model, args=training_args(cfg, False), family=FAM, rates=GroupRates.from_config(cfg)
    )
    names = {id(p): n.removeprefix("base_model.model.") for n, p in model.named_parameters()}
    groups = {}
    for g in trainer.create_optimizer().param_groups:
        key = g["part"] + ("" if g["weight_decay"] else " (no decay)")
        groups[key] = (g["lr"], g["weight_decay"], {names[id(p)] for p in g["params"]})
    trainer.log({"loss": 1.0, "learning_rate": 5e-3})
    assert {k: v for k, v in trainer.state.log_history[-1].items() if k.startswith("lr/")} == {
        f"lr/{g['part']}": g["lr"] for g in trainer.optimizer.param_groups
    }
    return groups


def test_per_part_learning_rates_make_the_optimizer_groups(tiny_ckpt, tmp_path):
    groups = _optimizer_groups(
        tiny_ckpt(FIRST),
        tmp_path,
        adapter=None,
        vision_learning_rate=1e-4,
        projector_learning_rate=2e-4,
        weight_decay=0.1,
    )
    everything = {n for n, _ in load_model(str(tiny_ckpt(FIRST)), FAM).named_parameters()}
    no_decay = {n for n in everything if n.endswith("bias") or "norm" in n or ".ln_q." in n}
    expected = {}
    for part, lr in (("language", 5e-3), ("projector", 2e-4), ("vision", 1e-4)):
        mine = {n for n in everything if FAM.group_of(n) == part}
        expected[part] = (lr, 0.1, mine - no_decay)
        expected[f"{part} (no decay)"] = (lr, 0.0, mine & no_decay)
    assert groups == expected
    assert list(groups)[0] == "language"  # the Trainer's `learning_rate` is the language model's


def test_loraplus_gives_the_b_matrices_ratio_times_the_rate(tiny_ckpt, tmp_path):
    groups = _optimizer_groups(
        tiny_ckpt(FIRST),
        tmp_path,
        lora_target_modules=["q_proj", "qkv"],
        loraplus_lr_ratio=16,
        vision_learning_rate=1e-4,
        weight_decay=0.1,
    )

    def lora(modules: str, ab: str) -> set[str]:
        return {f"{m}.lora_{ab}.default.weight" for m in modules.split()}

    lm = "model.language_model.layers.0.self_attn.q_proj model.language_model.layers.1.self_attn.q_proj"
    vision = "model.visual.blocks.0.attn.qkv model.visual.blocks.1.attn.qkv"
    assert groups == {
        "language": (5e-3, 0.1, lora(lm, "A")),
        "language_lora_B": (5e-3 * 16, 0.1, lora(lm, "B")),
        "vision": (1e-4, 0.1, lora(vision, "A")),
        "vision_lora_B": (1e-4 * 16, 0.1, lora(vision, "B")),
    }


def test_a_vision_rate_of_zero_keeps_the_vision_tower_where_it_was(tiny_ckpt, tmp_path):
    ckpt = tiny_ckpt(FIRST)
    result = run_training(
        ckpt, _rows(tmp_path), tmp_path, adapter=None, max_steps=1, vision_learning_rate=0, attn_implementation="eager"
    )
    assert result.model.config._attn_implementation == "eager"  # attn_implementation reaches the model load
    before = dict(load_model(str(ckpt), FAM).named_parameters())
    moved = {FAM.group_of(n) for n, p in result.model.named_parameters() if not torch.equal(p, before[n])}
    assert moved == {"language", "projector"}
    assert all(p.requires_grad for p in result.model.parameters())  # it trained, at rate 0


# -- tokenizer_use_mistral_common -----------------------------------------------------------------


def test_tokenizer_use_mistral_common(tmp_path, caplog):
    def cfg(value: bool):
        return parse_config({**DATA, "base_model": str(tmp_path), "tokenizer_use_mistral_common": value})

    with pytest.raises(
        ConfigError, match=r"^tokenizer_use_mistral_common: false would mistrain model family 'voxtral'"
    ):
        check_mistral_common(cfg(False), get_family("voxtral"))
    with caplog.at_level(logging.WARNING, logger="mmtune"):
        check_mistral_common(cfg(True), get_family("qwen2_vl"))
        check_mistral_common(cfg(False), get_family("qwen2_vl"))
        (tmp_path / "tekken.json").write_text("{}")
        check_mistral_common(cfg(True), get_family("mistral_small_3_1"))  # what mmtune does anyway: no word
    assert (
        caplog.messages
        == [
            "tokenizer_use_mistral_common has no effect for model family 'qwen2_vl': it encodes chats with its chat "
            "template"
        ]
        * 2
    )


# -- attention kernels and transformers-4 module names --------------------------------------------------


def test_a_part_without_the_kernel_falls_back_to_eager(tiny_ckpt, caplog):
    """Gemma 4's audio encoder has no sdpa kernel in transformers: the rest keeps sdpa."""
    from mmtune.models import attention
    from mmtune.models.families import get_family
    from mmtune.models.loading import load_model

    attention._resolve.cache_clear()  # said once per process: an earlier test may have said it
    with caplog.at_level("WARNING", logger="mmtune"):
        model = load_model(str(tiny_ckpt("gemma4")), get_family("gemma4"), attn="sdpa")
    assert model.config.text_config._attn_implementation == "sdpa"
    assert model.config.vision_config._attn_implementation == "sdpa"
    assert model.config.audio_config._attn_implementation == "eager"
    assert "Gemma4AudioModel does not support an attention implementation" in caplog.text
    assert "that part (audio_config) uses eager attention" in caplog.text


@pytest.mark.parametrize(
    ("impl", "message"),
    [
        (
            "flex_attention",
            "attn_implementation 'flex_attention' trains only on a CUDA GPU (torch's FlexAttention has no backward "
            "pass on CPU); use attn_implementation: sdpa on this machine",
        ),
        (
            "flash_attention_2",
            "attn_implementation 'flash_attention_2' needs the flash_attn package and a CUDA GPU, not found on this "
            "machine; use attn_implementation: sdpa (or remove the key)",
        ),
        (
            "flash_attn",
            "attn_implementation 'flash_attn' is not an attention kernel transformers knows; use eager, sdpa, "
            "flash_attention_2, flash_attention_3, flex_attention or a kernels-hub path",
        ),
    ],
)
def test_kernels_this_machine_cannot_run_are_refused_before_preprocessing(tiny_ckpt, tmp_path, impl, message):
    from family_checks import tiny_config, write_jsonl

    from mmtune.preprocess.validate import validate

    data = write_jsonl(tmp_path / "d.jsonl", [{"messages": []}])
    cfg = tiny_config(tiny_ckpt("qwen2_vl"), data, tmp_path, attn_implementation=impl)
    with pytest.raises(ConfigError) as e:
        validate(cfg)
    assert str(e.value) == message
    assert not (tmp_path / "prepared").exists()


def test_a_lora_regex_written_for_transformers_4_names_is_honoured(tiny_ckpt, tmp_path, caplog):
    """Axolotl's Voxtral example names 'language_model.model.layers...' (transformers 4); today the
    modules are 'model.language_model.layers...'. transformers' own renaming rules translate it."""
    from family_checks import tiny_config, write_jsonl

    from mmtune.models.families import get_family
    from mmtune.models.loading import apply_training_mode, load_model

    old = r"language_model.model.layers.[\d]+.(mlp|self_attn).(up|down|gate|q|k|v|o)_proj"
    data = write_jsonl(tmp_path / "d.jsonl", [{"messages": []}])
    cfg = tiny_config(tiny_ckpt("voxtral"), data, tmp_path, lora_target_modules=old)
    fam = get_family("voxtral")
    from mmtune.models import lora

    lora._warned.clear()  # said once per process: an earlier test may have said it
    with caplog.at_level("WARNING", logger="mmtune"):
        model = apply_training_mode(load_model(cfg.base_model, fam), cfg, fam)
    wrapped = sorted(n.removeprefix("base_model.model.") for n, m in model.named_modules() if hasattr(m, "lora_A"))
    assert wrapped == [
        f"model.language_model.layers.{i}.{part}"
        for i in range(2)
        for part in [
            "mlp.down_proj",
            "mlp.gate_proj",
            "mlp.up_proj",
            "self_attn.k_proj",
            "self_attn.o_proj",
            "self_attn.q_proj",
            "self_attn.v_proj",
        ]
    ]
    assert "names modules as transformers 4 did; matching today's names with 'model.language_model.layers" in (
        caplog.text
    )
