"""Gemma 4 Unified quirks: encoder-free media (patch embedder as the "tower", raw waveform frames for
audio) and the empty thought channel that opens every model turn.

Everything every family checks (loading, chat format, labels, training, predict) is its row in
tests/test_families.py.
"""

from __future__ import annotations

from family_checks import (
    audio_conversation,
    encode_row,
    label_spans,
    media_ids,
    row_processor,
    tokenizer,
    two_image_conversation,
    unpack_tensors,
    write_two_clips,
    write_two_images,
)

from mmtune.models.families import get_family

FAMILY = get_family("gemma4_unified")


def test_patch_embedder_is_the_tower_and_the_projections_the_projector(tiny_ckpt):
    """No vision or audio tower: the patch stack stands for one (frozen by default), the two final
    projections are the projector."""
    model = FAMILY.model_class().from_pretrained(tiny_ckpt("gemma4_unified"))
    groups = {n: FAMILY.group_of(n) for n, _ in model.named_parameters() if not n.startswith("model.language_model.")}
    assert groups == {
        "model.embed_vision.patch_ln1.weight": "vision",
        "model.embed_vision.patch_ln1.bias": "vision",
        "model.embed_vision.patch_dense.weight": "vision",
        "model.embed_vision.patch_dense.bias": "vision",
        "model.embed_vision.patch_ln2.weight": "vision",
        "model.embed_vision.patch_ln2.bias": "vision",
        "model.embed_vision.pos_embedding": "vision",
        "model.embed_vision.pos_norm.weight": "vision",
        "model.embed_vision.pos_norm.bias": "vision",
        "model.embed_vision.multimodal_embedder.embedding_projection.weight": "projector",
        "model.embed_audio.embedding_projection.weight": "projector",
    }


def test_images_are_merged_patches_and_audio_raw_frames(tiny_ckpt, tmp_path):
    """Each image: up to 70 merged 8 px patches (3 x 8 x 8 values each, padded to 70); each clip: one
    640-sample (40 ms at 16 kHz) frame per soft token."""
    rp = row_processor(tiny_ckpt("gemma4_unified"), tmp_path)
    enc = encode_row(rp, two_image_conversation(*write_two_images(tmp_path)), str(tmp_path))
    mm = unpack_tensors(enc["mm"])
    assert mm["pixel_values"].shape == (2, 70, 192)
    assert (mm["image_position_ids"][0] >= 0).all(dim=-1).sum() == 63  # 90x70 -> 9x7 merged patches
    enc = encode_row(rp, audio_conversation(*write_two_clips(tmp_path)), str(tmp_path))
    mm = unpack_tensors(enc["mm"])
    assert mm["input_features"].shape[1:] == (38, 640)
    assert mm["input_features_mask"].sum(dim=1).tolist() == [38, 18]


def test_every_model_turn_opens_on_an_empty_thought_channel(tiny_ckpt, tmp_path):
    """Earlier answers and the last one alike (the 12B template with thinking off); the channel is
    scaffolding, never supervised."""
    rp = row_processor(tiny_ckpt("gemma4_unified"), tmp_path)
    enc = encode_row(rp, two_image_conversation(*write_two_images(tmp_path)), str(tmp_path))
    tok = tokenizer(rp)
    text = tok.decode(enc["input_ids"])
    assert text.count("<|turn>model\n<|channel>thought\n<channel|>") == 2
    channel = media_ids(rp, ("<|channel>", "<channel|>"))
    assert not channel & {t for span in label_spans(enc["labels"]) for t in span}
    assert [tok.decode(s) for s in label_spans(enc["labels"])] == ["red and blue<turn|>", "the red one<turn|>"]
