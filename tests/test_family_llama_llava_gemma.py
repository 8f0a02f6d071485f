"""Mllama, Llama 4, LLaVA 1.5 and Gemma 3 end to end on tiny checkpoints.

Each family: the tiny checkpoint loads like a hub one, the chat format matches the model's, labels
of a multi-turn two-image conversation are exactly the assistant turns, LoRA and full fine-tuning
lower the loss and reload, and the trained output generates.
"""

from __future__ import annotations

import re

import pytest
import torch
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
from transformers import AutoProcessor

from mmtune.conversation import Conversation, Message, TextPart
from mmtune.models.families import family_for_checkpoint, get_family

FAMILIES = ["mllama", "llama4", "llava", "gemma3"]

PROCESSOR = {
    "mllama": "MllamaProcessor", "llama4": "Llama4Processor", "llava": "LlavaProcessor", "gemma3": "Gemma3Processor",
}
MODEL = {
    "mllama": "MllamaForConditionalGeneration", "llama4": "Llama4ForConditionalGeneration",
    "llava": "LlavaForConditionalGeneration", "gemma3": "Gemma3ForConditionalGeneration",
}

# The generation prompt for [system "Answer briefly.", user "Hi"]: the model's own chat layout.
PROMPT = {
    "mllama": (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nAnswer briefly.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    ),
    "llama4": (
        "<|begin_of_text|><|header_start|>system<|header_end|>\n\nAnswer briefly.<|eot|>"
        "<|header_start|>user<|header_end|>\n\nHi<|eot|><|header_start|>assistant<|header_end|>\n\n"
    ),
    "llava": "<s>Answer briefly. USER: Hi ASSISTANT:",
    "gemma3": "<bos><start_of_turn>user\nAnswer briefly.\n\nHi<end_of_turn>\n<start_of_turn>model\n",
}

# Supervised tokens of the conversation below, decoded. LLaVA's pieces carry their leading space
# ("▁the"); the Llama decoder drops it only at the very start of a decoded text.
SUPERVISED = {
    "mllama": "red and blue<|eot_id|>the red one<|eot_id|>",
    "llama4": "red and blue<|eot|>the red one<|eot|>",
    "llava": "red and blue</s> the red one</s>",
    "gemma3": "red and blue<end_of_turn>the red one<end_of_turn>",
}

# Media tokens in the two-image row: Mllama keeps one token per image (cross-attention); Llama 4
# tiles each image 2x2 plus a global view, 4 patch tokens each; LLaVA and Gemma 3 give 4 per image.
MEDIA_COUNTS = {
    "mllama": {"<|image|>": 2},
    "llama4": {
        "<|image_start|>": 2, "<|image_end|>": 2, "<|image|>": 2, "<|patch|>": 40,
        "<|tile_x_separator|>": 4, "<|tile_y_separator|>": 4,
    },
    "llava": {"<image>": 8},
    "gemma3": {"<start_of_image>": 2, "<end_of_image>": 2, "<image_soft_token>": 8},
}

# With roles_to_train [user, assistant]: user texts (not their images or role headers) are supervised
# too. LLaVA's user turns end without an end-of-turn token.
USER_AND_ASSISTANT = {
    "mllama": "What colors are these?<|eot_id|>red and blue<|eot_id|>Which one is first?<|eot_id|>the red one<|eot_id|>",
    "llama4": "What colors are these?<|eot|>red and blue<|eot|>Which one is first?<|eot|>the red one<|eot|>",
    "llava": "What colors are these? red and blue</s>Which one is first? the red one</s>",
    "gemma3": (
        "What colors are these?<end_of_turn>red and blue<end_of_turn>"
        "Which one is first?<end_of_turn>the red one<end_of_turn>"
    ),
}


def _one_image(a: str) -> dict:
    return {"messages": [
        {"role": "user", "content": [{"type": "image", "path": a}, {"type": "text", "text": "What color is it?"}]},
        {"role": "assistant", "content": "red"},
    ]}


def _text_only() -> dict:
    return {"messages": [
        {"role": "user", "content": "Name a color."},
        {"role": "assistant", "content": "blue"},
    ]}


def _spans(labels: list[int]) -> list[list[int]]:
    """Contiguous runs of supervised token ids."""
    runs, cur = [], []
    for t in labels:
        if t == -100:
            if cur:
                runs.append(cur)
            cur = []
        else:
            cur.append(t)
    return runs + ([cur] if cur else [])


@pytest.mark.parametrize("family_id", FAMILIES)
def test_tiny_checkpoint_loads_like_a_hub_one(tiny_ckpt, family_id):
    path = tiny_ckpt(family_id)
    fam = get_family(family_id)
    assert family_for_checkpoint(str(path)) is fam
    assert type(AutoProcessor.from_pretrained(path)).__name__ == PROCESSOR[family_id]
    model = fam.model_class().from_pretrained(path)
    assert type(model).__name__ == MODEL[family_id]
    groups = {fam.group_of(n) for n, _ in model.named_parameters()}
    assert groups == {"vision", "projector", "language"}
    # the default LoRA targets exist in the language model and nowhere else
    targets = [n for n, _ in model.named_modules() if re.search(fam.default_lora_targets(), n)]
    assert targets and all(fam.group_of(n + ".weight") == "language" for n in targets)


@pytest.mark.parametrize("family_id", FAMILIES)
def test_prompt_follows_the_models_chat_format(tiny_ckpt, tmp_path, family_id):
    rp = row_processor(tiny_ckpt(family_id), tmp_path)
    conv = Conversation([Message("system", [TextPart("Answer briefly.")]), Message("user", [TextPart("Hi")])])
    text, _ = rp.transform.renderer.prompt(conv)
    assert text == PROMPT[family_id]


@pytest.mark.parametrize("family_id", FAMILIES)
def test_labels_are_exactly_the_assistant_turns(tiny_ckpt, tmp_path, family_id):
    a, b = write_two_images(tmp_path)
    fam = get_family(family_id)
    rp = row_processor(tiny_ckpt(family_id), tmp_path)
    enc = encode_row(rp, two_image_conversation(a, b, last_as_parts=True), str(tmp_path))
    tok = rp.processor.tokenizer
    eot = fam.eot_token
    assert supervised_text(rp, enc) == SUPERVISED[family_id]
    assert [tok.decode(s) for s in _spans(enc["labels"])] == [f"red and blue{eot}", f"the red one{eot}"]
    counts = {t: enc["input_ids"].count(tok.convert_tokens_to_ids(t)) for t in fam.media_tokens}
    assert counts == MEDIA_COUNTS[family_id]
    media = {tok.convert_tokens_to_ids(t) for t in fam.media_tokens}
    assert not media & {t for t in enc["labels"] if t != -100}
    assert tok.pad_token_id not in enc["input_ids"]
    assert enc["n_media"] == 2


@pytest.mark.parametrize("family_id", FAMILIES)
def test_trained_user_turn_with_images_supervises_its_text_only(tiny_ckpt, tmp_path, family_id):
    a, b = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt(family_id), tmp_path, roles_to_train=["user", "assistant"])
    enc = encode_row(rp, two_image_conversation(a, b, last_as_parts=True), str(tmp_path))
    assert supervised_text(rp, enc) == USER_AND_ASSISTANT[family_id]


def test_mllama_cross_attention_inputs_cover_both_images(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt("mllama"), tmp_path)
    enc = encode_row(rp, two_image_conversation(a, b, last_as_parts=True), str(tmp_path))
    mm = unpack_tensors(enc["mm"])
    n = len(enc["input_ids"])
    assert mm["cross_attention_mask"].shape == (1, n, 2, 4)
    assert mm["pixel_values"].shape[:2] == (1, 2)
    image_id = rp.processor.tokenizer.convert_tokens_to_ids("<|image|>")
    first = enc["input_ids"].index(image_id)
    # text before the first image sees no image; the answers see both
    assert mm["cross_attention_mask"][0, :first].sum() == 0
    assert mm["cross_attention_mask"][0, -1, :, 0].tolist() == [1, 1]


def test_mllama_batch_whose_longest_row_has_no_image(tiny_ckpt, tmp_path):
    from mmtune.train.collator import Collator

    a, _ = write_two_images(tmp_path)
    fam = get_family("mllama")
    rp = row_processor(tiny_ckpt("mllama"), tmp_path)
    long_text = {"messages": [
        {"role": "user", "content": "Name a color, any color at all, please tell me one."},
        {"role": "assistant", "content": "blue"},
    ]}
    rows = [encode_row(rp, _one_image(a), str(tmp_path)), encode_row(rp, long_text)]
    assert len(rows[1]["input_ids"]) > len(rows[0]["input_ids"])
    batch = Collator(fam, rp.processor.tokenizer.pad_token_id)(rows)
    model = fam.model_class().from_pretrained(tiny_ckpt("mllama"))
    inputs = fam.prepare_inputs(batch, model.dtype)
    assert inputs["cross_attention_mask"].shape[:2] == inputs["input_ids"].shape
    assert inputs["cross_attention_mask"][1].sum() == 0  # the text-only row sees no image
    assert torch.isfinite(model(**inputs).loss)


def test_gemma3_token_type_ids_mark_image_tokens(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt("gemma3"), tmp_path)
    enc = encode_row(rp, two_image_conversation(a, b, last_as_parts=True), str(tmp_path))
    tt = unpack_tensors(enc["mm"])["token_type_ids"][0].tolist()
    soft = rp.processor.tokenizer.convert_tokens_to_ids("<image_soft_token>")
    assert tt == [int(t == soft) for t in enc["input_ids"]]
    assert sum(tt) == 8  # 2 images x 4 tokens


def test_llava_tokenizer_prepends_like_llama_and_labels_still_line_up(tiny_ckpt, tmp_path):
    rp = row_processor(tiny_ckpt("llava"), tmp_path, train_on_inputs=True)
    tok = rp.processor.tokenizer
    # The real Llama tokenizer adds "▁" to a text that starts a sequence, not after a special token.
    alone = tok.convert_ids_to_tokens(tok("USER: hi", add_special_tokens=False)["input_ids"])
    after = tok.convert_ids_to_tokens(tok("</s>USER: hi", add_special_tokens=False)["input_ids"])
    assert alone[0] == "\u2581" and after[1] != "\u2581"
    a, b = write_two_images(tmp_path)
    enc = encode_row(rp, two_image_conversation(a, b, last_as_parts=True), str(tmp_path))
    assert supervised_text(rp, enc) == (
        "<s>Answer briefly. USER: \n\nWhat colors are these? ASSISTANT: red and blue</s>"
        "USER: Which one is first? ASSISTANT: the red one</s>"
    )


@pytest.mark.parametrize("family_id", FAMILIES)
def test_example_config_is_valid(family_id):
    cfg = check_example_config(family_id)
    assert cfg.chat_template in get_family(family_id).template_names


@pytest.mark.parametrize("adapter", ["lora", None])
@pytest.mark.parametrize("family_id", FAMILIES)
def test_training_lowers_loss_reloads_and_predicts(tiny_ckpt, tmp_path, family_id, adapter):
    torch.manual_seed(0)
    a, b = write_two_images(tmp_path)
    # rows with two, one and no image share batches: per-image tensors are padded by the collator
    rows = [
        two_image_conversation(a, b, last_as_parts=True), _one_image(a), _text_only(),
        two_image_conversation(a, b, last_as_parts=True),
    ]
    result, pred = train_and_reload(tiny_ckpt(family_id), rows, tmp_path, adapter=adapter)
    fam = get_family(family_id)
    trainable = trainable_names(result.model)
    if adapter:
        assert (result.output_dir / "adapter_model.safetensors").exists()
        assert trainable and all("lora_" in n and fam.language_prefix in n for n in trainable)
    else:
        assert (result.output_dir / "model.safetensors").exists()
        groups = {fam.group_of(n) for n in trainable}
        assert groups == {"projector", "language"}  # the vision tower stays frozen
    answer = pred.generate("What colors are these?", images=[str(tmp_path / a)], max_new_tokens=4)
    assert isinstance(answer, str)
