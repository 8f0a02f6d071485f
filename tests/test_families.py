"""Every model family in one table: what its tiny checkpoint, chat format, labels, training and
trained output must look like.

``FAMILIES`` holds one row per family id; each test below runs for every row (or for every row
that has the expectation it checks). What only one family does lives in
``tests/test_family_<id>.py``. The rows' conversations are the shared ones of ``family_checks``:
``two_image_conversation`` ("images"), ``video_conversation`` ("video") and
``audio_conversation`` ("audio").
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
import torch
import yaml
from family_checks import (
    assert_generates,
    audio_conversation,
    encode_row,
    example_path,
    image_audio_conversation,
    label_spans,
    media_ids,
    one_media_conversation,
    row_processor,
    supervised_ids,
    supervised_text,
    tokenizer,
    train_and_reload,
    trainable_names,
    two_image_conversation,
    two_video_conversation,
    video_conversation,
    write_gif,
    write_image_and_tones,
    write_two_clips,
    write_two_images,
)
from transformers import AutoProcessor

from mmtune.config import parse_config
from mmtune.conversation import Conversation, Message, TextPart
from mmtune.errors import ConfigError
from mmtune.models.families import all_families, family_for_checkpoint, get_family

Sizes = tuple[tuple[int, int], tuple[int, int]]
# A training batch: the rows, and per media kind one file (absolute path) to prompt the trained output with.
Batch = Callable[[Path, Sizes], tuple[list[dict], dict[str, str]]]
MEDIA_KWARG = {"image": "images", "video": "videos", "audio": "audio"}


@dataclass(frozen=True)
class Rows:
    """Expectations for one of the shared conversations, encoded by the family."""

    supervised: str  # the supervised tokens, decoded
    media: dict[str, int]  # how often each of the family's media tokens occurs (those not listed: never)
    n_media: int
    users_too: str | None = None  # supervised text with roles_to_train [user, assistant]
    inputs_too: str | None = None  # supervised text with train_on_inputs


@dataclass(frozen=True)
class Expect:
    """One family's row of the table."""

    processor: str  # class names of the checkpoint's processor and model
    model: str
    hub_config: dict  # a hub config.json that names this family (or ``hub_family``)
    prompt: str  # the generation prompt for [system "Answer briefly.", user "Hi"]
    text_row: tuple[str, str]  # [user "Hi", assistant "red"]: the whole row decoded, the supervised text
    rows: dict[str, Rows]  # "images", "video", "audio": the shared conversations the family takes
    refused_template: tuple[str, str]  # a chat_template name of another family, the names the error lists
    example_template: str | None  # chat_template of src/mmtune/examples/<id>/lora.yaml
    batch: Batch  # the rows LoRA and full fine-tuning train on
    predict: tuple[tuple[str, str], ...]  # (prompt, media kind) the trained output answers
    image_sizes: Sizes = ((90, 70), (60, 100))
    tekken: bool = False  # encodes with a mistral-common tekken.json
    hub_family: str | None = None  # family a hub config resolves to, when not this one
    steps: int = 12
    # what the full fine-tuning run trains: without "vision", it runs with freeze_vision_tower: true (the default
    # trains every parameter)
    full_groups: frozenset[str] = frozenset({"projector", "language"})
    lora_trains: tuple[str, ...] = ()  # name pieces some LoRA parameter has
    full_trains: tuple[str, ...] = ()  # name pieces some fully trained parameter has
    full_freezes: tuple[str, ...] = ()  # name pieces no fully trained parameter has
    video_run: bool = False  # also trains (LoRA) on video rows and answers about a clip


# -- the training batches --------------------------------------------------------------------------


def _same_rows(tmp_path: Path, sizes: Sizes, last_as_parts: bool = False) -> tuple[list[dict], dict[str, str]]:
    a, b = write_two_images(tmp_path, sizes)
    return [two_image_conversation(a, b, last_as_parts=last_as_parts)] * 4, {"image": str(tmp_path / a)}


def _tile_counts(tmp_path: Path, sizes: Sizes) -> tuple[list[dict], dict[str, str]]:
    """6 and 2 tiles in one batch."""
    a, b = write_two_images(tmp_path, sizes)
    return [two_image_conversation(a, b), two_image_conversation(b, b)] * 2, {"image": str(tmp_path / a)}


def _two_one_no_image(tmp_path: Path, sizes: Sizes) -> tuple[list[dict], dict[str, str]]:
    """Rows with two, one and no image share batches: per-image tensors are padded by the collator."""
    a, b = write_two_images(tmp_path, sizes)
    text_only = {"messages": [{"role": "user", "content": "Name a color."}, {"role": "assistant", "content": "blue"}]}
    rows = [
        two_image_conversation(a, b, last_as_parts=True),
        one_media_conversation("image", a, "What color is it?", "red"),
        text_only,
        two_image_conversation(a, b, last_as_parts=True),
    ]
    return rows, {"image": str(tmp_path / a)}


def _images_of_two_sizes(tmp_path: Path, sizes: Sizes) -> tuple[list[dict], dict[str, str]]:
    """Rows whose images differ in size and count (absolute paths), so batching pads images across rows."""
    a, b = (str(tmp_path / p) for p in write_two_images(tmp_path, sizes))
    return [two_image_conversation(a, b), one_media_conversation("image", b, "Color?", "blue")] * 2, {"image": a}


def _images_and_video(tmp_path: Path, sizes: Sizes) -> tuple[list[dict], dict[str, str]]:
    """Every batch pairs an image row (10 tiles) with a video row (6 frames): tiles are zero-padded."""
    a, b = write_two_images(tmp_path, sizes)
    video = two_video_conversation(write_gif(tmp_path, "four.gif", 4), write_gif(tmp_path, "two.gif", 2))
    return [two_image_conversation(a, b), video] * 2, {"image": str(tmp_path / a), "video": str(tmp_path / "two.gif")}


def _image_audio_and_audio(tmp_path: Path, sizes: Sizes) -> tuple[list[dict], dict[str, str]]:
    """Image+audio rows batched with audio-only rows: clips of different lengths are padded."""
    img, beep, hum = write_image_and_tones(tmp_path)
    rows = [image_audio_conversation(img, beep, hum), one_media_conversation("audio", hum, "What is it?", "a hum")] * 2
    return rows, {"image": str(tmp_path / img), "audio": str(tmp_path / hum)}


def _two_clips_and_one(tmp_path: Path, sizes: Sizes) -> tuple[list[dict], dict[str, str]]:
    a, b = (str(tmp_path / p) for p in write_two_clips(tmp_path))
    return [audio_conversation(a, b), one_media_conversation("audio", b, "Tone?", "low")] * 2, {"audio": a}


# -- the table -------------------------------------------------------------------------------------

IMAGES_Q = ("What colors are these?", "image")
CHATML_TEXT = ("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nred<|im_end|>\n", "red<|im_end|>")
CHATML_PROMPT = "<|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
CHATML_USERS = (
    "What colors are these?<|im_end|>red and blue<|im_end|>Which one is first?<|im_end|>the red one<|im_end|>"
)
CHATML_INPUTS = (
    "<|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\nWhat colors are these?<|im_end|>\n"
    "<|im_start|>assistant\nred and blue<|im_end|>\n<|im_start|>user\nWhich one is first?<|im_end|>\n"
    "<|im_start|>assistant\nthe red one<|im_end|>\n"
)
# Qwen2-VL's template adds a default system prompt to a conversation without one
QWEN2_TEXT = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" + CHATML_TEXT[0], CHATML_TEXT[1])
QWEN_VIDEO = Rows(  # 4 frames of 96x80 -> grid (t=2, h=6, w=6) -> 72 patches / 2x2 merge = 18 placeholder tokens
    "four colors<|im_end|>white<|im_end|>",
    {"<|vision_start|>": 1, "<|vision_end|>": 1, "<|video_pad|>": 18},
    1,
)
QWEN2_IMAGES = Rows(
    "red and blue<|im_end|>the red one<|im_end|>",
    {"<|vision_start|>": 2, "<|vision_end|>": 2, "<|image_pad|>": 14},
    2,
    CHATML_USERS,
    CHATML_INPUTS,
)
QWEN_TEMPLATES = "qwen2_vl, qwen2_5_vl, chatml, tokenizer_default"
GEMMA_PROMPT = "<bos><start_of_turn>user\nAnswer briefly.\n\nHi<end_of_turn>\n<start_of_turn>model\n"
GEMMA_TEXT = ("<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nred<end_of_turn>\n", "red<end_of_turn>")
GEMMA_USERS = (
    "What colors are these?<end_of_turn>red and blue<end_of_turn>"
    "Which one is first?<end_of_turn>the red one<end_of_turn>"
)
# the system prompt opens the first user turn; each image leaves its newlines in the text
GEMMA_INPUTS = (
    "<bos><start_of_turn>user\nAnswer briefly.\n\n\n\n\n\n\n\n\n\nWhat colors are these?<end_of_turn>\n"
    "<start_of_turn>model\nred and blue<end_of_turn>\n<start_of_turn>user\nWhich one is first?<end_of_turn>\n"
    "<start_of_turn>model\nthe red one<end_of_turn>\n"
)
# Gemma 4: the system message has a turn of its own; each image is 63 or 60 soft tokens between
# <|image> and <image|> (the smallest budget, 70, resized to keep the aspect ratio), each clip one
# soft token per 40 ms. Gemma 4 Unified opens every model turn on an empty thought channel.
GEMMA4_PROMPT = "<bos><|turn>system\nAnswer briefly.<turn|>\n<|turn>user\nHi<turn|>\n<|turn>model\n"
GEMMA4_THOUGHT = "<|channel>thought\n<channel|>"
GEMMA4_IMAGES = {"<|image>": 2, "<image|>": 2, "<|image|>": 123}
GEMMA4_AUDIO = {"<|audio>": 2, "<audio|>": 2, "<|audio|>": 56}
GEMMA4_USERS = "What colors are these?<turn|>red and blue<turn|>Which one is first?<turn|>the red one<turn|>"
GEMMA4_AUDIO_USERS = "Which tone is higher?<turn|>the first<turn|>How many clips?<turn|>two<turn|>"
GEMMA4_MODEL = "<|turn>model\n"  # Gemma 4 Unified: followed by the empty thought channel


def gemma4_rows(thought: str = "") -> dict[str, Rows]:
    """The shared conversations as Gemma 4 encodes them (``thought``: what opens every model turn)."""
    model = GEMMA4_MODEL + thought
    return {
        "images": Rows(
            "red and blue<turn|>the red one<turn|>",
            GEMMA4_IMAGES,
            2,
            GEMMA4_USERS,
            "<bos><|turn>system\nAnswer briefly.<turn|>\n<|turn>user\nWhat colors are these?<turn|>\n"
            f"{model}red and blue<turn|>\n<|turn>user\nWhich one is first?<turn|>\n{model}the red one<turn|>\n",
        ),
        "audio": Rows(
            "the first<turn|>two<turn|>",
            GEMMA4_AUDIO,
            2,
            GEMMA4_AUDIO_USERS,
            f"<bos><|turn>user\nWhich tone is higher?<turn|>\n{model}the first<turn|>\n<|turn>user\n"
            f"How many clips?<turn|>\n{model}two<turn|>\n",
        ),
        # "MM:SS <|image><|video|>...<image|>" per frame, 63 soft tokens each
        "video": Rows("four colors<turn|>white<turn|>", {"<|image>": 4, "<image|>": 4, "<|video|>": 252}, 1),
    }


# Qwen3.5: the answer after the last user turn follows an empty think block (in its generation prompt)
QWEN3_5_THINK = "<think>\n\n</think>\n\n"
QWEN3_5_IMAGES = Rows(  # 16 px patches as Qwen3-VL: 6 tokens per image
    "red and blue<|im_end|>the red one<|im_end|>",
    {"<|vision_start|>": 2, "<|vision_end|>": 2, "<|image_pad|>": 12},
    2,
    CHATML_USERS,
    CHATML_INPUTS.replace("assistant\nthe red one", "assistant\n" + QWEN3_5_THINK + "the red one"),
)
QWEN3_5_VIDEO = Rows(
    "four colors<|im_end|>white<|im_end|>", {"<|vision_start|>": 2, "<|vision_end|>": 2, "<|video_pad|>": 12}, 1
)
QWEN3_5_TEXT = (CHATML_TEXT[0].replace("assistant\n", "assistant\n" + QWEN3_5_THINK), CHATML_TEXT[1])
MISTRAL_PROMPT = "<s>[SYSTEM_PROMPT]Answer briefly.[/SYSTEM_PROMPT][INST]Hi[/INST]"
MISTRAL_TEXT = ("<s>[INST]Hi[/INST]red</s>", "red</s>")
MISTRAL_IMAGES = Rows(
    "red and blue</s>the red one</s>",
    {"[IMG]": 24, "[IMG_BREAK]": 5, "[IMG_END]": 2},
    2,
    "[INST]What colors are these?[/INST]red and blue</s>[INST]Which one is first?[/INST]the red one</s>",
    "<s>[SYSTEM_PROMPT]Answer briefly.[/SYSTEM_PROMPT][INST]What colors are these?[/INST]red and blue</s>"
    "[INST]Which one is first?[/INST]the red one</s>",
)
MISTRAL3_HUB = {"model_type": "mistral3", "vision_config": {"model_type": "pixtral"}}
MISTRAL_TRAINING = {  # the vision tower trains too in full fine-tuning (the default)
    "full_groups": frozenset({"vision", "projector", "language"}),
}
# Mistral 4's tekken v15 opens the first user turn with the tokenizer's default model settings
MISTRAL4_SETTINGS = '[MODEL_SETTINGS]{"reasoning_effort": "none"}[/MODEL_SETTINGS]'
# GLM answers end with the next turn's <|user|> (the token the model stops on); the empty think block
# is part of the generation prompt
GLM_PROMPT = "[gMASK]<sop><|system|>\nAnswer briefly.<|user|>\nHi<|assistant|>\n<think></think>\n"
GLM_INPUTS = (
    "[gMASK]<sop><|system|>\nAnswer briefly.<|user|>\nWhat colors are these?<|assistant|>\n<think></think>\n"
    "red and blue<|user|>\nWhich one is first?<|assistant|>\n<think></think>\nthe red one<|user|>"
)
PADDLE_INPUTS = (
    "<|begin_of_sentence|>Answer briefly.\nUser: What colors are these?\nAssistant:\nred and blue</s>"
    "User: Which one is first?\nAssistant:\nthe red one</s>"
)

FAMILIES: dict[str, Expect] = {
    "glm46v": Expect(
        processor="Glm46VProcessor",
        model="Glm46VForConditionalGeneration",
        hub_config={"model_type": "glm46v"},
        prompt=GLM_PROMPT,
        text_row=("[gMASK]<sop><|user|>\nHi<|assistant|>\n<think></think>\nred<|user|>", "red<|user|>"),
        rows={
            # one <|image|> per 28x28 px: 90x70 -> 84x56 px -> 6 tokens; 60x100 -> 56x112 px -> 8
            "images": Rows(
                "red and blue<|user|>the red one<|user|>",
                {"<|begin_of_image|>": 2, "<|end_of_image|>": 2, "<|image|>": 14},
                2,
                "What colors are these?red and blue<|user|>Which one is first?the red one<|user|>",
                GLM_INPUTS,
            ),
            # per two frames: <|begin_of_image|> + 9 tokens + <|end_of_image|> + its timestamp
            "video": Rows(
                "four colors<|user|>white<|user|>",
                {
                    "<|begin_of_video|>": 1,
                    "<|end_of_video|>": 1,
                    "<|begin_of_image|>": 2,
                    "<|end_of_image|>": 2,
                    "<|image|>": 18,
                },
                1,
            ),
        },
        refused_template=("llama3_2_vision", "glm46v, tokenizer_default"),
        example_template="glm46v",
        batch=_images_of_two_sizes,
        predict=(IMAGES_Q,),
        full_trains=(".visual.merger.", "language_model"),
        full_freezes=(".visual.blocks.",),
        steps=8,
    ),
    "paddleocr_vl": Expect(
        processor="PaddleOCRVLProcessor",
        model="PaddleOCRVLForConditionalGeneration",
        hub_config={"model_type": "paddleocr_vl"},
        prompt="<|begin_of_sentence|>Answer briefly.\nUser: Hi\nAssistant:\n",
        text_row=("<|begin_of_sentence|>User: Hi\nAssistant:\nred</s>", "red</s>"),
        rows={
            "images": Rows(  # one placeholder per 28x28 px, as GLM's
                "red and blue</s>the red one</s>",
                {"<|IMAGE_START|>": 2, "<|IMAGE_PLACEHOLDER|>": 14, "<|IMAGE_END|>": 2},
                2,
                "What colors are these?\nred and blue</s>Which one is first?\nthe red one</s>",
                PADDLE_INPUTS,
            ),
        },
        refused_template=("llama3_2_vision", "paddleocr_vl, tokenizer_default"),
        example_template=None,
        batch=_two_one_no_image,
        predict=(IMAGES_Q,),
        full_trains=(".projector.", "language_model"),
        full_freezes=(".visual.",),
        steps=8,
    ),
    "ministral3": Expect(
        processor="PixtralProcessor",
        model="Mistral3ForConditionalGeneration",
        hub_config={**MISTRAL3_HUB, "text_config": {"model_type": "ministral3"}},
        tekken=True,
        prompt=MISTRAL_PROMPT,
        text_row=MISTRAL_TEXT,
        rows={"images": MISTRAL_IMAGES},
        refused_template=("llama3_2_vision", "tokenizer_default"),
        example_template=None,
        batch=_images_of_two_sizes,
        predict=(("What is it?", "image"),),
        steps=8,
        **MISTRAL_TRAINING,
    ),
    "mistral4": Expect(
        processor="PixtralProcessor",
        model="Mistral3ForConditionalGeneration",
        hub_config={**MISTRAL3_HUB, "text_config": {"model_type": "mistral4"}},
        tekken=True,
        prompt=MISTRAL_PROMPT.replace("[INST]", MISTRAL4_SETTINGS + "[INST]"),
        text_row=(MISTRAL_TEXT[0].replace("<s>", "<s>" + MISTRAL4_SETTINGS), MISTRAL_TEXT[1]),
        rows={
            "images": Rows(
                MISTRAL_IMAGES.supervised,
                MISTRAL_IMAGES.media,
                2,
                MISTRAL4_SETTINGS + MISTRAL_IMAGES.users_too,  # the settings are part of the first user turn
                MISTRAL_IMAGES.inputs_too.replace("[/SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]" + MISTRAL4_SETTINGS),
            )
        },
        refused_template=("llama3_2_vision", "tokenizer_default"),
        example_template=None,
        batch=_images_of_two_sizes,
        predict=(("What is it?", "image"),),
        lora_trains=(".kv_a_proj_with_mqa.lora_", ".shared_experts.down_proj.lora_"),
        full_trains=(".mlp.experts.gate_up_proj",),
        steps=8,
        **MISTRAL_TRAINING,
    ),
    "qwen2_vl": Expect(
        processor="Qwen2VLProcessor",
        model="Qwen2VLForConditionalGeneration",
        hub_config={"model_type": "qwen2_vl"},
        prompt=CHATML_PROMPT,
        text_row=QWEN2_TEXT,
        rows={"images": QWEN2_IMAGES, "video": QWEN_VIDEO},
        refused_template=("llama3_2_vision", QWEN_TEMPLATES),
        example_template="qwen2_vl",
        batch=partial(_same_rows, last_as_parts=True),
        predict=(IMAGES_Q,),
        full_groups=frozenset({"vision", "projector", "language"}),
        video_run=True,
    ),
    "qwen2_5_vl": Expect(
        processor="Qwen2_5_VLProcessor",
        model="Qwen2_5_VLForConditionalGeneration",
        hub_config={"model_type": "qwen2_5_vl"},
        prompt=CHATML_PROMPT,
        text_row=QWEN2_TEXT,
        rows={"images": QWEN2_IMAGES, "video": QWEN_VIDEO},
        refused_template=("llama3_2_vision", QWEN_TEMPLATES),
        example_template="qwen2_vl",
        batch=_same_rows,
        predict=(IMAGES_Q,),
        # the vision tower stays frozen, the merger (projector) trains
        full_trains=(".visual.merger.", "language_model"),
        video_run=True,
    ),
    "qwen3_vl": Expect(
        processor="Qwen3VLProcessor",
        model="Qwen3VLForConditionalGeneration",
        hub_config={"model_type": "qwen3_vl"},
        prompt=CHATML_PROMPT,
        text_row=CHATML_TEXT,  # no default system prompt, unlike Qwen2-VL
        rows={
            # 90x70 -> 96x64 px -> 6x4 patches of 16 px -> 6 tokens after the 2x2 merge; 60x100 -> 64x96 -> 6
            "images": Rows(
                "red and blue<|im_end|>the red one<|im_end|>",
                {"<|vision_start|>": 2, "<|vision_end|>": 2, "<|image_pad|>": 12},
                2,
                CHATML_USERS,
                CHATML_INPUTS,
            ),
            # one timestamped vision block per temporal patch, 6 tokens each
            "video": Rows(
                "four colors<|im_end|>white<|im_end|>",
                {"<|vision_start|>": 2, "<|vision_end|>": 2, "<|video_pad|>": 12},
                1,
            ),
        },
        refused_template=("llama3_2_vision", "qwen3_vl, tokenizer_default"),
        example_template="qwen3_vl",
        batch=_same_rows,
        predict=(IMAGES_Q,),
        video_run=True,
    ),
    "qwen3_5": Expect(
        processor="Qwen3VLProcessor",
        model="Qwen3_5ForConditionalGeneration",
        hub_config={"model_type": "qwen3_5"},
        prompt=CHATML_PROMPT + QWEN3_5_THINK,
        text_row=QWEN3_5_TEXT,
        rows={"images": QWEN3_5_IMAGES, "video": QWEN3_5_VIDEO},
        refused_template=("llama3_2_vision", "qwen3_5, tokenizer_default"),
        example_template="qwen3_5",
        batch=_same_rows,
        predict=(IMAGES_Q,),
        lora_trains=(".linear_attn.in_proj_qkv.lora_", ".self_attn.q_proj.lora_", ".mlp.down_proj.lora_"),
        full_trains=(".visual.merger.", ".linear_attn."),
        full_freezes=(".visual.blocks.",),
        steps=8,
    ),
    "qwen3_5_moe": Expect(
        processor="Qwen3VLProcessor",
        model="Qwen3_5MoeForConditionalGeneration",
        hub_config={"model_type": "qwen3_5_moe"},
        prompt=CHATML_PROMPT + QWEN3_5_THINK,
        text_row=QWEN3_5_TEXT,
        rows={"images": QWEN3_5_IMAGES},
        refused_template=("llama3_2_vision", "qwen3_5, tokenizer_default"),
        example_template="qwen3_5",
        batch=_same_rows,
        predict=(IMAGES_Q,),
        # LoRA reaches the shared expert; the routed experts (3-D parameters) train in full fine-tuning
        lora_trains=(".mlp.shared_expert.up_proj.lora_", ".linear_attn.out_proj.lora_"),
        full_trains=(".mlp.experts.gate_up_proj", ".mlp.gate.weight"),
        steps=8,
    ),
    "internvl": Expect(
        processor="InternVLProcessor",
        model="InternVLForConditionalGeneration",
        hub_config={"model_type": "internvl"},
        prompt=CHATML_PROMPT,
        text_row=CHATML_TEXT,
        rows={
            # 90x70 -> 2x2 crops + thumbnail = 5 tiles x 4 tokens; 60x100 -> 1x2 crops + thumbnail = 3 tiles
            "images": Rows(
                "red and blue<|im_end|>the red one<|im_end|>",
                {"<img>": 2, "</img>": 2, "<IMG_CONTEXT>": 32},
                2,
                CHATML_USERS,
                "<|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\n\n\nWhat "
                "colors are these?<|im_end|>\n"
                "<|im_start|>assistant\nred and blue<|im_end|>\n<|im_start|>user\nWhich one is first?<|im_end|>\n"
                "<|im_start|>assistant\nthe red one<|im_end|>\n",
            ),
            # "FrameN: <img>...</img>" per frame, 4 tokens each
            "video": Rows("four colors<|im_end|>white<|im_end|>", {"<img>": 4, "</img>": 4, "<IMG_CONTEXT>": 16}, 1),
        },
        refused_template=("llama3_2_vision", "internvl, tokenizer_default"),
        example_template="internvl",
        batch=_same_rows,
        predict=(IMAGES_Q,),
        video_run=True,
    ),
    "lfm2_vl": Expect(
        processor="Lfm2VlProcessor",
        model="Lfm2VlForConditionalGeneration",
        hub_config={"model_type": "lfm2_vl"},
        prompt="<|startoftext|>" + CHATML_PROMPT,
        text_row=("<|startoftext|>" + CHATML_TEXT[0], CHATML_TEXT[1]),
        rows={
            # 300x200: 2x2 tiles + thumbnail; 60x50: one tile
            "images": Rows(
                "red and blue<|im_end|>the red one<|im_end|>",
                {
                    "<image>": 32,
                    "<|image_start|>": 2,
                    "<|image_end|>": 2,
                    "<|img_thumbnail|>": 1,
                    "<|img_row_1_col_1|>": 1,
                    "<|img_row_1_col_2|>": 1,
                    "<|img_row_2_col_1|>": 1,
                    "<|img_row_2_col_2|>": 1,
                },
                2,
                CHATML_USERS,
                "<|startoftext|>" + CHATML_INPUTS,
            ),
        },
        refused_template=("llama3_2_vision", "tokenizer_default"),
        example_template=None,
        batch=_tile_counts,
        predict=(IMAGES_Q,),
        image_sizes=((300, 200), (60, 50)),
        lora_trains=(".conv.in_proj.lora_",),  # the hybrid LM's conv blocks get LoRA too
        full_trains=(".multi_modal_projector.",),
        full_freezes=(".vision_tower.",),
    ),
    "gemma3n": Expect(
        processor="Gemma3nProcessor",
        model="Gemma3nForConditionalGeneration",
        hub_config={"model_type": "gemma3n"},
        prompt=GEMMA_PROMPT,
        text_row=GEMMA_TEXT,
        rows={
            "images": Rows(
                "red and blue<end_of_turn>the red one<end_of_turn>",
                {"<start_of_image>": 2, "<image_soft_token>": 8, "<end_of_image>": 2},
                2,
                GEMMA_USERS,
                GEMMA_INPUTS,
            ),
            "audio": Rows(  # a fixed 188 tokens per clip
                "the first<end_of_turn>two<end_of_turn>",
                {"<start_of_audio>": 2, "<audio_soft_token>": 2 * 188, "<end_of_audio>": 2},
                2,
                "Which tone is higher?<end_of_turn>the first<end_of_turn>How many clips?<end_of_turn>two<end_of_turn>",
                "<bos><start_of_turn>user\n\n\n\n\n\n\n\n\nWhich tone is higher?<end_of_turn>\n<start_of_turn>model\n"
                "the first<end_of_turn>\n<start_of_turn>user\nHow many clips?<end_of_turn>\n<start_of_turn>model\n"
                "two<end_of_turn>\n",
            ),
        },
        refused_template=("llama3_2_vision", "gemma3n, tokenizer_default"),
        example_template="gemma3n",
        batch=_image_audio_and_audio,
        predict=(("What is it?", "image"), ("What is it?", "audio")),
        steps=10,
        # both encoders frozen, the embedders (projectors) and the LM train
        full_trains=(".embed_audio.", "language_model"),
        full_freezes=(".vision_tower.", ".audio_tower."),
    ),
    "smolvlm2": Expect(
        processor="SmolVLMProcessor",
        model="SmolVLMForConditionalGeneration",
        hub_config={"model_type": "smolvlm"},
        # "Assistant:" is the generation prompt; the model writes " red and blue<end_of_utterance>"
        prompt="<|im_start|>System: Answer briefly.<end_of_utterance>\nUser: Hi<end_of_utterance>\nAssistant:",
        text_row=(
            "<|im_start|>User: Hi<end_of_utterance>\nAssistant: red<end_of_utterance>\n",
            " red<end_of_utterance>",
        ),
        rows={
            # each image is upscaled to 128 px and split into 2x2 tiles + a global tile
            "images": Rows(
                " red and blue<end_of_utterance> the red one<end_of_utterance>",
                {
                    "<fake_token_around_image>": 12,
                    "<image>": 40,
                    "<global-img>": 2,
                    "<row_1_col_1>": 2,
                    "<row_1_col_2>": 2,
                    "<row_2_col_1>": 2,
                    "<row_2_col_2>": 2,
                },
                2,
                "What colors are these?<end_of_utterance> red and blue<end_of_utterance>"
                "Which one is first?<end_of_utterance> the red one<end_of_utterance>",
                "<|im_start|>System: Answer briefly.<end_of_utterance>\nUser:\n\n\n\n\n\nWhat colors are these?"
                "<end_of_utterance>\nAssistant: red and blue<end_of_utterance>\nUser: Which one is first?"
                "<end_of_utterance>\nAssistant: the red one<end_of_utterance>\n",
            ),
            "video": Rows(  # 4 frames, each a global image
                " four colors<end_of_utterance> white<end_of_utterance>",
                {"<fake_token_around_image>": 8, "<image>": 16, "<global-img>": 4},
                1,
            ),
        },
        refused_template=("chatml", "tokenizer_default"),
        example_template=None,
        batch=_images_and_video,
        predict=(IMAGES_Q, ("Describe it.", "video")),
        image_sizes=((120, 100), (50, 40)),
        full_trains=(".connector.", ".text_model."),
        full_freezes=(".vision_model.",),
    ),
    "mllama": Expect(
        processor="MllamaProcessor",
        model="MllamaForConditionalGeneration",
        hub_config={"model_type": "mllama"},
        # the hub template's dated system turn: with a system message, or in a conversation without images
        prompt=(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
            "Today Date: 26 Jul 2024\n\nAnswer briefly.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
        ),
        text_row=(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
            "Today Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nred<|eot_id|>",
            "red<|eot_id|>",
        ),
        rows={
            # Mllama keeps one token per image (cross-attention)
            "images": Rows(
                "red and blue<|eot_id|>the red one<|eot_id|>",
                {"<|image|>": 2},
                2,
                # user texts (not their images or role headers) are supervised too
                "What colors are these?<|eot_id|>red and blue<|eot_id|>Which "
                "one is first?<|eot_id|>the red one<|eot_id|>",
                "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: "
                "December 2023\nToday Date: 26 Jul 2024\n\nAnswer briefly.<|eot_id|>"
                "<|start_header_id|>user<|end_header_id|>\n\nWhat colors are these?<|eot_id|>"
                "<|start_header_id|>assistant<|end_header_id|>\n\nred and blue<|eot_id|>"
                "<|start_header_id|>user<|end_header_id|>\n\nWhich one is first?<|eot_id|>"
                "<|start_header_id|>assistant<|end_header_id|>\n\nthe red one<|eot_id|>",
            ),
        },
        refused_template=("chatml", "llama3_2_vision, mllama, tokenizer_default"),
        example_template="llama3_2_vision",
        batch=_two_one_no_image,
        predict=(IMAGES_Q,),
    ),
    "llama4": Expect(
        processor="Llama4Processor",
        model="Llama4ForConditionalGeneration",
        hub_config={"model_type": "llama4"},
        prompt=(
            "<|begin_of_text|><|header_start|>system<|header_end|>\n\nAnswer briefly.<|eot|>"
            "<|header_start|>user<|header_end|>\n\nHi<|eot|><|header_start|>assistant<|header_end|>\n\n"
        ),
        text_row=(
            "<|begin_of_text|><|header_start|>user<|header_end|>\n\nHi<|eot|><|header_start|>assistant<|header_end|>\n\nred<|eot|>",
            "red<|eot|>",
        ),
        rows={
            # each image tiled 2x2 plus a global view, 4 patch tokens each
            "images": Rows(
                "red and blue<|eot|>the red one<|eot|>",
                {
                    "<|image_start|>": 2,
                    "<|image_end|>": 2,
                    "<|image|>": 2,
                    "<|patch|>": 40,
                    "<|tile_x_separator|>": 4,
                    "<|tile_y_separator|>": 4,
                },
                2,
                "What colors are these?<|eot|>red and blue<|eot|>Which one is first?<|eot|>the red one<|eot|>",
                "<|begin_of_text|><|header_start|>system<|header_end|>\n\nAnswer briefly.<|eot|>"
                "<|header_start|>user<|header_end|>\n\nWhat colors are these?<|eot|>"
                "<|header_start|>assistant<|header_end|>\n\nred and blue<|eot|><|header_start|>user<|header_end|>\n\n"
                "Which one is first?<|eot|><|header_start|>assistant<|header_end|>\n\nthe red one<|eot|>",
            ),
        },
        refused_template=("llama3_2_vision", "llama4, tokenizer_default"),
        example_template="llama4",
        batch=_two_one_no_image,
        predict=(IMAGES_Q,),
    ),
    "llava": Expect(
        processor="LlavaProcessor",
        model="LlavaForConditionalGeneration",
        hub_config={"model_type": "llava", "vision_config": {"model_type": "clip_vision_model"}},
        # The template writes no BOS; the row gets one "<s>" and then the text as a sequence start, as
        # llava-hf's tokenizer encodes a prompt: "▁USER" / "▁Answer", decoded "<s> USER" / "<s> Answer".
        prompt="<s> Answer briefly. USER: Hi ASSISTANT:",
        text_row=("<s> USER: Hi ASSISTANT: red</s>", "red</s>"),
        rows={
            # LLaVA's pieces carry their leading space ("▁the"); the Llama decoder drops it only at the
            # very start of a decoded text. Its user turns end without an end-of-turn token; a space
            # follows an answer's "</s>" (llava-hf's layout).
            "images": Rows(
                "red and blue</s> the red one</s>",
                {"<image>": 8},
                2,
                "What colors are these? red and blue</s>Which one is first? the red one</s>",
                "<s> Answer briefly. USER: \n\nWhat colors are these? ASSISTANT: red and blue</s>"
                " USER: Which one is first? ASSISTANT: the red one</s>",
            ),
        },
        refused_template=("llama3_2_vision", "llava, llava_1_5, vicuna_v1, tokenizer_default"),
        example_template="llava",
        batch=_two_one_no_image,
        predict=(IMAGES_Q,),
    ),
    "gemma3": Expect(
        processor="Gemma3Processor",
        model="Gemma3ForConditionalGeneration",
        hub_config={"model_type": "gemma3"},
        prompt=GEMMA_PROMPT,
        text_row=GEMMA_TEXT,
        rows={
            "images": Rows(
                "red and blue<end_of_turn>the red one<end_of_turn>",
                {"<start_of_image>": 2, "<end_of_image>": 2, "<image_soft_token>": 8},
                2,
                GEMMA_USERS,
                GEMMA_INPUTS,
            ),
        },
        refused_template=("llama3_2_vision", "gemma3, gemma, tokenizer_default"),
        example_template="gemma3",
        batch=_two_one_no_image,
        predict=(IMAGES_Q,),
    ),
    "gemma4": Expect(
        processor="Gemma4Processor",
        model="Gemma4ForConditionalGeneration",
        hub_config={"model_type": "gemma4"},
        prompt=GEMMA4_PROMPT,
        text_row=("<bos><|turn>user\nHi<turn|>\n<|turn>model\nred<turn|>\n", "red<turn|>"),
        rows=gemma4_rows(),
        refused_template=("gemma3", "gemma4, tokenizer_default"),
        example_template="gemma4",
        batch=_image_audio_and_audio,
        predict=(("What is it?", "image"), ("What is it?", "audio")),
        steps=8,
        # both towers frozen, their embedders (projectors) and the LM train
        full_trains=(".embed_vision.", ".embed_audio.", "language_model"),
        full_freezes=(".vision_tower.", ".audio_tower."),
        video_run=True,
    ),
    "gemma4_unified": Expect(
        processor="Gemma4UnifiedProcessor",
        model="Gemma4UnifiedForConditionalGeneration",
        hub_config={"model_type": "gemma4_unified"},
        prompt=GEMMA4_PROMPT + GEMMA4_THOUGHT,
        text_row=(f"<bos><|turn>user\nHi<turn|>\n<|turn>model\n{GEMMA4_THOUGHT}red<turn|>\n", "red<turn|>"),
        rows=gemma4_rows(GEMMA4_THOUGHT),
        refused_template=("gemma4", "gemma4_unified, tokenizer_default"),
        example_template="gemma4_unified",
        batch=_image_audio_and_audio,
        predict=(("What is it?", "image"), ("What is it?", "audio")),
        steps=8,
        # the patch embedder (the "tower") stays frozen; the final projections and the LM train
        full_trains=(".embed_vision.multimodal_embedder.", ".embed_audio.", "language_model"),
        full_freezes=(".embed_vision.patch_", ".embed_vision.pos_"),
    ),
    "pixtral": Expect(
        processor="PixtralProcessor",
        model="LlavaForConditionalGeneration",
        hub_config={"model_type": "llava", "vision_config": {"model_type": "pixtral"}},
        prompt="<s>[INST]Answer briefly.\n\nHi[/INST]",
        text_row=MISTRAL_TEXT,
        rows={
            # one [IMG] per 16 px patch, an [IMG_BREAK] per row of patches
            "images": Rows(
                "red and blue</s>the red one</s>",
                {"[IMG]": 28, "[IMG_BREAK]": 6, "[IMG_END]": 2},
                2,
                "What colors are these?[/INST]red and blue</s>Which one is first?[/INST]the red one</s>",
                # the system text opens the last user turn (mistral-common's v3 rule)
                "<s>[INST]What colors are these?[/INST]red and blue</s>"
                "[INST]Answer briefly.\n\nWhich one is first?[/INST]the red one</s>",
            ),
        },
        refused_template=("llama3_2_vision", "pixtral, mistral_v3, tokenizer_default"),
        example_template="pixtral",
        batch=_images_of_two_sizes,
        predict=(("What is it?", "image"),),
        **MISTRAL_TRAINING,
    ),
    "mistral_small_3_1": Expect(
        processor="PixtralProcessor",
        model="Mistral3ForConditionalGeneration",
        hub_config=MISTRAL3_HUB,
        tekken=True,
        prompt=MISTRAL_PROMPT,
        text_row=MISTRAL_TEXT,
        rows={"images": MISTRAL_IMAGES},
        refused_template=("llama3_2_vision", "tokenizer_default"),
        example_template=None,
        batch=_images_of_two_sizes,
        predict=(("What is it?", "image"),),
        **MISTRAL_TRAINING,
    ),
    "magistral": Expect(
        processor="PixtralProcessor",
        model="Mistral3ForConditionalGeneration",
        # a Magistral checkpoint's config is a Mistral-Small-3.1 one; only the tiny one says magistral
        hub_config=MISTRAL3_HUB,
        hub_family="mistral_small_3_1",
        tekken=True,
        prompt=MISTRAL_PROMPT,
        text_row=MISTRAL_TEXT,
        rows={"images": MISTRAL_IMAGES},
        refused_template=("llama3_2_vision", "tokenizer_default"),
        example_template=None,
        batch=_images_of_two_sizes,
        predict=(("What is it?", "image"),),
        **MISTRAL_TRAINING,
    ),
    "voxtral": Expect(
        processor="VoxtralProcessor",
        model="VoxtralForConditionalGeneration",
        hub_config={"model_type": "voxtral"},
        tekken=True,
        prompt=MISTRAL_PROMPT,
        text_row=MISTRAL_TEXT,
        rows={
            # each clip is padded to 30 s: 375 tokens at 12.5 per second
            "audio": Rows(
                "the first</s>two</s>",
                {"[AUDIO]": 2 * 375, "[BEGIN_AUDIO]": 2},
                2,
                "[INST]Which tone is higher?[/INST]the first</s>[INST]How many clips?[/INST]two</s>",
                "<s>[INST]Which tone is higher?[/INST]the first</s>[INST]How many clips?[/INST]two</s>",
            ),
        },
        refused_template=("llama3_2_vision", "tokenizer_default"),
        example_template=None,
        batch=_two_clips_and_one,
        predict=(("What is it?", "audio"),),
        steps=8,
        **MISTRAL_TRAINING,
    ),
}

IDS = sorted(FAMILIES)
ROWS = [(fid, kind) for fid in IDS for kind in FAMILIES[fid].rows]
ANSWERS = {"images": ["red and blue", "the red one"], "video": ["four colors", "white"], "audio": ["the first", "two"]}


def _conversation(kind: str, tmp_path: Path, sizes: Sizes, last_as_parts: bool = False) -> dict:
    """The shared conversation of ``kind``, its media written under ``tmp_path``."""
    if kind == "images":
        return two_image_conversation(*write_two_images(tmp_path, sizes), last_as_parts=last_as_parts)
    if kind == "video":
        return video_conversation(write_gif(tmp_path))
    return audio_conversation(*write_two_clips(tmp_path))


def test_the_table_has_every_family():
    assert set(FAMILIES) == set(all_families())


# -- the checkpoint --------------------------------------------------------------------------------


@pytest.mark.parametrize("family_id", IDS)
def test_tiny_checkpoint_loads_like_a_hub_one(tiny_ckpt, family_id):
    expect, fam, path = FAMILIES[family_id], get_family(family_id), tiny_ckpt(family_id)
    assert family_for_checkpoint(str(path)) is fam
    assert type(AutoProcessor.from_pretrained(path)).__name__ == expect.processor
    model = fam.model_class().from_pretrained(path)
    assert type(model).__name__ == expect.model
    groups: dict[str, list[str]] = {}
    for name, _ in model.named_parameters():
        groups.setdefault(fam.group_of(name), []).append(name)
    assert set(groups) == {"vision", "projector", "language"}
    assert all(n.startswith(fam.language_prefix + ".") or n.endswith("lm_head.weight") for n in groups["language"])
    # the default LoRA targets exist in the language model and nowhere else
    targets = [n for n, _ in model.named_modules() if re.search(fam.default_lora_targets(), n)]
    assert targets and all(fam.group_of(n + ".weight") == "language" for n in targets)
    # the real checkpoints of the mistral-common families ship tekken.json; so do the tiny ones
    assert (path / "tekken.json").is_file() == expect.tekken
    if expect.tekken:
        assert type(fam.load_processor(str(path)).tokenizer).__name__ == "MistralCommonBackend"


@pytest.mark.parametrize("family_id", IDS)
def test_hub_config_resolves_to_the_family(tmp_path, family_id):
    expect = FAMILIES[family_id]
    (tmp_path / "config.json").write_text(json.dumps(expect.hub_config))
    assert family_for_checkpoint(str(tmp_path)).id == (expect.hub_family or family_id)


@pytest.mark.parametrize("family_id", IDS)
def test_example_config_is_valid(family_id):
    """The packaged example: the family's hub checkpoint, LoRA r=16 alpha=32 in bf16, its chat template."""
    text = example_path(family_id).read_text()
    cfg = parse_config(yaml.safe_load(text))
    fam = get_family(family_id)
    assert cfg.base_model == fam.hub_example
    assert (cfg.adapter, cfg.lora_r, cfg.lora_alpha, cfg.bf16) == ("lora", 16, 32, True)
    assert cfg.chat_template == FAMILIES[family_id].example_template
    assert cfg.chat_template is None or cfg.chat_template in fam.template_names
    assert [d.type for d in cfg.datasets] == ["chat_template"] * len(cfg.datasets)
    assert f"mmtune tiny {family_id} " in text


# -- chat format and labels ------------------------------------------------------------------------


@pytest.mark.parametrize("family_id", IDS)
def test_prompt_follows_the_models_chat_format(tiny_ckpt, tmp_path, family_id):
    rp = row_processor(tiny_ckpt(family_id), tmp_path)
    conv = Conversation([Message("system", [TextPart("Answer briefly.")]), Message("user", [TextPart("Hi")])])
    ids = rp.transform.prompt(conv)["input_ids"][0].tolist()
    assert tokenizer(rp).decode(ids) == FAMILIES[family_id].prompt


@pytest.mark.parametrize("family_id", IDS)
def test_text_only_row(tiny_ckpt, tmp_path, family_id):
    rp = row_processor(tiny_ckpt(family_id), tmp_path)
    enc = encode_row(rp, {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "red"}]})
    assert (tokenizer(rp).decode(enc["input_ids"]), supervised_text(rp, enc)) == FAMILIES[family_id].text_row


@pytest.mark.parametrize(("family_id", "kind"), ROWS)
def test_labels_are_exactly_the_assistant_turns(tiny_ckpt, tmp_path, family_id, kind):
    expect, fam = FAMILIES[family_id].rows[kind], get_family(family_id)
    rp = row_processor(tiny_ckpt(family_id), tmp_path)
    enc = encode_row(rp, _conversation(kind, tmp_path, FAMILIES[family_id].image_sizes), str(tmp_path))
    tok = tokenizer(rp)
    assert supervised_text(rp, enc) == expect.supervised
    spans = [tok.decode(s, skip_special_tokens=False).strip() for s in label_spans(enc["labels"])]
    assert spans == [answer + fam.eot_token for answer in ANSWERS[kind]]
    counts = {t: enc["input_ids"].count(tok.convert_tokens_to_ids(t)) for t in fam.media_tokens}
    assert {t: n for t, n in counts.items() if n} == expect.media
    assert not media_ids(rp) & supervised_ids(enc)  # media tokens are never supervised
    assert tok.pad_token_id not in enc["input_ids"]
    assert enc["n_media"] == expect.n_media
    if kind == "images":  # a last answer given as text parts encodes the same
        parts = encode_row(rp, _conversation(kind, tmp_path, FAMILIES[family_id].image_sizes, True), str(tmp_path))
        assert (parts["input_ids"], parts["labels"]) == (enc["input_ids"], enc["labels"])


@pytest.mark.parametrize(("family_id", "kind"), [r for r in ROWS if FAMILIES[r[0]].rows[r[1]].users_too])
def test_trained_user_turns_supervise_their_text_only(tiny_ckpt, tmp_path, family_id, kind):
    rp = row_processor(tiny_ckpt(family_id), tmp_path, roles_to_train=["user", "assistant"])
    enc = encode_row(rp, _conversation(kind, tmp_path, FAMILIES[family_id].image_sizes), str(tmp_path))
    assert supervised_text(rp, enc) == FAMILIES[family_id].rows[kind].users_too
    assert not media_ids(rp) & supervised_ids(enc)


@pytest.mark.parametrize(("family_id", "kind"), [r for r in ROWS if FAMILIES[r[0]].rows[r[1]].inputs_too])
def test_train_on_inputs_keeps_media_masked(tiny_ckpt, tmp_path, family_id, kind):
    rp = row_processor(tiny_ckpt(family_id), tmp_path, train_on_inputs=True)
    enc = encode_row(rp, _conversation(kind, tmp_path, FAMILIES[family_id].image_sizes), str(tmp_path))
    assert supervised_text(rp, enc) == FAMILIES[family_id].rows[kind].inputs_too
    media = media_ids(rp)
    assert media & set(enc["input_ids"])
    assert all(lab == -100 for tid, lab in zip(enc["input_ids"], enc["labels"]) if tid in media)


@pytest.mark.parametrize("family_id", IDS)
def test_template_name_of_another_family_is_refused(tiny_ckpt, tmp_path, family_id):
    name, fits = FAMILIES[family_id].refused_template
    message = f"chat_template '{name}' does not fit model family '{family_id}'; names that fit: {fits}"
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        row_processor(tiny_ckpt(family_id), tmp_path, chat_template=name)


# -- training, reload, predict ---------------------------------------------------------------------


@pytest.mark.parametrize("adapter", ["lora", None])
@pytest.mark.parametrize("family_id", IDS)
def test_training_lowers_loss_reloads_and_predicts(tiny_ckpt, tmp_path, family_id, adapter):
    expect, fam = FAMILIES[family_id], get_family(family_id)
    torch.manual_seed(0)
    rows, media = expect.batch(tmp_path, expect.image_sizes)
    extra = {} if adapter or "vision" in expect.full_groups else {"freeze_vision_tower": True}
    result, pred = train_and_reload(
        tiny_ckpt(family_id), rows, tmp_path, adapter=adapter, max_steps=expect.steps, **extra
    )
    trainable = [n.removeprefix("base_model.model.") for n in trainable_names(result.model)]
    if adapter:
        assert (result.output_dir / "adapter_model.safetensors").exists()
        assert trainable and all("lora_" in n and n.startswith(fam.language_prefix + ".") for n in trainable)
        assert all(any(piece in n for n in trainable) for piece in expect.lora_trains)
    else:
        assert (result.output_dir / "model.safetensors").exists()
        assert {fam.group_of(n) for n in trainable} == expect.full_groups
        assert all(any(piece in n for n in trainable) for piece in expect.full_trains)
        assert not any(piece in n for n in trainable for piece in expect.full_freezes)
    for prompt, kind in expect.predict:
        assert_generates(pred, prompt, **{MEDIA_KWARG[kind]: [media[kind]]})


@pytest.mark.parametrize("family_id", [fid for fid in IDS if FAMILIES[fid].video_run])
def test_video_training_and_predict(tiny_ckpt, tmp_path, family_id):
    clip = write_gif(tmp_path)
    rows = [video_conversation(clip)] * 4
    _, pred = train_and_reload(tiny_ckpt(family_id), rows, tmp_path, max_steps=8)
    assert_generates(pred, "Describe the video.", videos=[str(tmp_path / clip)])
