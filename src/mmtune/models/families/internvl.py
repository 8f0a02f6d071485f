"""InternVL3 (transformers' ``-hf`` checkpoints): ChatML turns, tiled images, videos as frame tiles.

The prompt format is plain ChatML with no default system prompt. In the chat template an image
is ``<IMG_CONTEXT>`` and a video ``<video>``, each followed by a newline; the processor expands
an image into ``<img><IMG_CONTEXT>...</img>`` (``image_seq_length`` context tokens per tile: the
crops of a dynamic tiling plus a thumbnail) and a video into one ``FrameN: <img>...</img>`` line
per frame, each frame a single tile. Image tiles and video frames end up in one ``pixel_values``
tensor [n_tiles, 3, H, W] in the order they appear in the text, which concatenates across a
batch.

Older converted checkpoints ship a template that writes ``<image>`` for images; this version of
the processor only expands ``<IMG_CONTEXT>``, so such a template is replaced by this family's.
"""

from __future__ import annotations

from typing import Any

import torch

from mmtune.errors import DataError
from mmtune.models.families import register
from mmtune.models.families.base import Family, family_template

MEDIA = {
    "start_image_token": "<img>",
    "end_image_token": "</img>",
    "context_image_token": "<IMG_CONTEXT>",
    "video_token": "<video>",
}


@register
class InternVL(Family):
    id = "internvl"
    can_pack = True  # packed rows train as if alone (tests/test_packing.py)
    model_types = ("internvl",)
    image_tokens_scale_with_size = True  # more tiles for a larger image (up to max_patches)
    modalities = frozenset({"image", "video"})
    template_names = ("internvl",)
    chat_template = family_template("internvl.jinja")
    eot_token = "<|im_end|>"
    media_tokens = tuple(MEDIA.values())
    vision_pattern = r"^model\.vision_tower\."
    projector_pattern = r"^model\.multi_modal_projector\."
    hub_example = "OpenGVLab/InternVL3-1B-hf"

    @classmethod
    def load_processor(cls, path: str, **kwargs: Any) -> Any:
        """The checkpoint's processor; a template without the image context token gets this family's."""
        processor = super().load_processor(path, **kwargs)
        if processor.image_token not in (processor.chat_template or ""):
            processor.chat_template = cls.chat_template
        return processor

    @classmethod
    def processor_call_kwargs(cls, media: dict[str, list]) -> dict:
        """Videos go in as frame lists: frames are already sampled, and InternVL needs no timing."""
        kw = super().processor_call_kwargs({k: v for k, v in media.items() if k != "video"})
        clips = media.get("video") or []
        if clips:
            kw["videos"] = [list(c.frames) for c in clips]
            kw["do_sample_frames"] = False
        return kw

    @classmethod
    def encode_full(cls, processor: Any, text: str, media: dict[str, list]) -> dict[str, torch.Tensor]:
        """Rows with videos are expanded one media item at a time, in the order of the text.

        The processor stacks all videos of a call into one tensor, so clips with different frame
        counts in one row fail there. Each item goes through the processor on its own instead
        (same resizing, tiling and normalisation), its placeholder is replaced with the
        processor's own expansion, and the whole text is tokenized once, as the processor does.
        """
        clips = media.get("video") or []
        if not clips:
            return super().encode_full(processor, text, media)
        images = iter(media.get("image") or [])
        videos = iter(clips)
        pieces, pixels, last = [], [], 0
        for m in processor.multimodal_pattern.finditer(text):
            pieces.append(text[last : m.start()])
            last = m.end()
            item = next(images if m.lastgroup == "image" else videos, None)
            if item is None:
                raise DataError(
                    f"the rendered text has more {m.lastgroup} placeholders than the row has {m.lastgroup}s"
                )
            if m.lastgroup == "image":
                px = processor(text=[processor.image_token], images=[item], return_tensors="pt")["pixel_values"]
                pieces.append(processor.replace_image_token({"num_patches": [px.shape[0]]}, 0))
            else:
                px = processor(
                    text=[processor.video_token], **cls.processor_call_kwargs({"video": [item]}), return_tensors="pt"
                )["pixel_values"]
                pieces.append(processor.replace_video_token({"pixel_values_videos": [px]}, 0))
            pixels.append(px)
        if next(images, None) is not None or next(videos, None) is not None:
            raise DataError("the row has more media than the rendered text has placeholders for")
        pieces.append(text[last:])
        out = processor.tokenizer(["".join(pieces)], add_special_tokens=False, return_tensors="pt")
        return {
            "input_ids": out["input_ids"],
            "attention_mask": out["attention_mask"],
            "pixel_values": torch.cat(pixels),
        }

    @classmethod
    def chunk_ids(cls, processor: Any, text: str, media: dict[str, list]) -> list[int]:
        if not media.get("video"):
            return super().chunk_ids(processor, text, media)
        return cls.encode_full(processor, text, media)["input_ids"][0].tolist()
