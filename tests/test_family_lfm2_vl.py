"""LFM2-VL on a tiny checkpoint: ChatML after a BOS, tiled images, hybrid conv/attention LM."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from family_checks import (
    assert_loss_goes_down,
    assert_same_logits,
    encode_row,
    row_processor,
    run_training,
    supervised_text,
    unpack_tensors,
)
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

from mmtune.config import parse_config
from mmtune.models.families import family_for_checkpoint, get_family

EXAMPLES = Path(__file__).resolve().parents[1] / "src/mmtune/examples"
FAMILY = get_family("lfm2_vl")


def _images(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "imgs").mkdir(exist_ok=True)
    Image.new("RGB", (300, 200), "red").save(tmp_path / "imgs/a.png")  # 2x2 tiles + thumbnail
    Image.new("RGB", (60, 50), "blue").save(tmp_path / "imgs/b.png")  # one tile
    return "imgs/a.png", "imgs/b.png"


def _conversation(a: str, b: str) -> dict:
    return {
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": [
                {"type": "image", "path": a}, {"type": "image", "path": b},
                {"type": "text", "text": "What colors are these?"},
            ]},
            {"role": "assistant", "content": "red and blue"},
            {"role": "user", "content": "Which one is first?"},
            {"role": "assistant", "content": "the red one"},
        ]
    }


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
    a, b = _images(tmp_path)
    rp = row_processor(tiny_ckpt("lfm2_vl"), tmp_path)
    enc = encode_row(rp, _conversation(a, b), str(tmp_path))
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
    a, b = _images(tmp_path)
    rows = [_conversation(a, b), _conversation(b, b)] * 2  # 6 and 2 tiles in one batch
    result = run_training(tiny_ckpt("lfm2_vl"), rows, tmp_path, adapter=adapter)
    assert_loss_goes_down(result)
    pred = assert_same_logits(result, rows)
    trainable = {n for n, p in result.model.named_parameters() if p.requires_grad}
    if adapter:
        assert trainable and all("lora_" in n and "language_model" in n for n in trainable)
        assert any(".conv.in_proj.lora_" in n for n in trainable)
    else:
        assert not any(".vision_tower." in n for n in trainable)
        assert any(".multi_modal_projector." in n for n in trainable)
    assert isinstance(pred.generate("What colors are these?", images=[str(tmp_path / a)], max_new_tokens=4), str)


def test_example_config_is_valid():
    cfg = parse_config(yaml.safe_load((EXAMPLES / "lfm2_vl/lora.yaml").read_text()))
    assert cfg.base_model == FAMILY.hub_example
    assert (cfg.adapter, cfg.lora_r, cfg.lora_alpha, cfg.bf16) == ("lora", 16, 32, True)
    assert cfg.chat_template is None
