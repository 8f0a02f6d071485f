"""What decides how a row becomes tokens (``PrepSettings``), resolved once from a config.

Kept apart from the heavy preprocessing modules: the run card and ``predict`` read these settings
back from an output folder without importing datasets or the worker pool.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mmtune.config import Config
from mmtune.data.media import MediaSettings
from mmtune.errors import ConfigError
from mmtune.models.families import family_for_checkpoint
from mmtune.models.families.base import Family


@dataclass(frozen=True)
class PrepSettings:
    """Everything that decides how a row becomes tokens; stored in the run card."""

    base_model: str
    family: str
    chat_template: str
    train_on_inputs: bool = False
    roles_to_train: tuple[str, ...] = ("assistant",)
    sequence_len: int = 2048
    truncation: str = "drop"
    media: MediaSettings = field(default_factory=MediaSettings)
    # Extra variables the chat template reads (e.g. Qwen's ``add_vision_id``); only those set.
    template_vars: dict = field(default_factory=dict)
    # What happens to a system message the family's chat format cannot take (transforms/system.py).
    system_message_policy: str = "fold"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["roles_to_train"] = list(self.roles_to_train)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PrepSettings:
        d = dict(d)
        m = dict(d.pop("media", {}))
        if m.get("image_size") is not None:
            m["image_size"] = tuple(m["image_size"])
        m["media_roots"] = tuple(m.get("media_roots", ()))
        d["roles_to_train"] = tuple(d.get("roles_to_train", ("assistant",)))
        return cls(media=MediaSettings(**m), **d)


def choose_template(family: type[Family], processor: Any, name: str | None, inline: str | None) -> str:
    """The Jinja template for this run: inline, a family name, or the checkpoint's own."""
    if inline:
        return inline
    own = getattr(processor, "chat_template", None) or getattr(
        getattr(processor, "tokenizer", None), "chat_template", None
    )
    if name in (None, "tokenizer_default"):
        if not own:
            if family.chat_template:
                return family.chat_template
            raise ConfigError(
                "the checkpoint has no chat template; set `chat_template` to one of: "
                + ", ".join(family.template_names)
            )
        return own
    if name in family.template_names:
        return family.chat_template or own
    fits = ", ".join([*family.template_names, "tokenizer_default"])
    raise ConfigError(f"chat_template {name!r} does not fit model family {family.id!r}; names that fit: {fits}")


def load_processor(cfg: Config, family: type[Family]) -> Any:
    """The family's processor, or the class ``processor_type`` names (Axolotl's key)."""
    if cfg.processor_type in (None, "AutoProcessor"):
        return family.load_processor(cfg.base_model)
    import transformers

    cls = getattr(transformers, cfg.processor_type, None)
    if cls is None or not hasattr(cls, "from_pretrained"):
        raise ConfigError(f"processor_type {cfg.processor_type!r} is not a transformers processor class")
    return cls.from_pretrained(cfg.base_model)


def settings_from_config(cfg: Config, processor: Any = None) -> tuple[PrepSettings, Any]:
    """Resolve the family and template for ``cfg`` and load its processor once."""
    family = family_for_checkpoint(cfg.base_model)
    if processor is None:
        processor = load_processor(cfg, family)
    template = choose_template(family, processor, cfg.chat_template, cfg.chat_template_jinja)
    template_vars = {"add_vision_id": True} if cfg.add_vision_id else {}
    # date_string has a default: passed to every template that declares it; refused below only when
    # changed from the default (a config written out in full, e.g. from a run card, still loads)
    default_date = type(cfg).model_fields["date_string"].default
    if "date_string" in family.template_options or cfg.date_string != default_date:
        template_vars["date_string"] = cfg.date_string
    unknown = set(template_vars) - family.template_options
    if unknown and not cfg.chat_template_jinja:
        raise ConfigError(
            f"{', '.join(sorted(unknown))}: the chat template of model family {family.id!r} has no such option"
        )
    settings = PrepSettings(
        base_model=cfg.base_model,
        family=family.id,
        chat_template=template,
        train_on_inputs=cfg.train_on_inputs,
        roles_to_train=tuple(cfg.roles_to_train),
        sequence_len=cfg.sequence_len,
        truncation=cfg.truncation,
        template_vars=template_vars,
        system_message_policy=cfg.system_message_policy,
        media=MediaSettings(
            image_size=cfg.image_wh,
            resample=cfg.image_resize_algorithm,
            # audio is resampled to what the processor's feature extractor expects
            sampling_rate=getattr(getattr(processor, "feature_extractor", None), "sampling_rate", None) or 16_000,
            video_fps=cfg.video_fps,
            video_max_frames=cfg.video_max_frames,
            pdf_max_pages=cfg.pdf_max_pages,
            pdf_dpi=cfg.pdf_dpi,
            max_image_pixels=cfg.max_image_pixels,
            video_max_pixels=cfg.video_max_pixels,
            audio_max_seconds=cfg.audio_max_seconds,
            url_timeout=cfg.url_timeout,
            url_retries=cfg.url_retries,
            url_deadline=cfg.url_deadline,
            url_max_mb=cfg.url_max_mb,
            media_roots=tuple(cfg.media_roots or ()),
            allow_private_urls=cfg.allow_private_urls,
        ),
    )
    return settings, processor
