"""LFM2-VL on a tiny checkpoint: ChatML after a BOS, tiled images, hybrid conv/attention LM."""

from __future__ import annotations

import re

import pytest
from family_checks import (
    check_example_config,
    encode_row,
    row_processor,
    supervised_text,
    train_and_reload,
    trainable_names,
    two_image_conversation,
    unpack_tensors,
    write_two_images,
)
from transformers import AutoModelForImageTextToText, AutoProcessor

from mmtune.models.families import family_for_checkpoint, get_family

FAMILY = get_family("lfm2_vl")
IMAGE_SIZES = ((300, 200), (60, 50))  # 2x2 tiles + thumbnail; one tile


def test_tiny_loads_with_auto_classes(tiny_ckpt):
    path = tiny_ckpt("lfm2_vl")
    assert type(AutoProcessor.from_pretrained(path)).__name__ == "Lfm2VlProcessor"
    model = AutoModelForImageTextToText.from_pretrained(path)
    assert type(model).__name__ == "Lfm2VlForConditionalGeneration"
    assert family_for_checkpoint(str(path)).id == "lfm2_vl"
    assert {FAMILY.group_of(n) for n, _ in model.named_parameters()} == {"vision", "projector", "language"}
    # the default LoRA targets reach both block kinds of the hybrid LM and its feed-forward
    targets = [n for n, _ in model.named_modules() if re.search(FAMILY.default_lora_targets(), n)]
    assert {n.split(".", 4)[-1] for n in targets} >= {
        "conv.in_proj", "conv.out_proj", "self_attn.q_proj", "self_attn.out_proj", "feed_forward.w2",
    }
    assert all(n.startswith("model.language_model.layers.") for n in targets)


def test_labels_are_exactly_the_assistant_turns(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path, IMAGE_SIZES)
    rp = row_processor(tiny_ckpt("lfm2_vl"), tmp_path)
    enc = encode_row(rp, two_image_conversation(a, b), str(tmp_path))
    assert supervised_text(rp, enc) == "red and blue<|im_end|>the red one<|im_end|>"
    tok = rp.processor.tokenizer
    text = tok.decode(enc["input_ids"])
    assert text.startswith("<|startoftext|><|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\n<|image_start|>")
    assert text.count("<|startoftext|>") == 1
    assert "<|img_row_2_col_2|>" in text and "<|img_thumbnail|>" in text and text.count("<|image_end|>") == 2
    media = {tok.convert_tokens_to_ids(t) for t in FAMILY.media_tokens}
    assert media & set(enc["input_ids"])
    assert not media & {t for t in enc["labels"] if t != -100}
    mm = unpack_tensors(enc["mm"])
    assert mm["pixel_values"].shape[0] == mm["spatial_shapes"].shape[0] == 6  # 4 tiles + thumbnail + 1


@pytest.mark.parametrize("adapter", ["lora", None])
def test_training_lowers_loss_and_output_reloads(tiny_ckpt, tmp_path, adapter):
    a, b = write_two_images(tmp_path, IMAGE_SIZES)
    rows = [two_image_conversation(a, b), two_image_conversation(b, b)] * 2  # 6 and 2 tiles in one batch
    result, pred = train_and_reload(tiny_ckpt("lfm2_vl"), rows, tmp_path, adapter=adapter)
    trainable = trainable_names(result.model)
    if adapter:
        assert trainable and all("lora_" in n and "language_model" in n for n in trainable)
        assert any(".conv.in_proj.lora_" in n for n in trainable)
    else:
        assert not any(".vision_tower." in n for n in trainable)
        assert any(".multi_modal_projector." in n for n in trainable)
    assert isinstance(pred.generate("What colors are these?", images=[str(tmp_path / a)], max_new_tokens=4), str)


def test_example_config_is_valid():
    cfg = check_example_config("lfm2_vl")
    assert cfg.chat_template is None
