"""The transform of checkpoints that ship a ``tekken.json``: chats encoded by mistral-common.

Mistral-Small-3.1, Magistral and Voxtral define their prompt format in code (mistral-common's
versioned instruct tokenizers), not in a Jinja template, and Voxtral's audio placeholders only come
out of that code. So a conversation becomes a mistral-common request, is validated and normalized
exactly as ``MistralTokenizer`` does, and then each message is encoded on its own with the
instruct tokenizer's per-message encoders, which gives the label spans directly
(``encode_instruct`` is ``BOS`` + the concatenation of those pieces). Images and audio are
preprocessed by mistral-common as well; the family turns them into model tensors
(its ``media_tensors`` hook).
"""

from __future__ import annotations

import io
import re
from typing import Any, Protocol

import torch

from mmtune.conversation import Conversation, MediaPart, Message, TextPart
from mmtune.errors import ConfigError, DataError
from mmtune.transforms.base import TransformSettings, media_token_ids
from mmtune.transforms.labels import IGNORE, Encoded, EndRules, is_trained, mask_media
from mmtune.transforms.system import SystemStep

_THINK = re.compile(r"^\[THINK\](.*?)\[/THINK\](.*)$", re.DOTALL)


class MistralSpec(Protocol):
    """The family declarations this transform reads."""

    id: str
    media_tokens: tuple[str, ...]

    @classmethod
    def media_tensors(cls, processor: Any, images: list, audios: list) -> dict[str, torch.Tensor]: ...


def mistral_tokenizer(processor: Any) -> Any:
    """The ``mistral_common`` ``MistralTokenizer`` behind the processor, or None (HF tokenizer)."""
    tok = getattr(processor, "tokenizer", processor)
    return tok.tokenizer if type(tok).__name__ == "MistralCommonBackend" else None


def _wav_bytes(samples: Any, sampling_rate: int) -> bytes:
    """A float WAV (lossless for float32 samples): mistral-common takes audio as file bytes."""
    import numpy as np
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.asarray(samples, dtype=np.float32), sampling_rate, format="WAV", subtype="FLOAT")
    return buf.getvalue()


def control_token(tok: Any, token: str) -> int:
    """The id of one of mistral-common's control tokens (``[/INST]``), or a ConfigError: eot_tokens
    must be tokens of the tokenizer."""
    get = getattr(tok, "get_special_token", None) or tok.get_control_token  # the newer name first
    try:
        return get(token)
    except Exception:
        raise ConfigError(
            f"eot_tokens: {token!r} is not a control token of this checkpoint's mistral-common tokenizer"
        ) from None


def _is_control(tok: Any, token: str) -> bool:
    try:
        control_token(tok, token)
    except ConfigError:
        return False
    return True


def _role_runs(messages: list[Message]) -> list[list[Message]]:
    """Consecutive messages of one role, as mistral-common's normalizer merges them."""
    runs: list[list[Message]] = []
    for m in messages:
        if runs and runs[-1][0].role == m.role and m.role != "system":
            runs[-1].append(m)
        else:
            runs.append([m])
    return runs


class MistralCommonTransform:
    """Labels per message: an assistant turn is its answer + ``</s>`` (mistral-common has no
    header before answers); a user/system turn trained through ``roles_to_train`` counts whole."""

    def __init__(self, spec: MistralSpec, processor: Any, settings: TransformSettings):
        self.spec = spec
        self.processor = processor
        self.train_on_inputs = settings.train_on_inputs
        self.roles_to_train = tuple(settings.roles_to_train)
        self.inst = mistral_tokenizer(processor).instruct_tokenizer
        self.media_ids = media_token_ids(spec, processor)
        self.system = SystemStep(
            spec,
            processor,
            getattr(settings, "system_message_policy", "fold"),
            getattr(settings, "default_system_message", None),
        )
        if getattr(settings, "template_vars", None):  # date_string / add_vision_id are refused before this
            raise ConfigError(
                f"chat_template_kwargs ({', '.join(sorted(settings.template_vars))}): model family {spec.id!r} "
                "encodes chats with mistral-common's tokenizer, which takes no template variables"
            )
        tok = self.inst.tokenizer
        self.ends = EndRules.of(settings, "</s>", usable=lambda t: _is_control(tok, t))  # answers end with EOS
        self.end_ids = {tok.eos_id: self.ends.kinds("</s>")}
        for t in self.ends.eot:
            if t != "</s>":
                self.end_ids[control_token(tok, t)] = self.ends.kinds(t)
        # decoded audio is at the processor's rate (MediaSettings.sampling_rate comes from it)
        self.rate = getattr(getattr(processor, "feature_extractor", None), "sampling_rate", None) or 16_000

    # -- conversation -> mistral-common messages ----------------------------------------------
    def assistant_chunks(self, text: str) -> list[Any]:
        """Content chunks of an assistant answer.

        Where the tokenizer has ``[THINK]`` / ``[/THINK]`` control tokens (Magistral, v13), an answer
        written ``[THINK]reasoning[/THINK]answer`` becomes a thinking chunk + text, so the markers
        are encoded as those control tokens and not as the characters ``[``, ``T``, ``H``...
        """
        from mistral_common.protocol.instruct.chunk import TextChunk, ThinkChunk

        m = _THINK.match(text)
        if m is None or getattr(self.inst, "BEGIN_THINK", None) is None:
            return [TextChunk(text=text)]
        chunks: list[Any] = [ThinkChunk(thinking=m.group(1), closed=True)]
        if m.group(2):
            chunks.append(TextChunk(text=m.group(2)))
        return chunks

    def media_chunk(self, part: MediaPart) -> Any:
        """A decoded image (PIL) or audio clip (mono float32 at the processor's rate) as a chunk."""
        from mistral_common.protocol.instruct.chunk import AudioChunk, ImageChunk

        if part.type == "image":
            return ImageChunk(image=part.value)
        if part.type == "audio":
            return AudioChunk(input_audio=_wav_bytes(part.value, self.rate))
        raise DataError(f"{part.type} input is not supported by model family {self.spec.id!r}", field=part.type)

    def to_mistral(self, msg: Message, index: int) -> Any:
        from mistral_common.protocol.instruct.chunk import TextChunk
        from mistral_common.protocol.instruct.messages import AssistantMessage, SystemMessage, UserMessage

        if msg.role == "assistant":
            if msg.media():
                raise DataError("assistant turns cannot carry media", field=f"messages[{index}]")
            return AssistantMessage(content=self.assistant_chunks(msg.text))
        chunks = [TextChunk(text=p.text) if isinstance(p, TextPart) else self.media_chunk(p) for p in msg.parts]
        if msg.role == "system":
            return SystemMessage(content=chunks)
        if msg.role == "user":
            return UserMessage(content=chunks)
        raise DataError(
            f"{msg.role} turns are not supported for model family {self.spec.id!r}", field=f"messages[{index}]"
        )

    def encode_messages(
        self, conv: Conversation, finetuning: bool
    ) -> tuple[list[int], list[tuple[list[Message], list[int]]], list, list]:
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

        inst = self.inst
        version = inst.tokenizer.version
        msgs = [self.to_mistral(m, i) for i, m in enumerate(conv.messages)]
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
                        m,
                        req.available_tools,
                        i == last_user,
                        i == first_user,
                        system_prompt=req.system_prompt,
                        force_img_first=True,
                        settings=req.settings,
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
                f"model family {self.spec.id!r}: mistral-common regrouped this conversation's turns "
                f"({len(conv.messages)} messages -> {len(pieces)}); cannot place the labels"
            )
        return inst.start(), list(zip(groups, pieces)), images, audios

    # -- what preprocessing and generation call -----------------------------------------------
    def __call__(self, conv: Conversation) -> Encoded:
        start, pieces, images, audios = self.encode_messages(self.system(conv), finetuning=True)
        ids = list(start)
        labels = list(start) if self.train_on_inputs else [IGNORE] * len(start)
        closes: list[tuple[int, bool, frozenset[str]]] = []  # end tokens: message group, trained, kinds
        at: list[int] = []  # their positions in ids
        for g, (group, toks) in enumerate(pieces):
            flags = {is_trained(m, self.train_on_inputs, self.roles_to_train) for m in group}
            if len(flags) > 1:
                raise DataError(
                    "consecutive turns of one role are merged by mistral-common; give them the same `train` flag"
                )
            trained = flags.pop()
            seen: set[str] = set()
            for j, t in enumerate(toks):  # a piece's control tokens come from the format, never from text
                kinds = self.end_ids.get(t, frozenset()) - seen
                if kinds:
                    seen |= kinds
                    closes.append((g, trained, kinds))
                    at.append(len(ids) + j)
            ids.extend(toks)
            labels.extend(toks if trained else [IGNORE] * len(toks))
        for pos, trained in zip(at, self.ends.flags(closes)):
            labels[pos] = ids[pos] if trained else IGNORE
        # No ``media`` for the cache to store instead: mistral-common hands its images over already
        # resized and normalized (float arrays), so the tensors are as small as they get.
        return Encoded(ids, mask_media(labels, self.media_ids), self._tensors(images, audios))

    def prompt(self, conv: Conversation) -> dict[str, torch.Tensor]:
        start, pieces, images, audios = self.encode_messages(self.system(conv, training=False), finetuning=False)
        ids = list(start) + [t for _, toks in pieces for t in toks]
        return {
            "input_ids": torch.tensor([ids]),
            "attention_mask": torch.ones(1, len(ids), dtype=torch.long),
            **self._tensors(images, audios),
        }

    def _tensors(self, images: list, audios: list) -> dict[str, torch.Tensor]:
        try:
            return self.spec.media_tensors(self.processor, images, audios)
        except DataError:
            raise
        except Exception as e:  # feature extraction on bad media: name it, not a traceback
            raise DataError(f"the processor rejected this row's media ({type(e).__name__}: {e})") from None
