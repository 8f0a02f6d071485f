"""Generate from a trained output folder, reproducing training-time preprocessing from its run card."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from mmtune.conversation import Conversation, MediaPart, MediaRef, Message, TextPart
from mmtune.data.documents import expand_documents
from mmtune.data.media import decode_media
from mmtune.models.families import get_family
from mmtune.models.loading import load_model
from mmtune.preprocess.pipeline import PrepSettings
from mmtune.preprocess.render import Renderer
from mmtune.runcard import RunCard


class Predictor:
    """Generation with the preprocessing of a run card (or of given settings, for a base model)."""

    def __init__(self, output_dir: str | Path, model: Any = None, processor: Any = None):
        self.output_dir = Path(output_dir)
        self.card = RunCard.load(self.output_dir)
        family = get_family(self.card.family)
        processor = processor if processor is not None else family.load_processor(str(self.output_dir))
        self._setup(family, processor, self.card.preprocessing, model if model is not None else self._load_model(family))

    @classmethod
    def from_parts(cls, model: Any, processor: Any, settings: PrepSettings) -> Predictor:
        """A predictor around an in-memory model (e.g. the base model before training)."""
        self = cls.__new__(cls)
        self.output_dir, self.card = None, None
        self._setup(get_family(settings.family), processor, settings, model)
        return self

    def _setup(self, family: Any, processor: Any, settings: PrepSettings, model: Any) -> None:
        self.family, self.processor, self.settings, self.model = family, processor, settings, model
        self.model.eval()
        self.renderer = Renderer(family, processor, settings.chat_template)

    def _load_model(self, family: Any) -> Any:
        if self.card.adapter:
            from peft import PeftModel

            base = load_model(self.card.base_model, family)
            return PeftModel.from_pretrained(base, str(self.output_dir))
        return load_model(str(self.output_dir), family)

    def conversation(self, prompt: str, images: list = (), audio: list = (), videos: list = ()) -> Conversation:
        parts: list = []
        for kind, items in (("image", images), ("audio", audio), ("video", videos)):
            for item in items:
                ref = MediaRef(path=os.path.abspath(item)) if isinstance(item, str | Path) else MediaRef(obj=item)
                parts.append(MediaPart(kind, ref))
        parts.append(TextPart(prompt))
        return Conversation([Message("user", parts)])

    @torch.no_grad()
    def answer(self, conv: Conversation, max_new_tokens: int = 64) -> str:
        """Generate the assistant's reply to ``conv`` (which must end with a user turn)."""
        conv = expand_documents(conv, self.settings.media)
        for part in conv.media():
            if part.value is None:
                part.value = decode_media(part, self.settings.media)
        inputs = self.family.encode_prompt(self.processor, self.renderer, conv)
        inputs = self.family.prepare_inputs(inputs, self.model.dtype)
        tok = getattr(self.processor, "tokenizer", self.processor)
        out = self.model.generate(
            **inputs, max_new_tokens=max_new_tokens, do_sample=False,
            pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
        )
        new = out[0, inputs["input_ids"].shape[1]:]
        return tok.decode(new, skip_special_tokens=True).strip()

    def generate(self, prompt: str, images: list = (), audio: list = (), videos: list = (), max_new_tokens: int = 64) -> str:
        return self.answer(self.conversation(prompt, images, audio, videos), max_new_tokens)
