"""Mistral Small 4 quirks: tekken v15 model settings (the default reasoning effort opens the first user
turn, never supervised), parity with transformers' mistral-common path, and LoRA targets on the latent
attention projections, dense MLPs and shared experts, never on the fused routed experts.

Everything every family checks (loading, chat format, labels, training, predict) is its row in
tests/test_families.py.
"""

from __future__ import annotations

import json
import re

import torch
from family_checks import (
    encode_row,
    media_ids,
    row_processor,
    supervised_text,
    tokenizer,
    two_image_conversation,
    unpack_tensors,
    write_two_images,
)

from mmtune.models.families import get_family

FAMILY = get_family("mistral4")
SETTINGS = '[MODEL_SETTINGS]{"reasoning_effort": "none"}[/MODEL_SETTINGS]'


def test_encoding_matches_transformers_and_settings_stay_unsupervised(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    row = two_image_conversation(a, b)
    rp = row_processor(tiny_ckpt("mistral4"), tmp_path)
    enc = encode_row(rp, row, str(tmp_path))
    msgs = json.loads(json.dumps(row["messages"]))
    for p in msgs[1]["content"]:
        if p["type"] == "image":
            p["path"] = str(tmp_path / p["path"])
    ref = tokenizer(rp).apply_chat_template(msgs, tokenize=True, return_dict=True)
    assert enc["input_ids"] == ref["input_ids"]
    tensors = unpack_tensors(enc["mm"])
    for k, (h, w) in enumerate(tensors["image_sizes"].tolist()):
        torch.testing.assert_close(tensors["pixel_values"][k, :, :h, :w], torch.from_numpy(ref["pixel_values"][k]))
    text = tokenizer(rp).decode(enc["input_ids"])
    assert text.startswith("<s>[SYSTEM_PROMPT]Answer briefly.[/SYSTEM_PROMPT]" + SETTINGS + "[INST][IMG]")
    assert supervised_text(rp, enc) == "red and blue</s>the red one</s>"
    assert not media_ids(rp, ("[MODEL_SETTINGS]", "[/MODEL_SETTINGS]")) & set(enc["labels"])


def test_reasoning_becomes_thinking_tokens(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    row = two_image_conversation(a, b, last="[THINK]left one[/THINK]the red one")
    rp = row_processor(tiny_ckpt("mistral4"), tmp_path)
    enc = encode_row(rp, row, str(tmp_path))
    assert supervised_text(rp, enc) == "red and blue</s>[THINK]left one[/THINK]the red one</s>"


def test_lora_targets_latent_attention_dense_mlp_and_shared_experts(tiny_ckpt):
    model = FAMILY.meta_model(str(tiny_ckpt("mistral4")))
    names = {n for n, _ in model.named_modules()}
    default = {n for n in names if re.search(FAMILY.default_lora_targets(), n)}
    linear = {n for n in names if re.search(FAMILY.lora_linear_targets(), n)}
    layer0, layer1 = "model.language_model.layers.0.", "model.language_model.layers.1."
    attention = {f"self_attn.{p}" for p in ("q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj")}
    assert default == linear
    assert {n.removeprefix(layer0) for n in default if n.startswith(layer0)} == attention | {
        "mlp.gate_proj",
        "mlp.up_proj",
        "mlp.down_proj",
    }
    assert {n.removeprefix(layer1) for n in default if n.startswith(layer1)} == attention | {
        "mlp.shared_experts.gate_proj",
        "mlp.shared_experts.up_proj",
        "mlp.shared_experts.down_proj",
    }
    # the routed experts are parameters of one module, not linear layers; the router is no projection
    assert f"{layer1}mlp.experts" in names and f"{layer1}mlp.experts" not in default
    assert f"{layer1}mlp.gate" not in default
