"""Chats encoded by mistral-common, for checkpoints that ship a ``tekken.json``.

Mistral-Small-3.1, Magistral and Voxtral define their prompt format in code (mistral-common's
versioned instruct tokenizers), not in a Jinja template, and Voxtral's audio placeholders only come
out of that code. So these families skip the template renderer: a conversation becomes a
mistral-common request, is validated and normalized exactly as ``MistralTokenizer`` does, and then
each message is encoded on its own with the instruct tokenizer's per-message encoders, which gives
the label spans directly (``encode_instruct`` is ``BOS`` + the concatenation of those pieces).
Images and audio are preprocessed by mistral-common as well; the family turns them into model
tensors (``MistralChatFamily.media_tensors``).

A checkpoint without ``tekken.json`` (an HF-format conversion with ``tokenizer.json`` and a chat
template) falls back to the generic template path of ``Family``.

Also here: ``write_tiny_tekken``, a shrunk copy of the tekken file mistral-common ships, so tiny
checkpoints have a real tekken tokenizer of ~1100 tokens.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any, ClassVar

import torch

from mmtune.conversation import Conversation, MediaPart, Message, TextPart
from mmtune.errors import ConfigError, DataError
from mmtune.models.families.base import Family

IGNORE = -100
_THINK = re.compile(r"^\[THINK\](.*?)\[/THINK\](.*)$", re.DOTALL)


# -- tiny tekken files ---------------------------------------------------------------------------

def write_tiny_tekken(
    path: Path, version: str, specials: dict[int, str], n_ranks: int = 1000, n_special: int = 100,
    image: dict | None = None, audio: dict | None = None,
) -> Path:
    """Write a tekken.json keeping the first ``n_ranks`` BPE ranks of mistral-common's shipped file.

    ``specials`` maps rank -> control token; free ranks get tekken's ``<SPECIAL_n>`` fillers. Listing
    the special tokens explicitly is what lets any version (v7, v13, ...) load.
    """
    import mistral_common

    src = Path(mistral_common.__file__).parent / "data" / "tekken_240911.json"
    full = json.loads(src.read_text())
    tokens = [
        {"rank": i, "token_str": specials.get(i, f"<SPECIAL_{i}>"), "is_control": True} for i in range(n_special)
    ]
    data: dict[str, Any] = {
        "config": {
            **full["config"], "version": version, "num_vocab_tokens": n_ranks,
            "default_vocab_size": n_ranks + n_special, "default_num_special_tokens": n_special,
        },
        "vocab": full["vocab"][:n_ranks],
        "special_tokens": tokens,
    }
    if image:
        data["image"] = image
    if audio:
        data["audio"] = audio
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


# -- the family base -----------------------------------------------------------------------------

def _wav_bytes(samples: Any, sampling_rate: int) -> bytes:
    """A float WAV (lossless for float32 samples): mistral-common takes audio as file bytes."""
    import numpy as np
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.asarray(samples, dtype=np.float32), sampling_rate, format="WAV", subtype="FLOAT")
    return buf.getvalue()


class MistralChatFamily(Family):
    """Shared behaviour of the families whose chat format is mistral-common's (not registered)."""

    # Tiny-checkpoint recipe: tekken version and its control tokens by rank.
    tekken_version: ClassVar[str] = "v7"
    tekken_specials: ClassVar[dict[int, str]] = {}

    @staticmethod
    def mistral_tokenizer(processor: Any) -> Any:
        """The ``mistral_common`` ``MistralTokenizer`` behind the processor, or None (HF tokenizer)."""
        tok = getattr(processor, "tokenizer", processor)
        return tok.tokenizer if type(tok).__name__ == "MistralCommonBackend" else None

    @classmethod
    def load_processor(cls, path: str, **kwargs: Any) -> Any:
        """The checkpoint's processor, with mistral-common's tokenizer where it ships ``tekken.json``.

        ``mode="finetuning"``: the default test mode refuses conversations ending with an answer.
        PixtralProcessor (Mistral3) always converts tekken.json into an HF tokenizer, so its tokenizer
        is swapped for mistral-common's.
        """
        from transformers import AutoProcessor, MistralCommonBackend

        processor = AutoProcessor.from_pretrained(path, **{"mode": "finetuning", **kwargs})
        if type(processor.tokenizer).__name__ != "MistralCommonBackend":
            try:
                processor.tokenizer = MistralCommonBackend.from_pretrained(path, mode="finetuning")
            except (OSError, ValueError):
                pass  # no tekken.json: an HF conversion, handled by the generic template path
        return processor

    # -- conversation -> mistral-common messages ----------------------------------------------
    @classmethod
    def assistant_chunks(cls, text: str, inst: Any) -> list[Any]:
        """Content chunks of an assistant answer.

        Where the tokenizer has ``[THINK]`` / ``[/THINK]`` control tokens (Magistral, v13), an answer
        written ``[THINK]reasoning[/THINK]answer`` becomes a thinking chunk + text, so the markers
        are encoded as those control tokens and not as the characters ``[``, ``T``, ``H``...
        """
        from mistral_common.protocol.instruct.chunk import TextChunk, ThinkChunk

        m = _THINK.match(text)
        if m is None or getattr(inst, "BEGIN_THINK", None) is None:
            return [TextChunk(text=text)]
        chunks: list[Any] = [ThinkChunk(thinking=m.group(1), closed=True)]
        if m.group(2):
            chunks.append(TextChunk(text=m.group(2)))
        return chunks

    @classmethod
    def media_chunk(cls, part: MediaPart, rate: int) -> Any:
        """A decoded image (PIL) or audio clip (mono float32 at ``rate``) as a mistral-common chunk."""
        from mistral_common.protocol.instruct.chunk import AudioChunk, ImageChunk

        if part.type == "image":
            return ImageChunk(image=part.value)
        if part.type == "audio":
            return AudioChunk(input_audio=_wav_bytes(part.value, rate))
        raise DataError(f"{part.type} input is not supported by model family {cls.id!r}", field=part.type)

    @classmethod
    def to_mistral(cls, msg: Message, index: int, inst: Any, rate: int) -> Any:
        from mistral_common.protocol.instruct.chunk import TextChunk
        from mistral_common.protocol.instruct.messages import AssistantMessage, SystemMessage, UserMessage

        if msg.role == "assistant":
            if msg.media():
                raise DataError("assistant turns cannot carry media", field=f"messages[{index}]")
            return AssistantMessage(content=cls.assistant_chunks(msg.text, inst))
        chunks = [TextChunk(text=p.text) if isinstance(p, TextPart) else cls.media_chunk(p, rate) for p in msg.parts]
        if msg.role == "system":
            return SystemMessage(content=chunks)
        if msg.role == "user":
            return UserMessage(content=chunks)
        raise DataError(f"{msg.role} turns are not supported for model family {cls.id!r}", field=f"messages[{index}]")

    @classmethod
    def encode_messages(cls, processor: Any, conv: Conversation, finetuning: bool) -> tuple[list[int], list[tuple[list[Message], list[int]]], list, list]:
        """BOS, then (canonical messages, token ids) per normalized message, plus images and audio.

        Validation and normalization are mistral-common's own (consecutive turns of one role are
        merged, text chunks joined as the tokenizer version does); the per-message encoders are the
        ones ``encode_instruct`` calls, so BOS + the pieces equals its output.
        """
        from mistral_common.exceptions import MistralCommonException
        from mistral_common.protocol.instruct.messages import AssistantMessage, SystemMessage, UserMessage
        from mistral_common.protocol.instruct.normalize import get_normalizer
        from mistral_common.protocol.instruct.request import ChatCompletionRequest
        from mistral_common.protocol.instruct.validator import ValidationMode, get_validator

        inst = cls.mistral_tokenizer(processor).instruct_tokenizer
        version = inst.tokenizer.version
        # decoded audio is at the processor's rate (MediaSettings.sampling_rate comes from it)
        rate = getattr(getattr(processor, "feature_extractor", None), "sampling_rate", None) or 16_000
        msgs = [cls.to_mistral(m, i, inst, rate) for i, m in enumerate(conv.messages)]
        try:
            request = ChatCompletionRequest(messages=msgs)
            mode = ValidationMode.finetuning if finetuning else ValidationMode.test
            request = get_validator(version, mode).validate_request(request)
            normalizer = get_normalizer(version, getattr(inst.tokenizer, "model_settings_builder", None))
            req = normalizer.from_chat_completion_request(request)
            inst.validate_messages(req.messages)
            first_user, last_user = inst.find_first_last_user(req)
            pieces: list[list[int]] = []
            images: list = []
            audios: list = []
            for i, m in enumerate(req.messages):
                if isinstance(m, UserMessage):
                    toks, imgs, auds = inst.encode_user_message(
                        m, req.available_tools, i == last_user, i == first_user,
                        system_prompt=req.system_prompt, force_img_first=True, settings=req.settings,
                    )
                    images.extend(imgs)
                    audios.extend(auds)
                elif isinstance(m, AssistantMessage):
                    toks = inst.encode_assistant_message(m, is_before_last_user_message=i < last_user)
                elif isinstance(m, SystemMessage):
                    toks, auds = inst.encode_system_message(m)
                    audios.extend(auds)
                else:  # tool turns never reach here: to_mistral rejects them
                    raise DataError(f"unexpected {m.role} turn")
                pieces.append(list(toks))
        except (MistralCommonException, ValueError, AssertionError) as e:
            raise DataError(f"mistral-common rejected this conversation: {e}") from None
        groups = _role_runs(conv.messages)
        if len(groups) != len(pieces) or req.system_prompt is not None:
            raise DataError(
                f"model family {cls.id!r}: mistral-common regrouped this conversation's turns "
                f"({len(conv.messages)} messages -> {len(pieces)}); cannot place the labels"
            )
        return inst.start(), list(zip(groups, pieces)), images, audios

    # -- model tensors ------------------------------------------------------------------------
    @classmethod
    def media_tensors(cls, processor: Any, images: list, audios: list) -> dict[str, torch.Tensor]:
        """Model inputs for the images (np [3, H, W]) and audio (mistral-common ``Audio``) of a row."""
        raise NotImplementedError

    # -- hooks called by the pipeline ---------------------------------------------------------
    @classmethod
    def _check_template(cls, processor: Any, renderer: Any) -> None:
        """A template other than ours or the checkpoint's own was asked for: it cannot apply."""
        own = getattr(processor, "chat_template", None) or getattr(processor.tokenizer, "chat_template", None)
        if renderer is not None and renderer.template not in (cls.chat_template, own):
            raise ConfigError(
                f"model family {cls.id!r} encodes chats with the checkpoint's mistral-common tokenizer "
                "(tekken.json); a custom chat_template / chat_template_jinja cannot change that format"
            )

    @classmethod
    def encode_conversation(
        cls, processor: Any, renderer: Any, conv: Any, train_on_inputs: bool = False,
        roles_to_train: tuple[str, ...] = ("assistant",), media_ids: set[int] | frozenset[int] = frozenset(),
    ) -> Any:
        """Labels per message: an assistant turn is its answer + ``</s>`` (mistral-common has no
        header before answers); a user/system turn trained through ``roles_to_train`` counts whole."""
        if cls.mistral_tokenizer(processor) is None:
            return super().encode_conversation(processor, renderer, conv, train_on_inputs, roles_to_train, media_ids)
        from mmtune.preprocess.encode import Encoded

        cls._check_template(processor, renderer)
        start, pieces, images, audios = cls.encode_messages(processor, conv, finetuning=True)
        ids = list(start)
        labels = list(start) if train_on_inputs else [IGNORE] * len(start)
        for group, toks in pieces:
            flags = {m.train if m.train is not None else (train_on_inputs or m.role in roles_to_train) for m in group}
            if len(flags) > 1:
                raise DataError("consecutive turns of one role are merged by mistral-common; give them the same `train` flag")
            ids.extend(toks)
            labels.extend(toks if flags.pop() else [IGNORE] * len(toks))
        labels = [IGNORE if t in media_ids else t for t in labels]
        return Encoded(ids, labels, cls._tensors(processor, images, audios))

    @classmethod
    def _tensors(cls, processor: Any, images: list, audios: list) -> dict[str, torch.Tensor]:
        try:
            return cls.media_tensors(processor, images, audios)
        except DataError:
            raise
        except Exception as e:  # feature extraction on bad media: name it, not a traceback
            raise DataError(f"the processor rejected this row's media ({type(e).__name__}: {e})") from None

    @classmethod
    def encode_prompt(cls, processor: Any, renderer: Any, conv: Any) -> dict[str, torch.Tensor]:
        if cls.mistral_tokenizer(processor) is None:
            return super().encode_prompt(processor, renderer, conv)
        cls._check_template(processor, renderer)
        start, pieces, images, audios = cls.encode_messages(processor, conv, finetuning=False)
        ids = list(start) + [t for _, toks in pieces for t in toks]
        return {
            "input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long),
            **cls._tensors(processor, images, audios),
        }


def _role_runs(messages: list[Message]) -> list[list[Message]]:
    """Consecutive messages of one role, as mistral-common's normalizer merges them."""
    runs: list[list[Message]] = []
    for m in messages:
        if runs and runs[-1][0].role == m.role and m.role != "system":
            runs[-1].append(m)
        else:
            runs.append([m])
    return runs


def pad_images(images: list) -> dict[str, torch.Tensor]:
    """Pixtral inputs from mistral-common's per-image arrays: zero-padded ``pixel_values`` + true sizes."""
    if not images:
        return {}
    h = max(i.shape[1] for i in images)
    w = max(i.shape[2] for i in images)
    pixels = torch.zeros(len(images), 3, h, w, dtype=torch.float32)
    for k, img in enumerate(images):
        pixels[k, :, : img.shape[1], : img.shape[2]] = torch.from_numpy(img)
    sizes = torch.tensor([[i.shape[1], i.shape[2]] for i in images], dtype=torch.long)
    return {"pixel_values": pixels, "image_sizes": sizes}

