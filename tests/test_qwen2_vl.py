"""Foundation family: Qwen2-VL end to end on a tiny checkpoint."""

from __future__ import annotations

import pytest
from family_checks import (
    encode_row,
    row_processor,
    run_training,
    supervised_text,
    train_and_reload,
    trainable_names,
    two_image_conversation,
    write_two_images,
)
from transformers import AutoModelForImageTextToText, AutoProcessor

from mmtune.cli import main


def test_tiny_loads_with_auto_classes(tiny_ckpt):
    path = tiny_ckpt("qwen2_vl")
    assert type(AutoProcessor.from_pretrained(path)).__name__ == "Qwen2VLProcessor"
    model = AutoModelForImageTextToText.from_pretrained(path)
    assert type(model).__name__ == "Qwen2VLForConditionalGeneration"


def test_labels_are_exactly_the_assistant_turns(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt("qwen2_vl"), tmp_path)
    enc = encode_row(rp, two_image_conversation(a, b, last_as_parts=True), str(tmp_path))
    assert supervised_text(rp, enc) == "red and blue<|im_end|>the red one<|im_end|>"
    tok = rp.processor.tokenizer
    media = {tok.convert_tokens_to_ids(t) for t in ("<|image_pad|>", "<|vision_start|>", "<|vision_end|>")}
    assert media <= set(enc["input_ids"])
    assert not media & {t for t in enc["labels"] if t != -100}
    assert enc["n_media"] == 2


def test_train_on_inputs_keeps_media_masked(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt("qwen2_vl"), tmp_path, train_on_inputs=True)
    enc = encode_row(rp, two_image_conversation(a, b, last_as_parts=True), str(tmp_path))
    tok = rp.processor.tokenizer
    text = supervised_text(rp, enc)
    assert text.startswith("<|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\nWhat colors are these?")
    assert "<|image_pad|>" not in text and "<|vision_start|>" not in text
    pad = tok.convert_tokens_to_ids("<|image_pad|>")
    assert all(lab == -100 for tid, lab in zip(enc["input_ids"], enc["labels"]) if tid == pad)


def test_roles_to_train_can_include_user(tiny_ckpt, tmp_path):
    rp = row_processor(tiny_ckpt("qwen2_vl"), tmp_path, roles_to_train=["user", "assistant"])
    row = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yes"}]}
    enc = encode_row(rp, row)
    assert supervised_text(rp, enc) == "hi<|im_end|>yes<|im_end|>"


@pytest.mark.parametrize("adapter", ["lora", None])
def test_training_lowers_loss_and_output_reloads(tiny_ckpt, tmp_path, adapter):
    a, b = write_two_images(tmp_path)
    rows = [two_image_conversation(a, b, last_as_parts=True)] * 4
    extra = {} if adapter else {"freeze_vision_tower": False}
    result, pred = train_and_reload(tiny_ckpt("qwen2_vl"), rows, tmp_path, adapter=adapter, **extra)
    if adapter:
        assert (result.output_dir / "adapter_model.safetensors").exists()
        trainable = trainable_names(result.model)
        assert trainable and all("lora_" in n and "language_model" in n for n in trainable)
    else:
        assert (result.output_dir / "model.safetensors").exists()
    answer = pred.generate("What colors are these?", images=[str(tmp_path / a)], max_new_tokens=4)
    assert isinstance(answer, str)


def test_predict_cli_on_trained_output(tiny_ckpt, tmp_path, capsys):
    a, b = write_two_images(tmp_path)
    rows = [two_image_conversation(a, b, last_as_parts=True)] * 2
    result = run_training(tiny_ckpt("qwen2_vl"), rows, tmp_path, max_steps=2)
    code = main(["predict", str(result.output_dir), "--image", str(tmp_path / a), "--image", str(tmp_path / b),
                 "--prompt", "What colors are these?", "--max-new-tokens", "3"])
    assert code == 0
    assert capsys.readouterr().out.strip() != ""


def test_freeze_options_choose_the_trained_groups(tiny_ckpt, tmp_path):
    from family_checks import tiny_config, write_jsonl

    from mmtune.models.families import get_family
    from mmtune.models.loading import apply_training_mode, load_model

    fam = get_family("qwen2_vl")
    data = write_jsonl(tmp_path / "d.jsonl", [{"messages": []}])

    def trained_groups(**freeze):
        cfg = tiny_config(tiny_ckpt("qwen2_vl"), data, tmp_path, adapter=None, **freeze)
        model = apply_training_mode(load_model(cfg.base_model, fam), cfg, fam)
        return {fam.group_of(n) for n, p in model.named_parameters() if p.requires_grad}

    assert trained_groups() == {"projector", "language"}
    assert trained_groups(freeze_vision_tower=False, freeze_language_model=True) == {"vision", "projector"}
    assert trained_groups(freeze_projector=True) == {"language"}


def test_template_name_of_another_family_is_refused(tiny_ckpt, tmp_path):
    from mmtune.errors import ConfigError

    with pytest.raises(ConfigError, match=r"chat_template 'llama3_2_vision' does not fit model family 'qwen2_vl'; "
                                          r"names that fit: qwen2_vl, qwen2_5_vl, chatml, tokenizer_default"):
        row_processor(tiny_ckpt("qwen2_vl"), tmp_path, chat_template="llama3_2_vision")


def test_checkpoints_are_saved_and_training_resumes(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    rows = [two_image_conversation(a, b)] * 2
    first = run_training(tiny_ckpt("qwen2_vl"), rows, tmp_path, max_steps=4, save_steps=2)
    ckpt = first.output_dir / "checkpoint-4"
    assert (ckpt / "adapter_model.safetensors").exists() and (ckpt / "optimizer.pt").exists()
    resumed = run_training(tiny_ckpt("qwen2_vl"), rows, tmp_path, max_steps=6, save_steps=2,
                           resume_from_checkpoint=str(ckpt))
    assert resumed.metrics["steps"] == 6
    assert len(resumed.losses) == 2  # only steps 5 and 6 ran


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        (None, {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}),
        (["q_proj", "v_proj"], {"q_proj", "v_proj"}),
        (r"model.language_model.layers.[\d]+.(mlp|cross_attn|self_attn).(up|down|gate|q|k|v|o)_proj",
         {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}),
    ],
)
def test_lora_targets_stay_in_the_language_model(tiny_ckpt, tmp_path, targets, expected):
    from family_checks import tiny_config, write_jsonl

    from mmtune.models.families import get_family
    from mmtune.models.loading import apply_training_mode, load_model

    fam = get_family("qwen2_vl")
    data = write_jsonl(tmp_path / "d.jsonl", [{"messages": []}])
    cfg = tiny_config(tiny_ckpt("qwen2_vl"), data, tmp_path, lora_target_modules=targets)
    model = apply_training_mode(load_model(cfg.base_model, fam), cfg, fam)
    wrapped = {n.removeprefix("base_model.model.") for n, m in model.named_modules() if hasattr(m, "lora_A")}
    assert wrapped and all(n.startswith("model.language_model.layers.") for n in wrapped)
    assert {n.rsplit(".", 1)[-1] for n in wrapped} == expected


def test_lora_target_regex_that_matches_nothing_is_a_clear_error(tiny_ckpt, tmp_path):
    from family_checks import tiny_config, write_jsonl

    from mmtune.errors import ConfigError
    from mmtune.models.families import get_family
    from mmtune.models.loading import apply_training_mode, load_model

    fam = get_family("qwen2_vl")
    data = write_jsonl(tmp_path / "d.jsonl", [{"messages": []}])
    cfg = tiny_config(tiny_ckpt("qwen2_vl"), data, tmp_path, lora_target_modules=r"no\.such\.module")
    with pytest.raises(ConfigError, match="lora_target_modules matched no module"):
        apply_training_mode(load_model(cfg.base_model, fam), cfg, fam)
