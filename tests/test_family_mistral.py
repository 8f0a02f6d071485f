"""Pixtral, Mistral-Small-3.1, Magistral and Voxtral end to end on tiny checkpoints.

Pixtral goes through the Jinja template + PixtralProcessor path. The other three encode chats with
mistral-common from a (shrunk, real) tekken.json, as their hub checkpoints do; their token ids and
media tensors are checked against transformers' own mistral-common path.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from family_checks import (
    check_example_config,
    encode_row,
    example_path,
    row_processor,
    supervised_text,
    train_and_reload,
    trainable_names,
    two_image_conversation,
    unpack_tensors,
    write_two_images,
)
from media_fixtures import make_wav, sine
from PIL import Image
from transformers import AutoProcessor

from mmtune.conversation import Conversation, Message, TextPart
from mmtune.data.intake import RowTask
from mmtune.errors import ConfigError
from mmtune.models.families import family_for_checkpoint, get_family

IMAGE_FAMILIES = ["pixtral", "mistral_small_3_1", "magistral"]
FAMILIES = [*IMAGE_FAMILIES, "voxtral"]
PROCESSOR = {
    "pixtral": "PixtralProcessor", "mistral_small_3_1": "PixtralProcessor", "magistral": "PixtralProcessor",
    "voxtral": "VoxtralProcessor",
}
MODEL = {
    "pixtral": "LlavaForConditionalGeneration", "mistral_small_3_1": "Mistral3ForConditionalGeneration",
    "magistral": "Mistral3ForConditionalGeneration", "voxtral": "VoxtralForConditionalGeneration",
}
IMAGE_TOKENS = ("[IMG]", "[IMG_BREAK]", "[IMG_END]")
AUDIO_TOKENS = ("[AUDIO]", "[BEGIN_AUDIO]")


def _audio_conversation(a: object, b: object) -> dict:
    """Two clips in the first user turn (no system turn: Voxtral's v7 format forbids it with audio)."""
    def part(x: object) -> dict:
        return {"type": "audio", "path": x} if isinstance(x, str) else {"type": "audio", "audio": x, "sampling_rate": 16_000}

    return {
        "messages": [
            {"role": "user", "content": [part(a), part(b), {"type": "text", "text": "Which tone is higher?"}]},
            {"role": "assistant", "content": "the first"},
            {"role": "user", "content": "How many clips?"},
            {"role": "assistant", "content": "two"},
        ]
    }


def _ids(rp, tokens: tuple[str, ...]) -> set[int]:
    return {rp.processor.tokenizer.convert_tokens_to_ids(t) for t in tokens}


@pytest.mark.parametrize("family", FAMILIES)
def test_tiny_loads_like_a_hub_checkpoint(tiny_ckpt, family):
    path = tiny_ckpt(family)
    assert type(AutoProcessor.from_pretrained(path)).__name__ == PROCESSOR[family]
    fam = get_family(family)
    assert family_for_checkpoint(str(path)) is fam
    model = fam.model_class().from_pretrained(path)
    assert type(model).__name__ == MODEL[family]
    groups = {fam.group_of(n) for n, _ in model.named_parameters()}
    assert groups == {"vision", "projector", "language"}
    if family != "pixtral":  # the real checkpoints ship tekken.json; so do the tiny ones
        assert (path / "tekken.json").is_file()
        assert type(fam.load_processor(str(path)).tokenizer).__name__ == "MistralCommonBackend"


def test_hub_configs_resolve_to_the_right_family(tmp_path):
    def ckpt(name: str, cfg: dict) -> str:
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps(cfg))
        return str(tmp_path / name)

    assert family_for_checkpoint(ckpt("pixtral", {"model_type": "llava", "vision_config": {"model_type": "pixtral"}})).id == "pixtral"
    assert family_for_checkpoint(ckpt("llava", {"model_type": "llava", "vision_config": {"model_type": "clip_vision_model"}})).id == "llava"
    assert family_for_checkpoint(ckpt("mistral3", {"model_type": "mistral3", "vision_config": {"model_type": "pixtral"}})).id == "mistral_small_3_1"
    assert family_for_checkpoint(ckpt("voxtral", {"model_type": "voxtral"})).id == "voxtral"


@pytest.mark.parametrize("family", IMAGE_FAMILIES)
def test_labels_are_exactly_the_assistant_turns(tiny_ckpt, tmp_path, family):
    a, b = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt(family), tmp_path)
    enc = encode_row(rp, two_image_conversation(a, b), str(tmp_path))
    assert supervised_text(rp, enc) == "red and blue</s>the red one</s>"
    media = _ids(rp, IMAGE_TOKENS)
    assert media <= set(enc["input_ids"])
    assert not media & {t for t in enc["labels"] if t != -100}
    assert enc["n_media"] == 2
    tensors = unpack_tensors(enc["mm"])
    assert tensors["pixel_values"].shape[0] == 2
    sizes = tensors["image_sizes"].tolist()
    # one [IMG] per patch (16 px for Pixtral) or per 2x2 merged patches (28 px for Mistral3)
    cell = 16 if family == "pixtral" else 28
    assert enc["input_ids"].count(rp.processor.tokenizer.convert_tokens_to_ids("[IMG]")) == sum(
        (h // cell) * (w // cell) for h, w in sizes
    )


def test_pixtral_prompt_layout(tiny_ckpt, tmp_path):
    rp = row_processor(tiny_ckpt("pixtral"), tmp_path)
    conv = Conversation([Message("system", [TextPart("Answer briefly.")]), Message("user", [TextPart("Hi")])])
    text, _ = rp.transform.renderer.prompt(conv)
    assert text == "<s>[INST]Answer briefly.\n\nHi[/INST]"


@pytest.mark.parametrize("family", ["mistral_small_3_1", "voxtral"])
def test_mistral_common_prompt_layout(tiny_ckpt, tmp_path, family):
    rp = row_processor(tiny_ckpt(family), tmp_path)
    conv = Conversation([Message("system", [TextPart("Answer briefly.")]), Message("user", [TextPart("Hi")])])
    inputs = rp.transform.prompt(conv)
    text = rp.processor.tokenizer.decode(inputs["input_ids"][0].tolist())
    assert text == "<s>[SYSTEM_PROMPT]Answer briefly.[/SYSTEM_PROMPT][INST]Hi[/INST]"


def test_magistral_reasoning_becomes_thinking_tokens(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    row = two_image_conversation(a, b, last="[THINK]the red one is left[/THINK]the red one")
    rp = row_processor(tiny_ckpt("magistral"), tmp_path)
    enc = encode_row(rp, row, str(tmp_path))
    assert supervised_text(rp, enc) == "red and blue</s>[THINK]the red one is left[/THINK]the red one</s>"
    assert _ids(rp, ("[THINK]", "[/THINK]")) <= set(enc["labels"])
    # Mistral-Small-3.1's v7 tekken has no thinking tokens: the same answer stays plain text
    rp31 = row_processor(tiny_ckpt("mistral_small_3_1"), tmp_path / "v7")
    enc31 = encode_row(rp31, row, str(tmp_path))
    assert supervised_text(rp31, enc31) == supervised_text(rp, enc)
    assert not {34, 35} & set(enc31["input_ids"])


def test_mistral3_encoding_matches_transformers(tiny_ckpt, tmp_path):
    """Our per-message encoding equals MistralCommonBackend.apply_chat_template, pixels included."""
    a, b = write_two_images(tmp_path)
    row = two_image_conversation(a, b)
    rp = row_processor(tiny_ckpt("mistral_small_3_1"), tmp_path)
    enc = encode_row(rp, row, str(tmp_path))
    msgs = json.loads(json.dumps(row["messages"]))
    for p in msgs[1]["content"]:
        if p["type"] == "image":
            p["path"] = str(tmp_path / p["path"])
    ref = rp.processor.tokenizer.apply_chat_template(msgs, tokenize=True, return_dict=True)
    assert enc["input_ids"] == ref["input_ids"]
    tensors = unpack_tensors(enc["mm"])
    for k, (h, w) in enumerate(tensors["image_sizes"].tolist()):
        assert ref["image_sizes"][k] == [h, w]
        torch.testing.assert_close(tensors["pixel_values"][k, :, :h, :w], torch.from_numpy(ref["pixel_values"][k]))


def test_mistral3_without_tekken_uses_the_template_with_the_same_layout(tiny_ckpt, tmp_path):
    """An HF-format copy (tokenizer.json, no tekken.json) goes through the v7 Jinja template and
    PixtralProcessor, and lays the row out exactly as mistral-common does."""
    from mmtune.tiny.tekken import V7_SPECIALS
    from mmtune.tiny.tokenizer import train_tokenizer

    src = tiny_ckpt("mistral_small_3_1")
    hf = tmp_path / "hf"
    hf.mkdir()
    for f in ("config.json", "processor_config.json"):
        (hf / f).write_bytes((src / f).read_bytes())
    fam = get_family("mistral_small_3_1")
    specials = [V7_SPECIALS[i] for i in sorted(V7_SPECIALS)]
    train_tokenizer(specials, bos="<s>", eos="</s>", pad="<pad>", unk="<unk>", chat_template=fam.chat_template).save_pretrained(hf)
    a, b = write_two_images(tmp_path)
    rp_hf = row_processor(hf, tmp_path / "hf_run")
    assert type(rp_hf.processor.tokenizer).__name__ == "TokenizersBackend"
    enc_hf = encode_row(rp_hf, two_image_conversation(a, b), str(tmp_path))
    assert supervised_text(rp_hf, enc_hf) == "red and blue</s>the red one</s>"
    rp_mc = row_processor(src, tmp_path / "mc_run")
    enc_mc = encode_row(rp_mc, two_image_conversation(a, b), str(tmp_path))
    layout = rp_hf.processor.tokenizer.decode(enc_hf["input_ids"], skip_special_tokens=False)
    assert layout == rp_mc.processor.tokenizer.decode(enc_mc["input_ids"])
    assert layout.startswith("<s>[SYSTEM_PROMPT]Answer briefly.[/SYSTEM_PROMPT][INST][IMG][IMG][IMG][IMG][IMG_BREAK]")


def test_voxtral_labels_and_features_match_transformers(tiny_ckpt, tmp_path):
    a, b = sine(1.5, freq=440.0), sine(0.7, freq=220.0)  # in-memory arrays
    rp = row_processor(tiny_ckpt("voxtral"), tmp_path)
    enc = encode_row(rp, _audio_conversation(a, b))
    assert supervised_text(rp, enc) == "the first</s>two</s>"
    audio_id, begin_id = (rp.processor.tokenizer.convert_tokens_to_ids(t) for t in AUDIO_TOKENS)
    assert audio_id == 24  # VoxtralProcessor hardcodes it
    # each clip is padded to 30 s: 375 tokens at 12.5 per second
    assert enc["input_ids"].count(audio_id) == 2 * 375 and enc["input_ids"].count(begin_id) == 2
    assert not {audio_id, begin_id} & {t for t in enc["labels"] if t != -100}
    assert enc["n_media"] == 2
    features = unpack_tensors(enc["mm"])["input_features"]
    assert features.shape == (2, 128, 3000)
    # transformers' own Voxtral path gives the same ids and features for the same wav files
    wa, wb = make_wav(tmp_path / "a.wav", 1.5, freq=440.0), make_wav(tmp_path / "b.wav", 0.7, freq=220.0)
    row = _audio_conversation(str(wa), str(wb))
    ours = encode_row(rp, row)
    ref = rp.processor.apply_chat_template(row["messages"])
    assert ours["input_ids"] == enc["input_ids"] == ref["input_ids"][0].tolist()
    torch.testing.assert_close(unpack_tensors(ours["mm"])["input_features"], ref["input_features"])


def test_voxtral_system_turn_with_audio_is_a_data_error(tiny_ckpt, tmp_path):
    rp = row_processor(tiny_ckpt("voxtral"), tmp_path)
    row = _audio_conversation(sine(0.5), sine(0.5))
    row["messages"].insert(0, {"role": "system", "content": "Be brief."})
    err = rp(RowTask("train.jsonl", ".", "chat_template", 7, row))
    assert str(err) == (
        "train.jsonl row 7: mistral-common rejected this conversation: Found system messages at indexes [0] and "
        "audio chunks in messages at indexes [1]. This is not allowed prior to the tokenizer version 13."
    )


@pytest.mark.parametrize("family", ["mistral_small_3_1", "voxtral"])
def test_train_on_inputs_keeps_media_masked(tiny_ckpt, tmp_path, family):
    rp = row_processor(tiny_ckpt(family), tmp_path, train_on_inputs=True)
    if family == "voxtral":
        enc = encode_row(rp, _audio_conversation(sine(0.5), sine(0.5)))
        media, start = AUDIO_TOKENS, "<s>[INST]Which tone is higher?[/INST]the first</s>"
    else:
        a, b = write_two_images(tmp_path)
        enc = encode_row(rp, two_image_conversation(a, b), str(tmp_path))
        media = IMAGE_TOKENS
        start = "<s>[SYSTEM_PROMPT]Answer briefly.[/SYSTEM_PROMPT][INST]What colors are these?[/INST]red and blue</s>"
    text = supervised_text(rp, enc)
    assert text.startswith(start) and text.endswith("[INST]How many clips?[/INST]two</s>" if family == "voxtral" else "the red one</s>")
    ids = _ids(rp, media)
    assert all(lab == -100 for tid, lab in zip(enc["input_ids"], enc["labels"]) if tid in ids)


def test_mistral_common_families_refuse_a_custom_template(tiny_ckpt, tmp_path):
    with pytest.raises(ConfigError, match="encodes chats with the checkpoint's mistral-common tokenizer"):
        row_processor(tiny_ckpt("mistral_small_3_1"), tmp_path, chat_template_jinja="{{ messages }}")


def test_image_rejected_by_voxtral(tiny_ckpt, tmp_path):
    rp = row_processor(tiny_ckpt("voxtral"), tmp_path)
    row = {"messages": [{"role": "user", "content": [{"type": "image", "image": Image.new("RGB", (8, 8))}]},
                        {"role": "assistant", "content": "no"}]}
    assert str(rp(RowTask("t.jsonl", ".", "chat_template", 0, row))) == (
        "t.jsonl row 0: image input is not supported by model family 'voxtral' (it takes: audio)"
    )


def _training_rows(family: str, tmp_path: Path) -> tuple[list[dict], dict]:
    """Rows whose media differ in size and count, so batching pads images across rows."""
    if family == "voxtral":
        wa, wb = make_wav(tmp_path / "a.wav", 1.5, freq=440.0), make_wav(tmp_path / "b.wav", 0.7, freq=220.0)
        rows = [_audio_conversation(str(wa), str(wb)), {"messages": [
            {"role": "user", "content": [{"type": "audio", "path": str(wb)}, {"type": "text", "text": "Tone?"}]},
            {"role": "assistant", "content": "low"}]}]
        return rows * 2, {"audio": [str(wa)]}
    a, b = write_two_images(tmp_path)
    rows = [two_image_conversation(str(tmp_path / a), str(tmp_path / b)), {"messages": [
        {"role": "user", "content": [{"type": "image", "path": str(tmp_path / b)}, {"type": "text", "text": "Color?"}]},
        {"role": "assistant", "content": "blue"}]}]
    return rows * 2, {"images": [str(tmp_path / a)]}


@pytest.mark.parametrize("adapter", ["lora", None])
@pytest.mark.parametrize("family", FAMILIES)
def test_training_lowers_loss_reloads_and_predicts(tiny_ckpt, tmp_path, family, adapter):
    rows, media = _training_rows(family, tmp_path)
    extra = {} if adapter else {"freeze_vision_tower": False}
    steps = {"max_steps": 8} if family == "voxtral" else {}
    result, pred = train_and_reload(tiny_ckpt(family), rows, tmp_path, adapter=adapter, **extra, **steps)
    trainable = trainable_names(result.model)
    if adapter:
        assert trainable and all("lora_" in n and "language_model" in n for n in trainable)
    else:
        fam = get_family(family)
        assert {fam.group_of(n) for n in trainable} == {"vision", "projector", "language"}
    answer = pred.generate("What is it?", max_new_tokens=4, **media)
    assert isinstance(answer, str)
    # the prompt the predictor builds (media included) drives generate for the requested tokens
    conv = pred.conversation("What is it?", **media)
    inputs = pred.inputs(conv)
    out = pred.model.generate(**inputs, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 3


@pytest.mark.parametrize("family", FAMILIES)
def test_example_config_is_valid(family):
    cfg = check_example_config(family)
    assert f"mmtune tiny {family} " in example_path(family).read_text()
    assert np.all([d.type == "chat_template" for d in cfg.datasets])
