"""Gemma 4 quirks: media type ids, timestamped video frames, the system turn, dropped thinking, the
large models' template, the MoE block's LoRA targets.

Everything every family checks (loading, chat format, labels, training, predict) is its row in
tests/test_families.py.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import torch
from family_checks import (
    encode_row,
    image_audio_conversation,
    row_processor,
    row_task,
    supervised_text,
    tokenizer,
    unpack_tensors,
    video_conversation,
    write_gif,
    write_image_and_tones,
    write_two_images,
)
from transformers.utils.chat_template_utils import _compile_jinja_template

from mmtune.errors import ConfigError, DataError
from mmtune.models.families import get_family

GOLDEN = Path(__file__).parent / "golden" / "templates"
FAMILY = get_family("gemma4")


def test_mm_token_type_ids_mark_image_and_audio_tokens(tiny_ckpt, tmp_path):
    """1 on image soft tokens, 3 on audio soft tokens, 0 elsewhere (markers included); the clips are
    one soft token per 40 ms: 1.5 s -> 38, 0.6 s -> 15."""
    img, beep, hum = write_image_and_tones(tmp_path)
    rp = row_processor(tiny_ckpt("gemma4"), tmp_path)
    enc = encode_row(rp, image_audio_conversation(img, beep, hum), str(tmp_path))
    types = unpack_tensors(enc["mm"])["mm_token_type_ids"][0].tolist()
    tokens = tokenizer(rp).convert_ids_to_tokens(enc["input_ids"])
    assert Counter((t, k) for t, k in zip(tokens, types) if k) == {("<|image|>", 1): 63, ("<|audio|>", 3): 53}


def test_video_frames_are_stamped_from_the_clip_timing(tiny_ckpt, tmp_path):
    """A 2 fps GIF of 4 frames: each frame is "MM:SS <|image>" + 63 video soft tokens + "<image|>"."""
    rp = row_processor(tiny_ckpt("gemma4"), tmp_path)
    enc = encode_row(rp, video_conversation(write_gif(tmp_path)), str(tmp_path))
    text = tokenizer(rp).decode(enc["input_ids"])
    frames = re.findall(r"(\d\d:\d\d) <\|image>((?:<\|video\|>)+)<image\|>", text)
    assert [(stamp, len(soft) // len("<|video|>")) for stamp, soft in frames] == [
        ("00:00", 63),
        ("00:00", 63),
        ("00:01", 63),
        ("00:01", 63),
    ]
    assert unpack_tensors(enc["mm"])["pixel_values_videos"].shape[0] == 4


_HI_RED = [{"role": "user", "content": " Hi "}, {"role": "assistant", "content": "red"}]
# A system message of two text parts with edge whitespace.
SYSTEM_PARTS = [{"type": "text", "text": "  Be brief."}, {"type": "text", "text": "Be kind.\n"}]


def test_system_message_is_one_trimmed_string(tiny_ckpt, tmp_path):
    """Its own turn, the parts trimmed and joined by a space: what the hub template writes for a list
    of parts, without the space it leaves before <turn|>."""
    row = {"messages": [{"role": "system", "content": SYSTEM_PARTS}, *_HI_RED]}
    rp = row_processor(tiny_ckpt("gemma4"), tmp_path)
    assert (
        tokenizer(rp)
        .decode(encode_row(rp, row)["input_ids"])
        .startswith("<bos><|turn>system\nBe brief. Be kind.<turn|>\n<|turn>user\nHi<turn|>\n")
    )
    hub = _compile_jinja_template((GOLDEN / "gemma4.jinja").read_text(encoding="utf-8"))
    user = {"role": "user", "content": [{"type": "text", "text": "Hi"}]}
    ours = hub.render(messages=[FAMILY.template_message("system", SYSTEM_PARTS), user], bos_token="<bos>")
    raw = hub.render(messages=[{"role": "system", "content": SYSTEM_PARTS}, user], bos_token="<bos>")
    assert ours == "<bos><|turn>system\nBe brief. Be kind.<turn|>\n<|turn>user\nHi<turn|>\n"
    assert raw == ours.replace("kind.<turn|>", "kind. <turn|>")


def test_media_in_a_system_message_is_refused(tiny_ckpt, tmp_path):
    a, _ = write_two_images(tmp_path)
    row = {"messages": [{"role": "system", "content": [{"type": "image", "path": a}]}, *_HI_RED]}
    out = row_processor(tiny_ckpt("gemma4"), tmp_path)(row_task(row, str(tmp_path)))
    assert isinstance(out, DataError) and "a Gemma 4 system message takes only text (found image)" in str(out)


def test_thinking_in_an_answer_is_dropped_as_the_hub_drops_it(tiny_ckpt, tmp_path):
    """A model turn's <|channel>...<channel|> text is not rendered (the hub template strips it)."""
    row = {"messages": [_HI_RED[0], {"role": "assistant", "content": "<|channel>thought\nIt is red.<channel|> red"}]}
    rp = row_processor(tiny_ckpt("gemma4"), tmp_path)
    enc = encode_row(rp, row)
    assert tokenizer(rp).decode(enc["input_ids"]) == "<bos><|turn>user\nHi<turn|>\n<|turn>model\nred<turn|>\n"
    assert supervised_text(rp, enc) == "red<turn|>"


def test_large_model_template_is_refused_with_the_family_template_named(tiny_ckpt, tmp_path):
    """The 26B/31B templates add an empty thought channel to the generation prompt only: a row's
    answer would not follow its prompt, so rows cannot be split message by message."""
    small = (GOLDEN / "gemma4.jinja").read_text(encoding="utf-8")
    large = small.replace("{{- '<|turn>model\\n' -}}", "{{- '<|turn>model\\n<|channel>thought\\n<channel|>' -}}")
    assert large != small
    rp = row_processor(tiny_ckpt("gemma4"), tmp_path, chat_template_jinja=large)
    with pytest.raises(ConfigError, match=r"does not render messages incrementally.*chat_template: gemma4"):
        rp(row_task({"messages": _HI_RED}))


def test_moe_block_lora_targets():
    """Gemma 4 26B-A4B layers keep a dense MLP beside their experts: LoRA wraps the MLP's and the
    attention's projections; the routed experts are 3-D parameters, not modules."""
    from transformers import Gemma4Config

    text = {
        "vocab_size": 64,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 16,
        "global_head_dim": 16,
        "hidden_size_per_layer_input": 0,
        "enable_moe_block": True,
        "num_experts": 4,
        "top_k_experts": 2,
        "moe_intermediate_size": 16,
    }
    with torch.device("meta"):
        model = FAMILY.model_class().from_config(Gemma4Config(text_config=text, vision_config={"hidden_size": 16}))
    targets = {
        n.split("layers.0.")[-1] for n, _ in model.named_modules() if re.search(FAMILY.default_lora_targets(), n)
    }
    assert targets >= {"self_attn.q_proj", "mlp.gate_proj", "mlp.down_proj"}
    assert not any("experts" in t or "router" in t for t in targets)
    assert "model.language_model.layers.0.experts.gate_up_proj" in dict(model.named_parameters())
