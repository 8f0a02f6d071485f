"""What decides how a row becomes tokens (``PrepSettings``), resolved once from a config.

Kept apart from the heavy preprocessing modules: the run card and ``predict`` read these settings
back from an output folder without importing datasets or the worker pool.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from mmtune.config import Config
from mmtune.data.media import MediaSettings
from mmtune.errors import ConfigError
from mmtune.models.families import family_for_checkpoint
from mmtune.models.families.base import Family
from mmtune.transforms.labels import EndRules

if TYPE_CHECKING:  # data.intake imports datasets, which the run card and predict need not load
    from mmtune.data.intake import RowOptions


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
    # A row with media over sequence_len: shrink its media, drop it, or refuse it (preprocess/rows.py).
    media_fit: str = "shrink"
    min_image_pixels: int = 50_176
    min_video_frames: int = 4
    min_pdf_pages: int = 1
    # What the cache keeps of media: the decoded media ('decoded') or the processor's tensors (preprocess/codec.py).
    cache_media: str = "decoded"
    media: MediaSettings = field(default_factory=MediaSettings)
    # Extra variables the chat template reads (e.g. Qwen's ``add_vision_id``); only those set.
    template_vars: dict = field(default_factory=dict)
    # What happens to a system message the family's chat format cannot take (transforms/system.py).
    system_message_policy: str = "fold"
    # The system message of conversations without one (config default_system_message).
    default_system_message: str | None = None
    # Which end-of-turn tokens train (transforms.labels.EndRules); a dataset's own keys override them.
    train_on_eos: str = "turn"
    train_on_eot: str | None = None
    eot_tokens: tuple[str, ...] = ()
    # Tokenizer roles set from the config's special_tokens (e.g. {"pad_token": "<|endoftext|>"}).
    special_tokens: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["roles_to_train"] = list(self.roles_to_train)
        d["eot_tokens"] = list(self.eot_tokens)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PrepSettings:
        d = dict(d)
        m = dict(d.pop("media", {}))
        if m.get("image_size") is not None:
            m["image_size"] = tuple(m["image_size"])
        m["media_roots"] = tuple(m.get("media_roots", ()))
        d["roles_to_train"] = tuple(d.get("roles_to_train", ("assistant",)))
        d["eot_tokens"] = tuple(d.get("eot_tokens", ()))
        return cls(media=MediaSettings(**m), **d)

    def for_dataset(self, options: RowOptions) -> PrepSettings:
        """These settings with a dataset's own roles_to_train / train_on_eos / train_on_eot (Axolotl's
        per-dataset keys; an unset one keeps the top-level choice, train_on_eot that of train_on_eos)."""
        eos = options.train_on_eos or self.train_on_eos
        return replace(
            self,
            roles_to_train=self.roles_to_train if options.roles_to_train is None else options.roles_to_train,
            train_on_eos=eos,
            train_on_eot=options.train_on_eot or (self.train_on_eot if options.train_on_eos is None else None),
        )


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
    why = f": {family.foreign_template_names[name]}" if name in family.foreign_template_names else ""
    raise ConfigError(f"chat_template {name!r} does not fit model family {family.id!r}{why}; names that fit: {fits}")


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
    special = cfg.special_tokens.model_dump(exclude_none=True) if cfg.special_tokens else {}
    apply_special_tokens(processor, special)
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
    template_vars = with_template_kwargs(cfg, template, template_vars)
    settings = PrepSettings(
        base_model=cfg.base_model,
        family=family.id,
        chat_template=template,
        train_on_inputs=cfg.train_on_inputs,
        roles_to_train=tuple(cfg.roles_to_train),
        sequence_len=cfg.sequence_len,
        truncation=cfg.truncation,
        media_fit=cfg.media_fit,
        min_image_pixels=cfg.min_image_pixels,
        min_video_frames=cfg.min_video_frames,
        min_pdf_pages=cfg.min_pdf_pages,
        cache_media=cfg.cache_media,
        template_vars=template_vars,
        system_message_policy=cfg.system_message_policy,
        default_system_message=cfg.default_system_message,
        train_on_eos=cfg.train_on_eos,
        eot_tokens=tuple(cfg.eot_tokens or ()),
        special_tokens=special,
        # audio is resampled to what the processor's feature extractor expects
        media=MediaSettings.from_config(
            cfg, getattr(getattr(processor, "feature_extractor", None), "sampling_rate", None) or 16_000
        ),
    )
    # What every row would hit (eot_tokens that are no single token, train_on_eos / train_on_eot that
    # disagree on one token, template variables a tokenizer takes none of) is said now, not per row.
    family.transform(processor, settings)
    from mmtune.data.intake import RowOptions

    for d in cfg.datasets:
        if d.train_on_eos or d.train_on_eot:
            EndRules.of(settings.for_dataset(RowOptions.of(d)), family.eot_token)
    return settings, processor


def apply_special_tokens(processor: Any, tokens: dict[str, Any]) -> None:
    """The config's special_tokens on the processor's tokenizer (Axolotl's meaning: the tokenizer's
    pad / eos / bos / unk token). Only tokens the vocabulary already has: a new token would need a new
    embedding row, which mmtune does not add (the trained model would not match the checkpoint's
    shapes), so any other is refused with what the tokenizer has."""
    tok = getattr(processor, "tokenizer", processor)
    for role in ("bos_token", "eos_token", "pad_token", "unk_token"):
        value = tokens.get(role)
        if value is None:
            continue
        try:
            tid = tok.convert_tokens_to_ids(value)
        except Exception:  # mistral-common's tokenizer, say: its special tokens are fixed by its format
            raise ConfigError(f"special_tokens.{role}: this checkpoint's tokenizer keeps its own {role}") from None
        if tid is None or (tid == getattr(tok, "unk_token_id", None) and value != getattr(tok, "unk_token", None)):
            have = ", ".join(repr(t) for t in getattr(tok, "all_special_tokens", [])[:12])
            raise ConfigError(
                f"special_tokens.{role}: {value!r} is not a token of this tokenizer; mmtune adds no tokens (a new "
                f"one needs a new embedding the checkpoint does not have). Its special tokens: {have}"
            )
        try:
            setattr(tok, role, value)
            ok = getattr(tok, f"{role}_id") == tid
        except Exception:
            ok = False
        if not ok:
            raise ConfigError(f"special_tokens.{role}: this checkpoint's tokenizer keeps its own {role}")
    added = set(getattr(tok, "all_special_tokens", [])) | set(getattr(tok, "get_added_vocab", dict)())
    extra = [t for t in tokens.get("additional_special_tokens") or [] if t not in added]
    if extra:
        raise ConfigError(
            f"special_tokens.additional_special_tokens: {', '.join(map(repr, extra))} not a special token of this "
            "tokenizer; mmtune adds no tokens and does not change how text is split into tokens"
        )


# Names apply_chat_template sets itself, or that mean something else to it: never template variables.
_CALL_NAMES = frozenset(
    "messages conversation tools documents add_generation_prompt continue_final_message chat_template tokenize "
    "padding truncation max_length return_tensors return_dict return_assistant_tokens_mask tokenizer_kwargs "
    "bos_token eos_token pad_token unk_token".split()
)


def template_reads(template: str) -> set[str] | None:
    """The variables a Jinja chat template reads (None: it cannot be parsed here)."""
    try:
        from jinja2 import meta
        from transformers.utils.chat_template_utils import _compile_jinja_template

        env = _compile_jinja_template(template).environment  # transformers' own environment and extensions
        return set(meta.find_undeclared_variables(env.parse(template)))
    except Exception:
        return None


def with_template_kwargs(cfg: Config, template: str, template_vars: dict) -> dict:
    """``template_vars`` plus the config's chat_template_kwargs (Axolotl's extra template variables).
    A name the template does not read would silently change nothing, so it is refused; a dedicated key
    set to another value (add_vision_id, date_string) is a contradiction."""
    kwargs = dict(cfg.chat_template_kwargs or {})
    if not kwargs:
        return template_vars
    reserved = sorted(set(kwargs) & _CALL_NAMES)
    if reserved:
        raise ConfigError(f"chat_template_kwargs: {', '.join(reserved)} is set by mmtune, not by the config")
    reads = template_reads(template)
    unread = sorted(k for k in kwargs if reads is not None and k not in reads)
    if unread:
        options = ", ".join(sorted((reads or set()) - _CALL_NAMES - {"raise_exception", "strftime_now"})) or "none"
        raise ConfigError(
            f"chat_template_kwargs: the chat template does not read {', '.join(unread)} (the variables it "
            f"reads besides the messages: {options})"
        )
    for k, v in kwargs.items():
        if k in template_vars and k in cfg.model_fields_set and template_vars[k] != v:
            raise ConfigError(f"chat_template_kwargs.{k} is {v!r} but {k} is {template_vars[k]!r}; set one of them")
    return {**template_vars, **kwargs}
