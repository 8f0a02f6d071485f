"""Generate from a trained output folder, reproducing training-time preprocessing from its run card."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from mmtune.conversation import Conversation, MediaPart, MediaRef, Message, TextPart
from mmtune.data.decode import decode_conversation
from mmtune.models.families import get_family
from mmtune.outputs.load import Trained, load_trained
from mmtune.preprocess.settings import PrepSettings


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

    def _setup(self, trained: Trained) -> None:
        self.card = trained.card
        self.family, self.processor, self.settings = trained.family, trained.processor, trained.settings
        self.model = trained.model
        self.model.eval()
        self.transform = self.family.transform(self.processor, self.settings)

    def conversation(self, prompt: str, images: list = (), audio: list = (), videos: list = ()) -> Conversation:
        parts: list = []
        for kind, items in (("image", images), ("audio", audio), ("video", videos)):
            for item in items:
                ref = MediaRef(path=os.path.abspath(item)) if isinstance(item, str | Path) else MediaRef(obj=item)
                parts.append(MediaPart(kind, ref))
        parts.append(TextPart(prompt))
        return Conversation([Message("user", parts)])

    def inputs(self, conv: Conversation) -> dict[str, torch.Tensor]:
        """Model inputs to generate the assistant's reply to ``conv`` (decoded, encoded, cast)."""
        conv = decode_conversation(conv, self.family.modalities, self.family.id, self.settings.media)
        return self.family.prepare_inputs(self.transform.prompt(conv), self.model.dtype)

    @torch.no_grad()
    def answer(self, conv: Conversation, max_new_tokens: int = 64) -> str:
        """Generate the assistant's reply to ``conv`` (which must end with a user turn)."""
        inputs = self.inputs(conv)
        tok = getattr(self.processor, "tokenizer", self.processor)
        out = self.model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
        )
        new = out[0, inputs["input_ids"].shape[1] :]
        return tok.decode(new, skip_special_tokens=True).strip()

    def generate(
        self, prompt: str, images: list = (), audio: list = (), videos: list = (), max_new_tokens: int = 64
    ) -> str:
        return self.answer(self.conversation(prompt, images, audio, videos), max_new_tokens)
