"""Generate from a trained output folder, reproducing training-time preprocessing from its run card.

The same ``Predictor`` serves ``mmtune predict`` (one prompt), ``mmtune chat`` (a multi-turn
conversation, streamed) and evaluation, so every way of prompting a model sees the tokens its
training rows had. It also runs the base model: the run's base model with the run's preprocessing
(``Predictor.of_base``, for before/after comparisons) or any plain checkpoint
(``Predictor.of_checkpoint``, with the checkpoint's own chat template).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from mmtune.conversation import Conversation, MediaPart, MediaRef, Message, TextPart
from mmtune.data.decode import decode_conversation
from mmtune.models.families import get_family
from mmtune.models.loading import load_model
from mmtune.outputs.load import Trained, load_trained
from mmtune.outputs.runcard import RunCard
from mmtune.preprocess.settings import PrepSettings


def user_message(prompt: str, images: list = (), audio: list = (), videos: list = ()) -> Message:
    """A user turn: the media first (paths or in-memory objects), then the text, as rows are written."""
    parts: list = []
    for kind, items in (("image", images), ("audio", audio), ("video", videos)):
        for item in items:
            ref = MediaRef(path=os.path.abspath(item)) if isinstance(item, str | Path) else MediaRef(obj=item)
            parts.append(MediaPart(kind, ref))
    parts.append(TextPart(prompt))
    return Message("user", parts)


class Predictor:
    """Generation with the preprocessing of a run card (or of given settings, for a base model).

    It holds the family's transform, built once, and decodes media with the same step as
    preprocessing (``data.decode.decode_conversation``), so a prompt is checked like a training row.
    """

    def __init__(self, output_dir: str | Path, model: Any = None, processor: Any = None):
        self.output_dir = Path(output_dir)
        self._setup(load_trained(self.output_dir, model, processor))

    @classmethod
    def from_parts(cls, model: Any, processor: Any, settings: PrepSettings) -> Predictor:
        """A predictor around an in-memory model (e.g. the base model before training)."""
        self = cls.__new__(cls)
        self.output_dir = None
        self._setup(Trained(model, processor, get_family(settings.family), settings))
        return self

    @classmethod
    def of_base(cls, output_dir: str | Path) -> Predictor:
        """The base model an output was trained from, prompted exactly as the trained one (the run
        card's processor and preprocessing): what the model answered before training."""
        card = RunCard.load(output_dir)
        family = get_family(card.family)
        self = cls.from_parts(
            load_model(card.base_model, family), family.load_processor(str(output_dir)), card.preprocessing
        )
        self.output_dir, self.card = Path(output_dir), card
        return self

    @classmethod
    def of_checkpoint(cls, model: str) -> Predictor:
        """A plain checkpoint (a folder with config.json, or a hub name) that no mmtune run made: its
        family from config.json, its own chat template and the default preprocessing settings."""
        from mmtune.config import parse_config
        from mmtune.preprocess.settings import settings_from_config

        # No rows are read: the dataset entry only satisfies the schema.
        cfg = parse_config({"base_model": model, "datasets": [{"path": model}]})
        settings, processor = settings_from_config(cfg)
        return cls.from_parts(load_model(model, get_family(settings.family)), processor, settings)

    def _setup(self, trained: Trained) -> None:
        self.card = trained.card
        self.family, self.processor, self.settings = trained.family, trained.processor, trained.settings
        self.model = trained.model
        self.model.eval()
        self.transform = self.family.transform(self.processor, self.settings)

    @property
    def tokenizer(self) -> Any:
        return getattr(self.processor, "tokenizer", self.processor)

    def conversation(
        self,
        prompt: str,
        images: list = (),
        audio: list = (),
        videos: list = (),
        system: str | None = None,
        history: list[Message] = (),
    ) -> Conversation:
        """A user turn after ``history`` (earlier user / assistant messages), with ``system`` first when
        given; without it, the run's default_system_message applies as in training."""
        head = [Message("system", [TextPart(system)])] if system else []
        return Conversation([*head, *history, user_message(prompt, images, audio, videos)])

    def inputs(self, conv: Conversation) -> dict[str, torch.Tensor]:
        """Model inputs to generate the assistant's reply to ``conv`` (decoded, encoded, cast, and on the
        model's device)."""
        conv = decode_conversation(conv, self.family.modalities, self.family.id, self.settings.media)
        inputs = self.family.prepare_inputs(self.transform.prompt(conv), self.model.dtype)
        device = self.model.device
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}

    @torch.no_grad()
    def answer(self, conv: Conversation, max_new_tokens: int = 64, streamer: Any = None) -> str:
        """Generate the assistant's reply to ``conv`` (which must end with a user turn; earlier turns
        are the history). ``streamer``: a transformers streamer that receives the tokens as they come."""
        inputs = self.inputs(conv)
        tok = self.tokenizer
        out = self.model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
            streamer=streamer,
        )
        new = out[0, inputs["input_ids"].shape[1] :]
        return tok.decode(new, skip_special_tokens=True).strip()

    def generate(
        self,
        prompt: str,
        images: list = (),
        audio: list = (),
        videos: list = (),
        max_new_tokens: int = 64,
        system: str | None = None,
    ) -> str:
        return self.answer(self.conversation(prompt, images, audio, videos, system), max_new_tokens)
