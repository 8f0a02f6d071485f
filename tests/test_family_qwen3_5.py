"""Qwen3.5 quirks: think blocks after the last user turn, reasoning in answers, the checkpoint's own
template, system text parts, Gated DeltaNet LoRA targets.

Everything every family checks (loading, chat format, labels, training, predict) is its row in
tests/test_families.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from family_checks import (
    encode_row,
    layout,
    row_processor,
    row_task,
    supervised_text,
    tokenizer,
    two_image_conversation,
    write_two_images,
)
from transformers.utils.chat_template_utils import _compile_jinja_template

from mmtune.conversation import Conversation, Message, TextPart
from mmtune.errors import ConfigError, DataError
from mmtune.models.families import get_family

GOLDEN = (Path(__file__).parent / "golden" / "templates" / "qwen3_5.jinja").read_text(encoding="utf-8")
FAMILY = get_family("qwen3_5")


def _row(*turns: str) -> dict:
    roles = ["user", "assistant"] * len(turns)
    return {"messages": [{"role": r, "content": t} for r, t in zip(roles, turns)]}


def test_only_answers_after_the_last_user_turn_get_a_think_block(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt("qwen3_5"), tmp_path)
    enc = encode_row(rp, two_image_conversation(a, b), str(tmp_path))
    assert layout(tokenizer(rp), enc["input_ids"]) == (
        "<|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\n"
        "<|vision_start|><|image_pad|>*6<|vision_end|><|vision_start|><|image_pad|>*6<|vision_end|>"
        "What colors are these?<|im_end|>\n<|im_start|>assistant\nred and blue<|im_end|>\n"
        "<|im_start|>user\nWhich one is first?<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n\n</think>\n\nthe red one<|im_end|>\n"
    )


def test_reasoning_in_the_last_answer_is_trained_and_earlier_reasoning_dropped(tiny_ckpt, tmp_path):
    """The row renders as the hub template renders it; the last answer's reasoning follows the
    "<think>\\n" generation prompt and is supervised with the answer."""
    row = _row("Hi", "<think>greeting</think>hello", "Color?", "<think>\nIt looks red.\n</think>\n\nred")
    rp = row_processor(tiny_ckpt("qwen3_5"), tmp_path)
    enc = encode_row(rp, row)
    text = tokenizer(rp).decode(enc["input_ids"])
    assert text == _compile_jinja_template(GOLDEN).render(messages=row["messages"])
    assert "greeting" not in text and "<|im_start|>assistant\nhello<|im_end|>" in text
    assert supervised_text(rp, enc) == "hello<|im_end|>It looks red.\n</think>\n\nred<|im_end|>"


def test_generation_prompt_is_the_non_thinking_one(tiny_ckpt, tmp_path):
    """What ``predict`` asks: the hub template's prompt with ``enable_thinking=False``."""
    rp = row_processor(tiny_ckpt("qwen3_5"), tmp_path)
    conv = Conversation([Message("user", [TextPart("Hi")])])
    prompt = tokenizer(rp).decode(rp.transform.prompt(conv)["input_ids"][0].tolist())
    messages = [{"role": "user", "content": "Hi"}]
    hub = _compile_jinja_template(GOLDEN).render(messages=messages, add_generation_prompt=True, enable_thinking=False)
    assert prompt == hub == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"


def test_checkpoint_template_takes_one_turn_rows_only(tiny_ckpt, tmp_path):
    """With the hub's own template a one-turn row encodes the same; a longer row cannot be split
    message by message (an earlier answer loses its think block once a later user turn exists)."""
    ours = row_processor(tiny_ckpt("qwen3_5"), tmp_path)
    hub = row_processor(tiny_ckpt("qwen3_5"), tmp_path, chat_template_jinja=GOLDEN)
    row = _row("Hi", "red")
    assert encode_row(hub, row)["input_ids"] == encode_row(ours, row)["input_ids"]
    assert supervised_text(hub, encode_row(hub, row)) == "red<|im_end|>"
    with pytest.raises(ConfigError, match=r"does not render messages incrementally.*chat_template: qwen3_5"):
        hub(row_task(_row("Hi", "red", "And now?", "blue")))


def test_system_text_parts_are_kept_apart(tiny_ckpt, tmp_path):
    parts = [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Be kind."}]
    row = {"messages": [{"role": "system", "content": parts}, *_row("Hi", "red")["messages"]]}
    rp = row_processor(tiny_ckpt("qwen3_5"), tmp_path)
    assert (
        tokenizer(rp)
        .decode(encode_row(rp, row)["input_ids"])
        .startswith("<|im_start|>system\nBe brief.\n\nBe kind.<|im_end|>\n")
    )
    a, _ = write_two_images(tmp_path)
    row["messages"][0]["content"] = [{"type": "image", "path": a}, *parts]
    out = rp(row_task(row, str(tmp_path)))
    assert isinstance(out, DataError) and "a Qwen3.5 system message takes only text (found image)" in str(out)


def test_vision_ids_number_images_across_turns(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    row = two_image_conversation(a, b)
    row["messages"][3]["content"] = [{"type": "image", "path": b}, {"type": "text", "text": "Which one is first?"}]
    rp = row_processor(tiny_ckpt("qwen3_5"), tmp_path, add_vision_id=True)
    text = tokenizer(rp).decode(encode_row(rp, row, str(tmp_path))["input_ids"])
    assert re.findall(r"Picture \d: ", text) == ["Picture 1: ", "Picture 2: ", "Picture 3: "]


def test_lora_reaches_the_gated_deltanet_layers(tiny_ckpt):
    model = FAMILY.model_class().from_pretrained(tiny_ckpt("qwen3_5"))
    default = {
        n.split(".layers.")[1] for n, _ in model.named_modules() if re.fullmatch(FAMILY.default_lora_targets(), n)
    }
    assert default == {
        "0.linear_attn.in_proj_qkv",
        "0.linear_attn.in_proj_z",
        "0.linear_attn.out_proj",
        "0.mlp.gate_proj",
        "0.mlp.up_proj",
        "0.mlp.down_proj",
        "1.self_attn.q_proj",
        "1.self_attn.k_proj",
        "1.self_attn.v_proj",
        "1.self_attn.o_proj",
        "1.mlp.gate_proj",
        "1.mlp.up_proj",
        "1.mlp.down_proj",
    }
    linear = {n.split(".layers.")[1] for n, _ in model.named_modules() if re.fullmatch(FAMILY.lora_linear_targets(), n)}
    assert linear - default == {"0.linear_attn.in_proj_a", "0.linear_attn.in_proj_b"}
