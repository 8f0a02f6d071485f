"""SmolVLM2 (Idefics3-style): ``Role: text<end_of_utterance>`` turns, tiled images, timestamped video frames.

The processor expands each ``<image>`` into a grid of tiles (``<fake_token_around_image>
<row_r_col_c><image>...``) plus a global tile (``<global-img>``), and each ``<video>`` into an
intro sentence and one ``Frame from MM:SS:`` line + single tile per frame. Those timestamps come
from ``video_metadata`` (fps and the source frame indices), which is why a ``VideoClip`` carries
them: bare frames would be stamped as if shot at 24 fps.

``pixel_values`` [1, n_tiles, 3, H, W] and ``pixel_attention_mask`` [1, n_tiles, H, W] keep a
leading batch dimension; the collator pads the tile axis with zeros, which the model recognises
as padding (an all-zero tile is dropped before the vision tower).
"""

from __future__ import annotations

from typing import Any

import torch

from mmtune.errors import DataError
from mmtune.models.families import register
from mmtune.models.families.base import SEQUENCE_KEYS, Family, family_template, video_metadata

GRID_TOKENS = [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]


@register
class SmolVLM2(Family):
    id = "smolvlm2"
    can_pack = True  # packed rows train as if alone (tests/test_packing.py)
    model_types = ("smolvlm",)
    modalities = frozenset({"image", "video"})
    template_names = ()  # the checkpoint's own template (config: leave out or `tokenizer_default`)
    chat_template = family_template("smolvlm2.jinja")
    eot_token = "<end_of_utterance>"
    media_tokens = ("<fake_token_around_image>", "<image>", "<global-img>", *GRID_TOKENS)
    batched_keys = SEQUENCE_KEYS | {"pixel_values", "pixel_attention_mask"}
    vision_pattern = r"^model\.vision_model\."
    projector_pattern = r"^model\.connector\."
    language_prefix = "model.text_model"
    hub_example = "HuggingFaceTB/SmolVLM2-500M-Video-Instruct"

    @classmethod
    def load_processor(cls, path: str, **kwargs: Any) -> Any:
        """The checkpoint's processor; a template with no video branch gets this family's one.

        Templates saved with older SmolVLM2 checkpoints drop video parts, so the rendered text
        would have no ``<video>`` for the processor to expand (transformers' own
        ``apply_chat_template`` swaps in its default template for videos for the same reason).
        This family's template renders text and images the same way and videos as ``<video>``.
        """
        processor = super().load_processor(path, **kwargs)
        if "video" not in (processor.chat_template or ""):
            processor.chat_template = cls.chat_template
        return processor

    @classmethod
    def encode_full(cls, processor: Any, text: str, media: dict[str, list]) -> dict[str, torch.Tensor]:
        """Videos are expanded one at a time with the processor's own ``replace_video_token``.

        One processor call with several videos pads them to the longest clip and then announces
        that padded count ("series of four frames") for every clip, and returns them as
        [n_videos, frames, ...]. Per clip, each prompt names its real frame count and timestamps,
        the result does not depend on which other videos share the call (so a message tokenized
        alone matches the whole row), and the frames of all clips become one sample's tiles.
        """
        clips = media.get("video") or []
        if not clips:
            return super().encode_full(processor, text, media)
        if media.get("image"):
            raise DataError("SmolVLM2 takes images or videos in one conversation, not both", field="video")
        pieces = text.split(processor.video_token)
        if len(pieces) - 1 != len(clips):
            raise DataError(f"{len(pieces) - 1} video placeholders in the rendered text for {len(clips)} videos")
        expanded, pixels, masks = pieces[0], [], []
        for clip, after in zip(clips, pieces[1:]):
            v = processor.video_processor(
                [list(clip.frames)], video_metadata=[video_metadata(clip)], return_metadata=True, return_tensors="pt"
            )
            expanded += processor.replace_video_token(v, 0) + after
            pixels.append(v["pixel_values"])
            masks.append(v["pixel_attention_mask"])
        out = processor.tokenizer([expanded], add_special_tokens=False, return_tensors="pt")
        return {
            "input_ids": out["input_ids"],
            "attention_mask": out["attention_mask"],
            "pixel_values": torch.cat(pixels, dim=1),
            "pixel_attention_mask": torch.cat(masks, dim=1),
        }

    @classmethod
    def chunk_ids(cls, processor: Any, text: str, media: dict[str, list]) -> list[int]:
        if not any(media.values()):
            return super().chunk_ids(processor, text, media)
        return cls.encode_full(processor, text, media)["input_ids"][0].tolist()
