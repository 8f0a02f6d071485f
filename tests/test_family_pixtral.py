"""Pixtral quirks: the Jinja template + PixtralProcessor path, one [IMG] per 16 px patch, and the
system text where mistral-common's v3 encoding puts it (before the last user message).

Everything every family checks (loading, chat format, labels, training, predict) is its row in
tests/test_families.py.
"""

from __future__ import annotations

import pytest
from family_checks import (
    IGNORE,
    assert_one_img_token_per_cell,
    encode_row,
    label_spans,
    row_processor,
    row_task,
    supervised_text,
    tokenizer,
    two_image_conversation,
    unpack_tensors,
    write_two_images,
)
from PIL import Image

from mmtune.conversation import Conversation, MediaPart, MediaRef, Message, TextPart
from mmtune.models.families import get_family
from mmtune.preprocess.settings import PrepSettings


def test_one_image_token_per_patch(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt("pixtral"), tmp_path)
    enc = encode_row(rp, two_image_conversation(a, b), str(tmp_path))
    assert unpack_tensors(enc["mm"])["pixel_values"].shape[0] == 2
    assert_one_img_token_per_cell(rp, enc, 16)


def test_system_text_opens_the_last_user_turn(tiny_ckpt, tmp_path):
    """Multi-turn row with a system message: the text goes before the last question (not the first),
    the labels are exactly the answers, and every earlier turn renders as without a system message."""
    a, b = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt("pixtral"), tmp_path)
    row = two_image_conversation(a, b)
    enc = encode_row(rp, row, str(tmp_path))
    text = tokenizer(rp).decode(enc["input_ids"], skip_special_tokens=False)
    assert text.count("Answer briefly.") == 1
    assert text.endswith("red and blue</s>[INST]Answer briefly.\n\nWhich one is first?[/INST]the red one</s>")
    assert supervised_text(rp, enc) == "red and blue</s>the red one</s>"
    spans = [tokenizer(rp).decode(s) for s in label_spans(enc["labels"])]
    assert spans == ["red and blue</s>", "the red one</s>"]
    # up to the last user turn, the row is token for token the row without a system message
    without = encode_row(rp, {"messages": row["messages"][1:]}, str(tmp_path))
    inst = tokenizer(rp).convert_tokens_to_ids("[INST]")
    cut = max(i for i, t in enumerate(without["input_ids"]) if t == inst) + 1
    assert enc["input_ids"][:cut] == without["input_ids"][:cut]
    # the generation prompt of the same conversation puts it before its last question too
    conv = rp.conversation(row_task(row, str(tmp_path)))
    conv = Conversation(conv.messages[:4])  # up to the last question
    prompt = tokenizer(rp).decode(rp.transform.prompt(conv)["input_ids"][0].tolist())
    assert prompt.endswith("red and blue</s>[INST]Answer briefly.\n\nWhich one is first?[/INST]")


def test_trained_system_role_keeps_the_row_intact(tiny_ckpt, tmp_path):
    """roles_to_train with system: the system message renders no text of its own (its text opens the
    last user turn), so it adds no label and the row's tokens are those of the default roles."""
    row = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "red"},
            {"role": "user", "content": "Again"},
            {"role": "assistant", "content": "blue"},
        ]
    }
    plain = encode_row(row_processor(tiny_ckpt("pixtral"), tmp_path / "a"), row)
    rp = row_processor(tiny_ckpt("pixtral"), tmp_path / "b", roles_to_train=["system", "assistant"])
    enc = encode_row(rp, row)
    assert (enc["input_ids"], enc["labels"]) == (plain["input_ids"], plain["labels"])
    assert tokenizer(rp).decode(enc["input_ids"]) == "<s>[INST]Hi[/INST]red</s>[INST]Be brief.\n\nAgain[/INST]blue</s>"


# -- the same tokens as mistral-common's v3 encoding -------------------------------------------------
# The tiny checkpoint's tokenizer is trained locally; here a shrunk real tekken v3 file (the one the
# tiny Mistral recipes shrink) is converted into the HF tokenizer a converted Pixtral checkpoint ships,
# and mmtune's rows are compared token for token with mistral-common's own encoding of the same chats.


@pytest.fixture(scope="module")
def v3(tmp_path_factory):
    """(transform, mistral-common tokenizer in finetuning mode, in test mode, HF tokenizer)."""
    from mistral_common.protocol.instruct.validator import ValidationMode
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer
    from transformers import PixtralImageProcessor, PixtralProcessor, PreTrainedTokenizerFast
    from transformers.integrations.mistral.tokenizer import MistralConverter

    from mmtune.tiny.tekken import V3_SPECIALS, write_tiny_tekken

    fam = get_family("pixtral")
    path = write_tiny_tekken(
        tmp_path_factory.mktemp("v3") / "tekken.json",
        "v3",
        dict(enumerate(V3_SPECIALS)),
        image={"image_patch_size": 16, "max_image_size": 64},
    )
    hf = PreTrainedTokenizerFast(
        tokenizer_object=MistralConverter(str(path)).converted(),
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
    )
    processor = PixtralProcessor(
        image_processor=PixtralImageProcessor(size={"longest_edge": 64}, patch_size=16),
        tokenizer=hf,
        patch_size=16,
        spatial_merge_size=1,
    )
    settings = PrepSettings(base_model=str(path.parent), family="pixtral", chat_template=fam.chat_template)
    return (
        fam.transform(processor, settings),
        MistralTokenizer.from_file(str(path), mode=ValidationMode.finetuning),
        MistralTokenizer.from_file(str(path), mode=ValidationMode.test),
        hf,
    )


def _image(color: str, size: tuple[int, int]) -> MediaPart:
    img = Image.new("RGB", size, color)
    return MediaPart("image", MediaRef(obj=img), img)


def _chat(with_system: bool = True, turns: int = 3) -> Conversation:
    msgs = [Message("system", [TextPart("Answer briefly.")])] if with_system else []
    msgs.append(Message("user", [_image("red", (90, 70)), TextPart("What colors are these?")]))
    msgs.append(Message("assistant", [TextPart("red")]))
    if turns > 2:
        msgs += [Message("user", [TextPart("And the size?")]), Message("assistant", [TextPart("small")])]
    msgs += [
        Message("user", [_image("blue", (60, 100)), TextPart("Which one is first?")]),
        Message("assistant", [TextPart("the red one")]),
    ]
    return Conversation(msgs)


def _mistral_request(conv: Conversation):
    from mistral_common.protocol.instruct.chunk import ImageChunk, TextChunk
    from mistral_common.protocol.instruct.messages import AssistantMessage, SystemMessage, UserMessage
    from mistral_common.protocol.instruct.request import ChatCompletionRequest

    kinds = {"system": SystemMessage, "user": UserMessage, "assistant": AssistantMessage}
    msgs = []
    for m in conv.messages:
        if m.role == "assistant":
            msgs.append(AssistantMessage(content=m.text))
        else:
            parts = [TextChunk(text=p.text) if isinstance(p, TextPart) else ImageChunk(image=p.value) for p in m.parts]
            msgs.append(kinds[m.role](content=parts))
    return ChatCompletionRequest(messages=msgs)


@pytest.mark.parametrize("with_system", [True, False])
@pytest.mark.parametrize("turns", [2, 3])
def test_rows_are_mistral_commons_v3_tokens(v3, with_system, turns):
    transform, finetuning, _, hf = v3
    conv = _chat(with_system, turns)
    enc = transform(conv)
    ref = finetuning.encode_chat_completion(_mistral_request(conv))
    assert enc.input_ids == ref.tokens
    if with_system:
        text = hf.decode(ref.tokens)
        assert "[INST]Answer briefly.\n\n[IMG]" in text  # before the last user message's image and text
        assert text.count("Answer briefly.") == 1
    answers = [m.text + "</s>" for m in conv.messages if m.role == "assistant"]
    assert [hf.decode(s) for s in label_spans(enc.labels)] == answers
    assert sum(t != IGNORE for t in enc.labels) == sum(
        len(hf(a, add_special_tokens=False)["input_ids"]) for a in answers
    )


def test_prompt_is_mistral_commons_v3_tokens(v3):
    transform, _, test_mode, _ = v3
    conv = _chat()
    conv = Conversation(conv.messages[:-1])  # up to the last question
    ids = transform.prompt(conv)["input_ids"][0].tolist()
    assert ids == test_mode.encode_chat_completion(_mistral_request(conv)).tokens
