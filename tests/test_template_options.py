"""Template options from the config (``add_vision_id``): the same text as the hub template's
option, labels still exact, and a clear error for a family whose template has no such option."""

from __future__ import annotations

import pytest
from family_checks import encode_row, row_processor, supervised_text, two_image_conversation, write_two_images
from test_golden_templates import GOLDEN
from transformers.utils.chat_template_utils import _compile_jinja_template

from mmtune.errors import ConfigError
from mmtune.models.families import get_family


def _messages(kinds: list[list[str]]) -> list[dict]:
    """User turns with the given media kinds then a question, each answered."""
    msgs = []
    for i, media in enumerate(kinds):
        msgs.append({"role": "user", "content": [{"type": k} for k in media] + [{"type": "text", "text": f"q{i}"}]})
        msgs.append({"role": "assistant", "content": [{"type": "text", "text": f"a{i}"}]})
    return msgs


@pytest.mark.parametrize("family_id", ["qwen2_vl", "qwen2_5_vl"])
def test_add_vision_id_renders_as_the_hub_template(family_id):
    msgs = _messages([["image", "image"], ["video"], ["image"]])
    ours = _compile_jinja_template(get_family(family_id).chat_template)
    hub = _compile_jinja_template((GOLDEN / f"{family_id}.jinja").read_text())
    for gen in (False, True):
        kw = {"messages": msgs, "add_generation_prompt": gen, "add_vision_id": True}
        assert ours.render(**kw) == hub.render(**kw)
    text = ours.render(messages=msgs, add_vision_id=True)
    assert "Picture 1: <|vision_start|>" in text and "Picture 3: <|vision_start|>" in text
    assert "Video 1: <|vision_start|><|video_pad|>" in text


def test_add_vision_id_labels_stay_exact(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt("qwen2_vl"), tmp_path, add_vision_id=True)
    enc = encode_row(rp, two_image_conversation(a, b), media_base=str(tmp_path))
    assert supervised_text(rp, enc) == "red and blue<|im_end|>the red one<|im_end|>"
    tok = rp.processor.tokenizer
    assert "Picture 1: <|vision_start|>" in tok.decode(enc["input_ids"])
    assert "Picture 2: <|vision_start|>" in tok.decode(enc["input_ids"])


def test_add_vision_id_is_refused_where_the_template_has_no_such_option(tiny_ckpt, tmp_path):
    with pytest.raises(
        ConfigError, match="add_vision_id: the chat template of model family 'gemma3' has no such option"
    ):
        row_processor(tiny_ckpt("gemma3"), tmp_path, add_vision_id=True)
