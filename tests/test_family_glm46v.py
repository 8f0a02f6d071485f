"""GLM-4.6V quirks: answers close with the next turn's <|user|>, the empty think block belongs to the
prompt, timestamped video frames, both model types (glm4v, glm46v) and the MoE language model's LoRA
targets.

Everything every family checks (loading, chat format, labels, training, predict) is its row in
tests/test_families.py.
"""

from __future__ import annotations

import json
import re

import pytest
import torch
from family_checks import (
    encode_row,
    row_processor,
    row_task,
    supervised_text,
    tokenizer,
    two_image_conversation,
    unpack_tensors,
    video_conversation,
    write_gif,
    write_two_images,
)

from mmtune.errors import ConfigError
from mmtune.models.families import family_for_checkpoint, get_family

FAMILY = get_family("glm46v")


def _layout(text: str) -> str:
    """The decoded row with each run of <|image|> written once as ``<|image|>*n``."""
    return re.sub(r"(<\|image\|>)+", lambda m: f"<|image|>*{len(m[0]) // len('<|image|>')}", text)


def test_image_row_layout_and_token_types(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt("glm46v"), tmp_path)
    enc = encode_row(rp, two_image_conversation(a, b), str(tmp_path))
    # a user turn right after an answer does not repeat <|user|>: the answer's closing token opens it
    assert _layout(tokenizer(rp).decode(enc["input_ids"])) == (
        "[gMASK]<sop><|system|>\nAnswer briefly.<|user|>\n<|begin_of_image|><|image|>*6<|end_of_image|>"
        "<|begin_of_image|><|image|>*8<|end_of_image|>What colors are these?<|assistant|>\n<think></think>\n"
        "red and blue<|user|>\nWhich one is first?<|assistant|>\n<think></think>\nthe red one<|user|>"
    )
    mm = unpack_tensors(enc["mm"])
    assert mm["image_grid_thw"].tolist() == [[1, 4, 6], [1, 8, 4]]
    image = tokenizer(rp).convert_tokens_to_ids("<|image|>")
    types = mm["mm_token_type_ids"][0].tolist()
    assert [t for t, i in zip(types, enc["input_ids"]) if i == image] == [1] * 14
    assert sum(types) == 14  # nothing else is marked


def test_video_frames_are_timestamped_per_temporal_patch(tiny_ckpt, tmp_path):
    """A 2 fps GIF of 4 frames: two temporal patches stamped 0.0 s and 1.0 s, 9 tokens each, marked as video."""
    rp = row_processor(tiny_ckpt("glm46v"), tmp_path)
    enc = encode_row(rp, video_conversation(write_gif(tmp_path)), str(tmp_path))
    text = _layout(tokenizer(rp).decode(enc["input_ids"]))
    assert text.startswith(
        "[gMASK]<sop><|user|>\n<|begin_of_video|><|begin_of_image|><|image|>*9<|end_of_image|>0.0 seconds"
        "<|begin_of_image|><|image|>*9<|end_of_image|>1.0 seconds<|end_of_video|>Describe the video."
    )
    mm = unpack_tensors(enc["mm"])
    assert mm["video_grid_thw"].tolist() == [[2, 6, 6]]
    assert sorted(set(mm["mm_token_type_ids"][0].tolist())) == [0, 2]
    assert supervised_text(rp, enc) == "four colors<|user|>white<|user|>"


def test_answers_are_stripped_as_glm_templates_do(tiny_ckpt, tmp_path):
    rp = row_processor(tiny_ckpt("glm46v"), tmp_path)
    row = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "\n  red \n"}]}
    assert supervised_text(rp, encode_row(rp, row)) == "red<|user|>"


def test_hub_templates_cannot_label_an_answer(tiny_ckpt, tmp_path):
    """A GLM hub template ends the row with the bare answer: the run stops and names the template that can."""
    hub_like = FAMILY.chat_template.replace("}}<|user|>\n", "}}\n")
    assert hub_like != FAMILY.chat_template
    rp = row_processor(tiny_ckpt("glm46v"), tmp_path, chat_template_jinja=hub_like)
    row = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "red"}]}
    with pytest.raises(ConfigError, match=r"does not end assistant turns with '<\|user\|>'.*chat_template: glm46v"):
        rp(row_task(row))


def test_glm4v_checkpoints_share_the_family_and_its_module_groups(tiny_ckpt, tmp_path):
    """GLM-4.1V-Thinking (model_type glm4v): same classes' layout, so the same groups and LoRA targets."""
    from transformers import Glm4vConfig, Glm4vForConditionalGeneration

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "glm4v"}))
    assert family_for_checkpoint(str(tmp_path)) is FAMILY
    cfg = json.loads((tiny_ckpt("glm46v") / "config.json").read_text())
    with torch.device("meta"):
        model = Glm4vForConditionalGeneration(
            Glm4vConfig(text_config=cfg["text_config"], vision_config=cfg["vision_config"])
        )
    groups = {FAMILY.group_of(n) for n, _ in model.named_parameters()}
    assert groups == {"vision", "projector", "language"}
    targets = [n for n, _ in model.named_modules() if re.search(FAMILY.default_lora_targets(), n)]
    assert {n.rsplit(".", 1)[1] for n in targets} == {
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_up_proj",
        "down_proj",
    }


def test_moe_language_model_lora_reaches_attention_and_shared_experts():
    """GLM-4.6V (106B) is a glm46v checkpoint with a mixture-of-experts text model: routed experts are
    3-D parameters LoRA cannot wrap; attention, the dense first layer and the shared experts get it."""
    from transformers import Glm46VConfig, Glm46VForConditionalGeneration

    text = {
        "model_type": "glm4v_moe_text",
        "vocab_size": 64,
        "hidden_size": 32,
        "intermediate_size": 64,
        "moe_intermediate_size": 16,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "n_routed_experts": 4,
        "num_experts_per_tok": 2,
        "n_shared_experts": 1,
        "first_k_dense_replace": 1,
    }
    vision = {"depth": 1, "hidden_size": 16, "intermediate_size": 32, "num_heads": 2, "out_hidden_size": 32}
    with torch.device("meta"):
        model = Glm46VForConditionalGeneration(Glm46VConfig(text_config=text, vision_config=vision))
    targets = {n for n, _ in model.named_modules() if re.search(FAMILY.default_lora_targets(), n)}
    assert "model.language_model.layers.1.mlp.shared_experts.gate_proj" in targets
    assert "model.language_model.layers.0.mlp.gate_proj" in targets
    assert "model.language_model.layers.1.self_attn.q_proj" in targets
    assert not any(".experts." in n and "shared" not in n for n in targets)
