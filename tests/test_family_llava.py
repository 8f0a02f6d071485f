"""LLaVA 1.5 quirks: a SentencePiece-style tokenizer that prepends "▁" like Llama's, llava-hf's layout
(no BOS in the template, images before the text, spaces between pieces) and a row that starts with
the BOS the tokenizer adds at inference.

Everything every family checks (loading, chat format, labels, training, predict) is its row in
tests/test_families.py.
"""

from __future__ import annotations

from family_checks import (
    encode_row,
    row_processor,
    supervised_text,
    tokenizer,
    two_image_conversation,
    write_two_images,
)
from PIL import Image

from mmtune.conversation import Conversation, MediaPart, MediaRef, Message, TextPart
from mmtune.models.families import get_family


def test_tokenizer_prepends_like_llama_and_labels_still_line_up(tiny_ckpt, tmp_path):
    rp = row_processor(tiny_ckpt("llava"), tmp_path, train_on_inputs=True)
    tok = tokenizer(rp)
    # The real Llama tokenizer adds "▁" to a text that starts a sequence, not after a special token.
    alone = tok.convert_ids_to_tokens(tok("USER: hi", add_special_tokens=False)["input_ids"])
    after = tok.convert_ids_to_tokens(tok("</s>USER: hi", add_special_tokens=False)["input_ids"])
    assert alone[0] == "\u2581" and after[1] != "\u2581"
    a, b = write_two_images(tmp_path)
    enc = encode_row(rp, two_image_conversation(a, b, last_as_parts=True), str(tmp_path))
    assert supervised_text(rp, enc) == (
        "<s> Answer briefly. USER: \n\nWhat colors are these? ASSISTANT: red and blue</s>"
        " USER: Which one is first? ASSISTANT: the red one</s>"
    )


def _image_question(img: Image.Image, *answer: str) -> Conversation:
    """System, a user turn with the question BEFORE its image, and optionally the answer."""
    image = MediaPart("image", MediaRef(path="red.png"), img)
    messages = [
        Message("system", [TextPart("Answer briefly.")]),
        Message("user", [TextPart("Describe this:"), image]),
    ]
    return Conversation(messages + [Message("assistant", [TextPart(a)]) for a in answer])


def test_row_starts_with_bos_once_like_the_tokenizer_encodes_the_hub_prompt(tiny_ckpt, tmp_path):
    """The template writes no BOS (as llava-hf's); the row and the prompt get exactly one, followed by
    the text tokenized as a sequence start: the ids transformers' own apply_chat_template(tokenize=True)
    gives for the prompt, so training tokens equal inference tokens."""
    rp = row_processor(tiny_ckpt("llava"), tmp_path)
    tok = tokenizer(rp)
    img = Image.new("RGB", (40, 30), "red")
    prompt = rp.transform.prompt(_image_question(img))["input_ids"][0].tolist()
    hub_messages = [
        {"role": "system", "content": [{"type": "text", "text": "Answer briefly."}]},
        {"role": "user", "content": [{"type": "text", "text": "Describe this:"}, {"type": "image", "image": img}]},
    ]
    hub = rp.processor.apply_chat_template(hub_messages, add_generation_prompt=True, tokenize=True, return_dict=True)
    assert prompt == list(hub["input_ids"][0])
    # "<s>", then "▁A…": the first word is a word start, as at the start of a sequence
    assert prompt[0] == tok.bos_token_id and tok.convert_ids_to_tokens(prompt[1]).startswith("\u2581")
    row = rp.transform(_image_question(img, "red")).input_ids
    assert row[: len(prompt)] == prompt and row.count(tok.bos_token_id) == 1
    # a BOS written by a template is not doubled
    llava = get_family("llava")
    assert (
        llava.encode_full(rp.processor, "<s>USER: hi", {})["input_ids"].tolist()
        == llava.encode_full(rp.processor, "USER: hi", {})["input_ids"].tolist()
        == [tok("USER: hi")["input_ids"]]
    )


def test_images_go_before_the_text_and_stay_out_of_the_labels(tiny_ckpt, tmp_path):
    """A question written before its image is laid out as llava-hf's template lays it out, image first;
    with user turns trained, the image still travels with the role header, never supervised."""
    rp = row_processor(tiny_ckpt("llava"), tmp_path, roles_to_train=["user", "assistant"])
    tok = tokenizer(rp)
    enc = rp.transform(_image_question(Image.new("RGB", (40, 30), "red"), "red"))
    assert tok.decode(enc.input_ids) == (
        "<s> Answer briefly. USER: <image><image><image><image>\nDescribe this: ASSISTANT: red</s>"
    )
    assert tok.decode([t for t in enc.labels if t != -100]) == "Describe this: red</s>"


def test_system_text_parts_are_separated_by_spaces(tiny_ckpt, tmp_path):
    rp = row_processor(tiny_ckpt("llava"), tmp_path)
    row = {
        "messages": [
            {
                "role": "system",
                "content": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Be kind."}],
            },
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "red"},
        ]
    }
    enc = encode_row(rp, row)
    assert tokenizer(rp).decode(enc["input_ids"]) == "<s> Be brief. Be kind. USER: Hi ASSISTANT: red</s>"
    assert supervised_text(rp, enc) == "red</s>"
    # a trained system message starts the row: its text is supervised, the BOS before it is not
    rp = row_processor(tiny_ckpt("llava"), tmp_path, roles_to_train=["system", "assistant"])
    assert supervised_text(rp, encode_row(rp, row)) == "Be brief. Be kind. red</s>"
