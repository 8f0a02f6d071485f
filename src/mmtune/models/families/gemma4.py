"""Gemma 4 (E2B, E4B, 26B-A4B, 31B): ``<|turn>user`` / ``<|turn>model`` turns closed by ``<turn|>``,
a SigLIP-style vision tower with 2-D rope, a conformer audio tower (E2B/E4B), and video as frames.

What the pipeline cares about:

- The template writes ``<|image|>``, ``<|audio|>`` and ``<|video|>`` bare where the media sit; the
  processor expands them into ``<|image>`` + soft tokens + ``<image|>`` (``<|audio>`` ... ``<audio|>``
  for audio; ``MM:SS <|image><|video|>...<image|>`` per video frame) and returns
  ``mm_token_type_ids`` (1 image, 2 video, 3 audio), which the large models need to let image
  tokens attend to each other. Images are resized to a fixed patch budget (``max_soft_tokens``,
  at least 70), so every image costs about the same number of tokens whatever its size.
- A system message gets a turn of its own (unlike Gemma 3, where it opens the first user turn).
  The hub template trims each of its text parts and appends a space to each (``"A B "``);
  ``template_message`` hands it over as one string of the trimmed parts joined by one space, so
  mmtune's and the checkpoint's template both write ``"A B"`` and no stray space before ``<turn|>``.
- The end of turn is ``<turn|>``. The E2B/E4B generation prompt is ``<|turn>model\\n``; the
  26B/31B hub templates add an empty thought channel (``<|channel>thought\\n<channel|>``) to the
  prompt but not to earlier answers, so they cannot be rendered message by message: with those
  checkpoints set ``chat_template: gemma4`` (docs/families.md, "Known limits").
- Token ids index the per-layer embedding table (``vocab_size_per_layer_input``) as well as the
  main one, so the tiny checkpoint keeps its whole vocabulary inside both.
- The towers (``vision_tower``, ``audio_tower``) are the "vision" group; their embedders
  (``embed_vision``, ``embed_audio``) are the projector.
"""

from __future__ import annotations

from mmtune.errors import DataError
from mmtune.models.families import register
from mmtune.models.families.base import Family, family_template, video_metadata

MEDIA = ("<|image>", "<image|>", "<|image|>", "<|audio>", "<audio|>", "<|audio|>", "<|video|>")


def system_message(family: str, parts: list[dict]) -> dict:
    """A Gemma 4 system message as templates take it: one string, its text parts trimmed and joined
    by one space (the hub template's separator, without the space it also leaves at the end).
    Gemma 4 has no place for media in a system turn (the hub template drops them silently)."""
    media = [p["type"] for p in parts if p["type"] != "text"]
    if media:
        raise DataError(f"a {family} system message takes only text (found {media[0]})")
    return {"role": "system", "content": " ".join(p["text"].strip() for p in parts)}


def _audio_defaults() -> dict:
    """The feature extractor's own ``max_length`` and ``pad_to_multiple_of``, passed explicitly: a
    Gemma 4 processor loaded from a folder it was saved to (every training output) merges its
    tokenizer's ``max_length: None`` into the audio call, and two clips of different lengths then
    fail to pad ("truncation=True ... max_length is defined"). Same values, so same features."""
    import inspect

    from transformers.models.gemma4.feature_extraction_gemma4 import Gemma4AudioFeatureExtractor

    params = inspect.signature(Gemma4AudioFeatureExtractor.__call__).parameters
    return {k: params[k].default for k in ("max_length", "pad_to_multiple_of")}


@register
class Gemma4(Family):
    id = "gemma4"
    can_pack = True  # packed rows train as if alone (tests/test_packing.py)
    model_types = ("gemma4",)
    modalities = frozenset({"image", "audio", "video"})
    template_names = ("gemma4",)
    chat_template = family_template("gemma4.jinja")
    eot_token = "<turn|>"
    media_tokens = MEDIA
    vision_pattern = r"^model\.(vision_tower|audio_tower)\."
    projector_pattern = r"^model\.(embed_vision|embed_audio)\."
    language_prefix = "model.language_model"
    hub_example = "google/gemma-4-E2B-it"

    @classmethod
    def template_message(cls, role: str, parts: list[dict]) -> dict:
        if role == "system":
            return system_message("Gemma 4", parts)
        return {"role": role, "content": parts}

    @classmethod
    def processor_call_kwargs(cls, media: dict[str, list]) -> dict:
        """Videos go in as the decoded frames with their timing: the processor stamps each frame
        ``MM:SS`` from it, and must not sample the already sampled frames again."""
        kw = super().processor_call_kwargs({k: v for k, v in media.items() if k != "video"})
        if media.get("audio"):
            kw["audio_kwargs"] = _audio_defaults()
        clips = media.get("video") or []
        if clips:
            kw["videos"] = [list(c.frames) for c in clips]
            kw["video_metadata"] = [video_metadata(c) for c in clips]
            kw["do_sample_frames"] = False
        return kw
