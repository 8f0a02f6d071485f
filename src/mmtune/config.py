"""The YAML schema: every key is a field here, documented in place (DESIGN.md, principle 5).

Keys follow Axolotl's multimodal config so its users can bring their files. Keys of Axolotl's
schema that mmtune does not act on are listed in ``AXOLOTL_KEYS_WITHOUT_EFFECT``: they load with
a warning instead of failing, so a real Axolotl config is accepted as it is.
"""

from __future__ import annotations

import difflib
import logging
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from mmtune.axolotl_keys import ALWAYS_PREPROCESSES_KEYS, AXOLOTL_KEYS_WITHOUT_EFFECT
from mmtune.errors import ConfigError

log = logging.getLogger("mmtune")

__all__ = ["ALWAYS_PREPROCESSES_KEYS", "AXOLOTL_KEYS_WITHOUT_EFFECT", "Config", "DatasetConfig"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


class DatasetConfig(_Strict):
    """One entry of ``datasets:``."""

    path: str = Field(description="A file (.json/.jsonl/.csv/.xlsx/.parquet), a save_to_disk folder, or a hub name.")
    type: str | None = Field(None, description="Input format; detected from the rows when left out.")
    split: str = Field("train", description="A datasets split expression, slices allowed: 'train[:1%]'.")
    media_dir: str | None = Field(None, description="Folder or .zip where relative media names are looked up.")
    sheet: str | None = Field(None, description="Excel sheet name (default: the first sheet).")
    name: str | None = Field(None, description="Hub dataset configuration name.")
    data_files: str | list[str] | None = Field(None, description="Hub datasets: which data files to load.")
    field_messages: str | None = Field(None, description="Column holding the conversation, when not 'messages'.")
    # The path as the user wrote it, for messages and reports (``path`` is made absolute).
    _as_written: str | None = PrivateAttr(None)

    @property
    def label(self) -> str:
        return self._as_written or self.path

    @field_validator("path")
    @classmethod
    def _non_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v


class Config(_Strict):
    """A training run. Field names are Axolotl's where Axolotl has the concept."""

    # -- model -------------------------------------------------------------------------------
    base_model: str = Field(description="A hub id or a local checkpoint folder.")
    processor_type: str | None = Field(
        None, description="A transformers processor class name; empty or AutoProcessor: the family's default loading."
    )
    chat_template: str | None = Field(
        None,
        description="A template name of the model's family, 'tokenizer_default', or empty for the checkpoint's own.",
    )
    chat_template_jinja: str | None = Field(None, description="A Jinja chat template given inline.")
    date_string: str = Field(
        "26 Jul 2024",
        description="The 'Today Date: …' the Llama 3.2 Vision template writes in its system turn (the hub "
        "template's own fallback). A fixed date, never today's, so a row's training tokens do not change by day; "
        "set the date you will serve with. An error for families whose template prints no date.",
    )
    # -- data --------------------------------------------------------------------------------
    datasets: list[DatasetConfig] = Field(min_length=1, description="One or more datasets, concatenated.")
    val_set_size: float = Field(0.0, ge=0, description="Fraction (<1) or number of rows held out for evaluation.")
    dataset_prepared_path: str | None = Field(None, description="Where preprocessed datasets are cached.")
    dataset_processes: int | None = Field(None, ge=1, description="Worker processes for preprocessing.")
    on_bad_rows: Literal["error", "skip"] = Field("error", description="Stop on bad rows, or drop them and report.")
    sequence_len: int = Field(2048, gt=0, description="Longest row in tokens, media tokens included.")
    truncation: Literal["error", "drop"] = Field(
        "drop",
        description="A row longer than sequence_len: 'drop' it (reported with its reason; a multimodal row is "
        "never cut, which would split media tokens) or treat it as a bad row ('error').",
    )
    image_size: int | tuple[int, int] | None = Field(
        None, description="Resize every image to this (int: square; [w, h])."
    )
    image_resize_algorithm: Literal["bilinear", "bicubic", "lanczos"] = Field(
        "bilinear", description="Resampling filter for image_size."
    )
    video_fps: float = Field(2.0, gt=0, description="Video frames are sampled evenly at this many per second.")
    video_max_frames: int = Field(16, gt=0, description="At most this many frames per video (sampled evenly).")
    pdf_max_pages: int = Field(8, gt=0, description="PDF documents: only the first N pages become images.")
    max_image_pixels: int = Field(
        40_000_000,
        gt=0,
        description="An image with more pixels is decoded at a reduced scale where its format "
        "allows (JPEG), otherwise refused before decoding; bounds memory per image.",
    )
    video_max_pixels: int = Field(
        64_000_000,
        gt=0,
        description="Total pixels of a video's sampled frames: larger frames are scaled down "
        "as they are decoded so that the frames together stay under this.",
    )
    audio_max_seconds: float = Field(
        1800.0,
        gt=0,
        description="Longer audio is refused from its header, before it is decoded.",
    )
    url_timeout: float = Field(30.0, gt=0, description="Media URLs: seconds each attempt may wait for data.")
    url_retries: int = Field(3, ge=0, description="Media URLs: retries after a 5xx, a timeout or a lost connection.")
    url_deadline: float = Field(
        120.0,
        gt=0,
        description="Media URLs: seconds one file may take in all (a trickling server is cut off).",
    )
    url_max_mb: float = Field(20.0, gt=0, description="Media URLs: bodies larger than this many MB are refused.")
    media_roots: list[str] | None = Field(
        None,
        description="Folders that absolute media paths in rows must lie under (relative names always stay "
        "inside the dataset's folder or media_dir). Unset: any absolute path a row lists.",
    )
    allow_private_urls: bool = Field(
        False,
        description="Fetch media URLs whose host is on this machine or a private network (loopback, private, "
        "link-local addresses); refused by default, also on redirects.",
    )
    pdf_dpi: int = Field(72, gt=0, description="PDF documents: pages are rendered at this resolution (dots per inch).")
    train_on_inputs: bool = Field(False, description="Also train on system/user text (never on media or padding).")
    roles_to_train: list[Literal["system", "user", "assistant", "tool"]] = Field(
        default_factory=lambda: ["assistant"],
        description="Roles whose content (and end-of-turn) is trained on: system, user, assistant, tool.",
    )
    system_message_policy: Literal["fold", "drop", "error"] = Field(
        "fold",
        description="A system message the model's chat format cannot take in that conversation (the family "
        "says when: Voxtral's mistral-common v7 format refuses one beside audio): 'fold' puts its text at the "
        "start of the first user message's text, a blank line between; 'drop' removes it; 'error' makes the row "
        "a bad row naming the reason. fold/drop log one warning per run, and predict applies the same policy.",
    )
    sample_packing: bool = Field(
        False, description="Accepted; not supported for multimodal rows yet (a warning says so)."
    )
    # -- adapter -----------------------------------------------------------------------------
    adapter: Literal["lora", "qlora"] | None = Field(
        None, description="lora, qlora (4-bit base), or empty for full fine-tuning."
    )
    lora_r: int = Field(8, gt=0, description="LoRA rank.")
    lora_alpha: int = Field(16, gt=0, description="LoRA scaling numerator (scale = alpha / r).")
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the LoRA input.")
    lora_target_modules: list[str] | str | None = Field(
        None,
        description="Module names, or one regex on full module names. Default: the language model's attention and MLP.",
    )
    lora_target_linear: bool = Field(False, description="LoRA on every linear layer of the language model.")
    lora_modules_to_save: list[str] | None = Field(
        None, description="Modules trained fully and saved with the adapter."
    )
    peft_use_dora: bool = Field(False, description="DoRA (weight-decomposed LoRA).")
    peft_use_rslora: bool = Field(False, description="rsLoRA scaling (alpha / sqrt(r)).")
    load_in_8bit: bool = Field(False, description="Load the base model in 8 bits (bitsandbytes; CUDA only).")
    load_in_4bit: bool = Field(False, description="Load the base model in 4 bits, NF4 (bitsandbytes; CUDA only).")
    freeze_vision_tower: bool | None = Field(
        None, description="Full fine-tuning: freeze the vision/audio tower (default true)."
    )
    freeze_projector: bool | None = Field(None, description="Full fine-tuning: freeze the projector (default false).")
    freeze_language_model: bool | None = Field(
        None, description="Full fine-tuning: freeze the language model (default false)."
    )
    # -- training ----------------------------------------------------------------------------
    micro_batch_size: int = Field(1, gt=0, description="Rows per device per step.")
    gradient_accumulation_steps: int = Field(1, gt=0, description="Micro-batches per optimizer step.")
    num_epochs: float = Field(1.0, gt=0, description="Passes over the training rows (max_steps wins when set).")
    max_steps: int | None = Field(None, gt=0, description="Stop after this many optimizer steps.")
    learning_rate: float = Field(2e-4, gt=0, description="Peak learning rate.")
    lr_scheduler: Literal[
        "cosine", "linear", "constant", "constant_with_warmup", "cosine_with_restarts", "polynomial"
    ] = Field("cosine", description="Learning-rate schedule after warmup.")
    warmup_steps: int = Field(0, ge=0, description="Linear warmup steps.")
    warmup_ratio: float | None = Field(
        None, ge=0, lt=1, description="Warmup as a fraction of all steps (wins over warmup_steps)."
    )
    optimizer: str = Field("adamw_torch", description="A transformers optimizer name, e.g. adamw_torch.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, ge=0, description="Gradient clipping norm (0: off).")
    output_dir: str = Field("./outputs/run", description="Where weights/adapter, processor, run card and logs go.")
    seed: int = Field(42, description="Seed for initialisation, shuffling and the validation split.")
    gradient_checkpointing: bool = Field(False, description="Recompute activations in backward to save memory.")
    bf16: bool | Literal["auto"] = Field(False, description="Train in bfloat16 ('auto': when the GPU supports it).")
    add_vision_id: bool = Field(
        False,
        description="Write 'Picture N: ' / 'Video N: ' before each image / video, numbered through the "
        "conversation (the Qwen chat templates' option). An error for families whose template has no such option.",
    )
    fp16: bool | None = Field(
        None,
        description="Mixed precision in float16 on a CUDA GPU without bfloat16 (weights stay float32; autocast "
        "with loss scaling). Ignored, with a warning, on CPU.",
    )
    logging_steps: int = Field(10, gt=0, description="Log loss every this many steps (TensorBoard + console).")
    save_steps: int | None = Field(None, gt=0, description="Save a resumable checkpoint every this many steps.")
    eval_steps: int | None = Field(None, gt=0, description="Evaluate every this many steps (default: each epoch).")
    torch_threads: int | None = Field(
        None, ge=1, description="torch intra-op threads; small models on few cores run far faster with 1."
    )
    resume_from_checkpoint: str | bool | None = Field(
        None,
        description="Resume training: a checkpoint-N folder (relative paths from the config's folder), or true "
        "for the latest checkpoint-N in output_dir. `mmtune train CONFIG --resume [PATH|latest]` sets it too.",
    )
    overwrite_output_dir: bool = Field(
        False,
        description="Train into an output_dir that already holds a run (its checkpoint-N folders are removed "
        "first). Without it, such an output_dir is refused unless the run resumes.",
    )

    @field_validator("image_size", mode="before")
    @classmethod
    def _image_size(cls, v: Any) -> Any:
        if isinstance(v, list):
            if len(v) != 2 or not all(isinstance(x, int) and x > 0 for x in v):
                raise ValueError("must be an int or [width, height] of positive ints")
            return tuple(v)
        if isinstance(v, int) and v <= 0:
            raise ValueError("must be positive")
        return v

    @model_validator(mode="after")
    def _check(self) -> Config:
        if self.load_in_8bit and self.load_in_4bit:
            raise ValueError("load_in_8bit and load_in_4bit are exclusive")
        if self.adapter and any(
            v is not None for v in (self.freeze_vision_tower, self.freeze_projector, self.freeze_language_model)
        ):
            raise ValueError(
                "freeze_vision_tower / freeze_projector / freeze_language_model apply to full fine-tuning "
                "(adapter empty); with a LoRA adapter, list whole modules to train in lora_modules_to_save"
            )
        if self.adapter == "qlora" and not (self.load_in_4bit or self.load_in_8bit):
            self.load_in_4bit = True
        return self

    @property
    def image_wh(self) -> tuple[int, int] | None:
        if self.image_size is None:
            return None
        if isinstance(self.image_size, int):
            return (self.image_size, self.image_size)
        return tuple(self.image_size)


def _suggest(key: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(key, choices, n=1, cutoff=0.5)
    if not close:  # prefix / substring matches catch 'lora_targets' -> 'lora_target_modules'
        close = [c for c in choices if c.startswith(key) or key.rstrip("s") in c][:1]
    return f"; did you mean {close[0]!r}?" if close else ""


def _check_keys(raw: dict, model: type[BaseModel], where: str, ignore: frozenset[str]) -> dict:
    fields = list(model.model_fields)
    kept = {}
    for key, value in raw.items():
        if key in model.model_fields:
            kept[key] = value
        elif key in ALWAYS_PREPROCESSES_KEYS:
            log.info("config key %r has no effect: mmtune always preprocesses datasets", key)
        elif key in ignore:
            log.warning("config key %r is an Axolotl key mmtune does not act on yet; it has no effect", key)
        else:
            raise ConfigError(f"unknown key {where}{key!r}{_suggest(key, fields)}")
    return kept


def parse_config(raw: dict, base_dir: str | os.PathLike | None = None) -> Config:
    """Validate a config dict; relative paths are resolved against ``base_dir`` later."""
    if not isinstance(raw, dict):
        raise ConfigError("config must be a mapping of keys to values")
    raw = _check_keys(raw, Config, "", AXOLOTL_KEYS_WITHOUT_EFFECT)
    if isinstance(raw.get("datasets"), list):
        raw["datasets"] = [
            _check_keys(d, DatasetConfig, f"datasets[{i}].", frozenset()) if isinstance(d, dict) else d
            for i, d in enumerate(raw["datasets"])
        ]
    try:
        cfg = Config(**raw)
    except ValidationError as e:
        msgs = []
        for err in e.errors():
            loc = ".".join(str(x) for x in err["loc"]) or "config"
            msgs.append(f"{loc}: {err['msg']} (got {err.get('input')!r})" if "input" in err else f"{loc}: {err['msg']}")
        raise ConfigError("invalid config:\n  " + "\n  ".join(msgs)) from None
    if base_dir is not None:
        cfg = resolve_paths(cfg, Path(base_dir))
    return cfg


def resolve_paths(cfg: Config, base_dir: Path) -> Config:
    """Make dataset, media and output paths absolute relative to the config file's folder."""

    def fix(p: str | None) -> str | None:
        if p is None:
            return None
        q = Path(os.path.expanduser(p))
        if q.is_absolute():
            return str(q)
        cand = base_dir / q
        # hub ids (org/name) stay as they are when no such local path exists
        return str(cand) if cand.exists() or p.startswith(".") else p

    cfg = cfg.model_copy(deep=True)
    for d in cfg.datasets:
        d._as_written = d._as_written or d.path
        d.path = fix(d.path)
        d.media_dir = fix(d.media_dir)
    cfg.base_model = fix(cfg.base_model)
    out = Path(os.path.expanduser(cfg.output_dir))
    cfg.output_dir = str(out if out.is_absolute() else base_dir / out)
    if cfg.media_roots:
        cfg.media_roots = [
            str(Path(os.path.expanduser(r)) if os.path.isabs(os.path.expanduser(r)) else base_dir / r)
            for r in cfg.media_roots
        ]
    if isinstance(cfg.resume_from_checkpoint, str):
        r = Path(os.path.expanduser(cfg.resume_from_checkpoint))
        cfg.resume_from_checkpoint = str(r if r.is_absolute() else base_dir / r)
    if cfg.dataset_prepared_path:
        p = Path(cfg.dataset_prepared_path)
        cfg.dataset_prepared_path = str(p if p.is_absolute() else base_dir / p)
    return cfg


def load_config(path: str | os.PathLike) -> Config:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(path)!r} not found")
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    return parse_config(raw or {}, base_dir=p.resolve().parent)


def config_reference() -> str:
    """Markdown table of every config key (docs/config.md is this text; a test keeps them equal)."""

    def rows(model: type[BaseModel]) -> list[str]:
        out = []
        for name, f in model.model_fields.items():
            ann = getattr(f.annotation, "__name__", None) if isinstance(f.annotation, type) else None
            ann = ann or str(f.annotation).replace("typing.", "").replace("mmtune.config.", "").replace(
                "NoneType", "None"
            )
            ann = ann.replace("|", "or")
            default = "required" if f.is_required() else repr(f.get_default(call_default_factory=True))
            out.append(f"| `{name}` | {ann} | {default} | {f.description or ''} |")
        return out

    head = "| key | type | default | meaning |\n|---|---|---|---|"
    return "\n".join(
        [
            "# Config reference",
            "",
            "Generated from `mmtune.config.Config` (`python -c 'import "
            "mmtune.config as c; print(c.config_reference())'`).",
            "",
            "## Top level",
            "",
            head,
            *rows(Config),
            "",
            "## `datasets:` entries",
            "",
            head,
            *rows(DatasetConfig),
            "",
            "## Axolotl keys accepted without effect (a warning names them)",
            "",
            ", ".join(f"`{k}`" for k in sorted(AXOLOTL_KEYS_WITHOUT_EFFECT)),
            "",
        ]
    )
