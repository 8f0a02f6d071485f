"""Each provider's published dataset rules, written as data: one ``Rules`` table per provider.

The numbers come from the providers' public pages (docs/exports.md cites each page and the
date it was read). A limit a page does not state is ``None`` here, never a guess, and the check
that reads it then lets the row pass. ``checks.py`` turns a table into named checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MB = 1_000_000  # the pages say "MB"; mmtune reads it as 10^6 bytes, the stricter of the two readings

NOVA_RESERVED = ("User:", "Bot:", "Assistant:", "System:", "<image>", "<video>", "[EOS]")
OPENAI_IMAGES = ("image/png", "image/jpeg", "image/webp")


@dataclass(frozen=True)
class Rules:
    """What one provider accepts in one training example (and in a dataset as a whole)."""

    provider: str
    # MIME types accepted per kind of media; a kind absent here is not taken at all.
    formats: dict[str, tuple[str, ...]]
    # Largest file per kind, in bytes (None: the page states none).
    max_bytes: dict[str, int | None] = field(default_factory=dict)
    # Most items of a kind in one example (None: the page states none).
    max_per_example: dict[str, int | None] = field(default_factory=dict)
    # Roles a message may have after export (mmtune's names: system, user, assistant).
    roles: tuple[str, ...] = ("system", "user", "assistant")
    # Roles whose messages may hold media.
    media_roles: tuple[str, ...] = ("user",)
    # Words a user or system prompt may not contain.
    reserved_words: tuple[str, ...] = ()
    # The turns must start with user, end with assistant and alternate (system messages aside).
    strict_turns: bool = False
    # Only one system message, and only as the first message.
    system_first_only: bool = False
    # One kind of media in a whole dataset (Nova: text+image or text+video, never both).
    one_media_kind_per_dataset: bool = False
    # Image modes (Pillow's names) accepted; empty: any.
    image_modes: tuple[str, ...] = ()
    # How media travel: "inline" (data URIs only), "uri" (references under --media-uri-prefix
    # only), or "either" (data URIs, or URLs when a prefix is given).
    media_transport: str = "inline"
    # Assistant messages may carry ``weight`` 0/1 (OpenAI's chat format), keeping mmtune's train flag.
    message_weights: bool = False
    # mmtune's MIME name -> the provider's, where they spell one type differently.
    mime_aliases: dict[str, str] = field(default_factory=dict)
    # Media tokens where the provider documents how it counts them: images by the GPT-4o tile
    # rule ("gpt-4o") or a flat number each, audio by the second; ``token_rule`` says which.
    image_tokens: str | int | None = None
    audio_tokens_per_second: int | None = None
    token_rule: str | None = None
    # URI schemes a --media-uri-prefix may use.
    uri_schemes: tuple[str, ...] = ()
    # Pages read, with what each says (docs/exports.md prints them).
    sources: tuple[str, ...] = ()


OPENAI = Rules(
    provider="openai",
    image_tokens="gpt-4o",
    token_rule="GPT-4o images: 85 + 170 per 512 px tile after scaling into 2048x2048, shortest side 768",
    message_weights=True,
    formats={"image": OPENAI_IMAGES},
    max_bytes={"image": 10 * MB},
    max_per_example={"image": 10},
    image_modes=("RGB", "RGBA"),
    media_transport="either",
    uri_schemes=("https", "http"),
    sources=("https://developers.openai.com/api/docs/guides/vision-fine-tuning",),
)

AZURE = Rules(
    provider="azure",
    image_tokens="gpt-4o",
    token_rule="GPT-4o images: 85 + 170 per 512 px tile after scaling into 2048x2048, shortest side 768",
    message_weights=True,
    formats={"image": OPENAI_IMAGES},
    max_bytes={"image": 10 * MB},
    max_per_example={"image": 64},
    image_modes=("RGB", "RGBA"),
    media_transport="either",
    uri_schemes=("https", "http"),
    sources=("https://learn.microsoft.com/azure/foundry/openai/how-to/fine-tuning-vision",),
)

TOGETHER = Rules(
    provider="together",
    message_weights=True,
    formats={"image": OPENAI_IMAGES},
    max_bytes={"image": 10 * MB},
    max_per_example={"image": 10},
    media_transport="inline",
    sources=("https://docs.together.ai/docs/fine-tuning/vision",),
)

FIREWORKS = Rules(
    provider="fireworks",
    message_weights=True,
    formats={"image": ("image/png", "image/jpeg")},
    max_bytes={"image": None},
    max_per_example={"image": None},
    media_transport="inline",
    sources=("https://docs.fireworks.ai/fine-tuning/fine-tuning-vlm",),
)

GEMINI = Rules(
    provider="gemini",
    audio_tokens_per_second=32,
    token_rule="Gemini: 32 tokens per second of audio (images, video and PDFs not counted)",
    formats={
        "image": ("image/png", "image/jpeg", "image/webp"),
        "audio": (
            "audio/x-aac",
            "audio/aac",
            "audio/flac",
            "audio/mp3",
            "audio/m4a",
            "audio/mpeg",
            "audio/mpga",
            "audio/mp4",
            "audio/ogg",
            "audio/pcm",
            "audio/wav",
            "audio/webm",
        ),
        "video": (
            "video/mp4",
            "video/mpeg",
            "video/mpg",
            "video/mov",
            "video/avi",
            "video/x-flv",
            "video/webm",
            "video/wmv",
            "video/3gpp",
        ),
        "document": ("application/pdf",),
    },
    max_bytes={"image": 20 * MB, "audio": 100 * MB, "video": 100 * MB, "document": None},
    max_per_example={"image": 30, "audio": 1, "video": None, "document": None},
    system_first_only=True,
    media_transport="uri",
    mime_aliases={"video/quicktime": "video/mov", "video/x-msvideo": "video/avi"},
    uri_schemes=("gs",),
    sources=(
        "https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/tuning/supervised-tuning/prepare-data",
        "https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/tuning/image",
        "https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/tuning/audio",
        "https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/tuning/video",
        "https://docs.cloud.google.com/vertex-ai/generative-ai/docs/multimodal/audio-understanding",
        "https://googleapis.github.io/js-genai/release_docs/types/gaos_models_interactions_video-content.VideoContentMimeType.html",
    ),
)

NOVA = Rules(
    provider="nova",
    image_tokens=230,
    token_rule="Nova: a flat 230 tokens per image (videos not counted)",
    formats={
        "image": ("image/png", "image/jpeg", "image/gif", "image/webp"),
        "video": (
            "video/mp4",
            "video/quicktime",
            "video/x-matroska",
            "video/webm",
            "video/x-flv",
            "video/mpeg",
            "video/x-ms-wmv",
            "video/3gpp",
        ),
    },
    max_bytes={"image": None, "video": None},
    max_per_example={"image": None, "video": 1},
    roles=("system", "user", "assistant"),
    reserved_words=NOVA_RESERVED,
    strict_turns=True,
    system_first_only=True,
    one_media_kind_per_dataset=True,
    media_transport="uri",
    uri_schemes=("s3",),
    sources=(
        "https://docs.aws.amazon.com/nova/latest/userguide/fine-tune-prepare-data-understanding.html",
        "https://docs.aws.amazon.com/nova/latest/userguide/modalities-video.html",
        "https://docs.aws.amazon.com/bedrock/latest/userguide/nova-2-sft-data-prep.html",
    ),
)

RULES: dict[str, Rules] = {r.provider: r for r in (OPENAI, AZURE, TOGETHER, FIREWORKS, GEMINI, NOVA)}
