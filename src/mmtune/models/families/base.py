"""What the pipeline asks of a model family (DESIGN.md, principle 3).

A family module subclasses ``Family`` and sets class attributes; methods have defaults that fit
most transformers processors, and a family overrides only its quirks. The pipeline never
branches on a model name: it calls these hooks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import torch

from mmtune.conversation import Conversation
from mmtune.transforms.base import Transform, TransformSettings
from mmtune.transforms.chat_template import ChatTemplateTransform

# Keys whose per-row tensors carry a leading batch dimension of 1 (the collator pads every other
# dimension to the batch maximum and stacks them). Keys not listed are concatenated along dim 0
# (e.g. Qwen's flattened patches and grids, Gemma's [n_images, 3, H, W]).
SEQUENCE_KEYS = frozenset({"input_ids", "attention_mask", "labels", "token_type_ids", "mm_token_type_ids"})


def family_template(name: str) -> str:
    """A chat template shipped as a ``.jinja`` file beside the family modules.

    Templates are data, kept out of Python strings so they read (and diff) as Jinja. Jinja drops
    the file's final newline when it compiles a template, so dropping it here changes nothing.
    """
    return (Path(__file__).with_name(name)).read_text(encoding="utf-8").removesuffix("\n")


def video_metadata(clip: Any) -> dict:
    """A processor's ``video_metadata`` entry for a decoded ``VideoClip``.

    Processors that print timestamps or compute temporal positions (SmolVLM, Qwen2.5-VL,
    Qwen3-VL) otherwise assume bare frames were shot at 24 fps.
    """
    return {
        "fps": clip.fps,
        "frames_indices": list(clip.indices),
        "total_num_frames": clip.total_frames,
        "duration": clip.duration,
    }


def _indices(layers: list[int] | None) -> str:
    """A regex fragment for the layer numbers ``layers`` (any number when None)."""
    return r"\d+" if layers is None else "(" + "|".join(str(i) for i in layers) + ")"


def rope_index_positions(model: Any) -> Callable[[dict[str, torch.Tensor]], torch.Tensor]:
    """``Family.packed_positions`` for models with a Qwen-VL style ``get_rope_index(input_ids,
    mm_token_type_ids, image_grid_thw, video_grid_thw, ...)``: one row's (t, h, w) positions as the
    model computes them for the row alone (the rope index reads only the config, no weights). A
    text-only row gets what the model gives one: the same 1-D positions on every axis."""
    owner = next(m for m in model.modules() if hasattr(type(m), "get_rope_index"))
    media_keys = ("image_grid_thw", "video_grid_thw", "second_per_grid_ts")

    def positions(row: dict[str, torch.Tensor]) -> torch.Tensor:
        ids = row["input_ids"]
        media = {k: row[k] for k in media_keys if k in row}
        if "mm_token_type_ids" not in row or not media:
            return torch.arange(ids.shape[1]).expand(3, -1)
        return owner.get_rope_index(ids, row["mm_token_type_ids"], **media)[0][:, 0]

    return positions


class Family:
    """Defaults and hooks; subclasses describe one architecture family."""

    id: ClassVar[str]
    # config.json ``model_type`` values this family covers
    model_types: ClassVar[tuple[str, ...]]
    modalities: ClassVar[frozenset[str]] = frozenset({"image"})
    # Names accepted for the config's ``chat_template`` key; the first is this family's own.
    template_names: ClassVar[tuple[str, ...]] = ()
    # Other families' template names users set for this family (from other tools' docs), and why
    # they are refused: the message a user gets instead of a bare "does not fit".
    foreign_template_names: ClassVar[dict[str, str]] = {}
    # A Jinja template written for mmtune, used when ``chat_template`` names this family's template
    # and by the tiny checkpoint. ``None``: the checkpoint's template is the only one.
    chat_template: ClassVar[str | None] = None
    eot_token: ClassVar[str]
    # Options this family's chat template reads, beyond the messages (config keys of the same name).
    template_options: ClassVar[frozenset[str]] = frozenset()
    # Tokens that stand for media (placeholders and their begin/end markers): never supervised.
    media_tokens: ClassVar[tuple[str, ...]] = ()
    batched_keys: ClassVar[frozenset[str]] = SEQUENCE_KEYS
    # Processor outputs with one value per token (sequence on dim 1), besides the ids themselves.
    token_keys: ClassVar[frozenset[str]] = frozenset({"token_type_ids", "mm_token_type_ids"})
    # Regexes on parameter / module names for the module groups.
    vision_pattern: ClassVar[str] = r"^model\.(vision_tower|visual|vision_model)\."
    projector_pattern: ClassVar[str] = r"^model\.multi_modal_projector\."
    language_prefix: ClassVar[str] = "model.language_model"
    # Module names under ``<language_prefix>.layers.N.`` that LoRA wraps by default, and the
    # linear layers ``lora_target_linear`` reaches (regex fragments; families change only these).
    lora_modules: ClassVar[str] = r"(self_attn|mlp|cross_attn)\.(q|k|v|o|gate|up|down)_proj"
    linear_modules: ClassVar[str] = r".*_proj"
    auto_model_class: ClassVar[str] = "AutoModelForImageTextToText"
    hub_example: ClassVar[str] = ""
    # Keys a processor needs per modality when called: images=, videos=, audio=
    processor_media_kwargs: ClassVar[dict[str, str]] = {"image": "images", "video": "videos", "audio": "audio"}
    # What a training row without a system message means for inference on this family (e.g. the hub's
    # Jinja template adds a default system prompt that mmtune's encoding does not); warned once per run.
    missing_system_note: ClassVar[str] = ""
    # The hub's checkpoints encode chats with mistral-common (tekken.json) and so does mmtune: a config
    # asking for another encoding (``tokenizer_use_mistral_common: false``) would train a format the
    # model is never prompted with, and is refused.
    mistral_common: ClassVar[bool] = False
    # ``sample_packing``: whether several rows may share one sequence, each attending only to itself
    # (position ids restart per row, no attention mask). On only where tests/test_packing.py shows a
    # packed batch gives every row the loss and gradients it gets alone; otherwise the config is
    # refused with ``pack_refusal`` as the reason.
    can_pack: ClassVar[bool] = False
    pack_refusal: ClassVar[str] = "packed rows are not verified to train as if each were alone for this family"
    # The processor gives an image more placeholder tokens the more pixels it has (variable resolution,
    # or tiles chosen by size), so a row over ``sequence_len`` can fit by shrinking its images
    # (``media_fit: shrink``, preprocess/rows.py). False: an image costs the same tokens at any size.
    image_tokens_scale_with_size: ClassVar[bool] = False

    @classmethod
    def image_target_size(cls, processor: Any, size: tuple[int, int]) -> tuple[int, int] | None:
        """The (width, height) this family's processor resizes an image of ``size`` to, where the family
        can tell (None: it cannot, or it tiles). An image decoded larger is scaled to it before the
        processor call, so the preprocessing cache keeps the pixels the model sees, not the source's."""
        return None

    # -- loading ---------------------------------------------------------------------------------
    @classmethod
    def load_processor(cls, path: str, **kwargs: Any) -> Any:
        from transformers import AutoProcessor

        return AutoProcessor.from_pretrained(path, **kwargs)

    @classmethod
    def model_class(cls) -> Any:
        import transformers

        return getattr(transformers, cls.auto_model_class)

    @classmethod
    def load_model(cls, path: str, **kwargs: Any) -> Any:
        """The model of a checkpoint (``kwargs``: ``from_pretrained`` options such as dtype or
        quantization); a family overrides it when loading leaves something to repair."""
        return cls.model_class().from_pretrained(path, **kwargs)

    @classmethod
    def meta_model(cls, path: str, **kwargs: Any) -> Any:
        """The checkpoint's model built on the meta device from its config: module names and
        shapes without reading or allocating weights, so config mistakes (LoRA targets) are found
        in seconds, before preprocessing."""
        from transformers import AutoConfig

        with torch.device("meta"):
            return cls.model_class().from_config(AutoConfig.from_pretrained(path), **kwargs)

    # -- module groups ---------------------------------------------------------------------------
    @classmethod
    def group_of(cls, name: str) -> str:
        """Which group a parameter belongs to: 'vision', 'projector' or 'language'. A name inside a
        peft model (``base_model.model.`` first) belongs where the wrapped module's name does."""
        name = name.removeprefix("base_model.model.")
        if re.search(cls.vision_pattern, name):
            return "vision"
        if re.search(cls.projector_pattern, name):
            return "projector"
        return "language"

    @classmethod
    def default_lora_targets(cls, layers: list[int] | None = None) -> str:
        """A regex peft matches on full module names: the LM's attention and MLP projections (of the
        ``layers`` given: peft cannot restrict a regex to layers itself)."""
        return rf"^{re.escape(cls.language_prefix)}\.layers\.{_indices(layers)}\.{cls.lora_modules}$"

    @classmethod
    def lora_linear_targets(cls, layers: list[int] | None = None) -> str:
        """Every linear layer of the language model (``lora_target_linear: true``), of ``layers`` if given."""
        if layers is None:
            return rf"^{re.escape(cls.language_prefix)}\.layers\.{cls.linear_modules}$"
        return rf"^{re.escape(cls.language_prefix)}\.layers\.{_indices(layers)}\.{cls.linear_modules}$"

    # -- rendering & encoding (hooks the transforms call) -------------------------------------------------------------
    @classmethod
    def template_message(cls, role: str, parts: list[dict]) -> dict:
        """A canonical message as chat templates take it (typed content list)."""
        return {"role": role, "content": parts}

    @classmethod
    def conversation_vars(cls, conv: Conversation) -> dict:
        """Template variables decided by the whole conversation, passed when any prefix of it is
        rendered. A template that looks ahead (Llama 3.2 Vision's system turn depends on whether the
        conversation has an image anywhere) would render a prefix differently from the whole row;
        with the answer given here every prefix renders the same earlier text."""
        return {}

    @classmethod
    def system_message_refusal(cls, processor: Any, conv: Conversation) -> str | None:
        """Why this family's chat format cannot take ``conv``'s system message (None: it can). The
        config's ``system_message_policy`` then folds it into the first user message, drops it or
        refuses the row (``transforms/system.py``)."""
        return None

    @classmethod
    def processor_call_kwargs(cls, media: dict[str, list]) -> dict:
        """Keyword arguments carrying decoded media for one processor call."""
        kw = {}
        for modality, values in media.items():
            if values:
                kw[cls.processor_media_kwargs[modality]] = values
        return kw

    @classmethod
    def transform(cls, processor: Any, settings: TransformSettings) -> Transform:
        """The object that turns this family's conversations into tokens and labels, built once per
        process. The default renders ``settings.chat_template`` message by message; a family whose
        checkpoints encode chats without a Jinja template (mistral-common's tekken) overrides this."""
        return ChatTemplateTransform(cls, processor, settings)

    @classmethod
    def chunk_ids(cls, processor: Any, text: str, media: dict[str, list]) -> list[int]:
        """Token ids of one rendered chunk, media placeholders expanded as the processor does."""
        if not any(media.values()):
            return processor.tokenizer(text, add_special_tokens=False)["input_ids"]
        out = processor(text=[text], add_special_tokens=False, **cls.processor_call_kwargs(media))
        ids = out["input_ids"]
        return ids[0].tolist() if hasattr(ids, "tolist") else list(ids[0])

    @classmethod
    def encode_full(cls, processor: Any, text: str, media: dict[str, list]) -> dict[str, torch.Tensor]:
        """All model inputs for a rendered row (one processor call with all its media)."""
        out = processor(text=[text], add_special_tokens=False, return_tensors="pt", **cls.processor_call_kwargs(media))
        return {k: v for k, v in out.items() if isinstance(v, torch.Tensor)}

    @classmethod
    def packed_positions(cls, model: Any) -> Callable[[dict[str, torch.Tensor]], torch.Tensor] | None:
        """For a packing family whose rope has several axes: a function giving one row's positions
        ``[axes, L]`` from its inputs (``input_ids`` [1, L] and its media tensors), as the model would
        compute them for the row alone. None (the default): plain 1-D positions restarting per row."""
        return None

    @classmethod
    def prepare_inputs(cls, batch: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
        """Last-moment fixes before a forward pass: media features follow the model's dtype
        (processors return float32, and Llama 4's even returns bf16, whatever the model is)."""
        for k, v in batch.items():
            if k.startswith(("pixel_values", "input_features")) and v.is_floating_point() and v.dtype != dtype:
                batch[k] = v.to(dtype)
        return batch
