"""The hosted shapes read as input formats: Gemini ``contents`` rows and Nova
``bedrock-conversation-2024`` rows are detected and convert to the exact canonical conversation,
and malformed rows name their field."""

from __future__ import annotations

import base64

import pytest
from media_fixtures import make_png

from mmtune.conversation import MediaPart, TextPart
from mmtune.data.formats import RowContext, detect_format, format_by_type
from mmtune.data.media import MediaSettings, read_source
from mmtune.errors import DataError

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 8

GEMINI_ROW = {
    "systemInstruction": {"role": "system", "parts": [{"text": "Be brief."}]},
    "contents": [
        {
            "role": "user",
            "parts": [
                {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}},
                {"text": "Color?"},
            ],
        },
        {"role": "model", "parts": [{"text": "Red."}]},
    ],
}
NOVA_ROW = {
    "schemaVersion": "bedrock-conversation-2024",
    "system": [{"text": "Be brief."}],
    "messages": [
        {
            "role": "user",
            "content": [
                {"text": "Color?"},
                {"image": {"format": "png", "source": {"bytes": base64.b64encode(PNG).decode()}}},
            ],
        },
        {"role": "assistant", "content": [{"text": "Red."}]},
    ],
}


def _shape(conv):
    return [
        (
            m.role,
            [
                p.text if isinstance(p, TextPart) else (p.type, read_source(p.ref, p.type, MediaSettings()).read())
                for p in m.parts
            ],
        )
        for m in conv.messages
    ]


def test_detection_picks_the_hosted_shapes():
    assert detect_format([GEMINI_ROW], "g").name == "gemini"
    assert detect_format([NOVA_ROW], "n").name == "nova"
    plain = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
            {"role": "assistant", "content": "Yo"},
        ]
    }
    assert detect_format([plain], "m").name == "chat_template"


@pytest.mark.parametrize("fmt,row", [("gemini", GEMINI_ROW), ("nova", NOVA_ROW)])
def test_rows_convert_to_the_same_conversation(fmt, row):
    conv = format_by_type(fmt).convert(row, RowContext("/nowhere"))
    want_user = [("image", PNG), "Color?"] if fmt == "gemini" else ["Color?", ("image", PNG)]
    assert _shape(conv) == [("system", ["Be brief."]), ("user", want_user), ("assistant", ["Red."])]


def test_cloud_uris_read_from_the_media_folder(tmp_path):
    make_png(tmp_path / "media" / "abc.png")
    row = {
        "contents": [
            {"role": "user", "parts": [{"fileData": {"mimeType": "image/png", "fileUri": "gs://b/x/media/abc.png"}}]}
        ]
    }
    part = format_by_type("gemini").convert(row, RowContext(str(tmp_path))).messages[0].parts[0]
    assert isinstance(part, MediaPart) and part.ref.path == "media/abc.png" and part.ref.base_dir == str(tmp_path)
    nova = {
        "messages": [
            {
                "role": "user",
                "content": [{"video": {"format": "mp4", "source": {"s3Location": {"uri": "s3://b/media/abc.png"}}}}],
            }
        ]
    }
    assert format_by_type("nova").convert(nova, RowContext(str(tmp_path))).messages[0].parts[0].ref.mime == "video/mp4"


@pytest.mark.parametrize(
    "fmt,row,field,reason",
    [
        (
            "gemini",
            {"contents": [{"role": "bot", "parts": []}]},
            "contents[0].role",
            "unknown role 'bot' (known roles: model, user)",
        ),
        (
            "gemini",
            {
                "contents": [
                    {
                        "role": "user",
                        "parts": [{"fileData": {"mimeType": "application/zip", "fileUri": "gs://b/x.zip"}}],
                    }
                ]
            },
            "contents[0].parts[0].fileData.mimeType",
            "mimeType 'application/zip' is not an image, audio, video or document type",
        ),
        (
            "gemini",
            {"contents": [{"role": "user", "parts": [{"blob": 1}]}]},
            "contents[0].parts[0]",
            "part has none of 'text', 'fileData' or 'inlineData' (keys: blob)",
        ),
        (
            "nova",
            {"messages": [{"role": "user", "content": [{"image": {"format": "bmp", "source": {"bytes": "AA=="}}}]}]},
            "messages[0].content[0].image.format",
            "image format 'bmp' is not one of Bedrock's image formats",
        ),
        (
            "nova",
            {"messages": [{"role": "system", "content": [{"text": "x"}]}]},
            "messages[0].role",
            "unknown role 'system' (known roles: assistant, user)",
        ),
        (
            "nova",
            {"messages": [{"role": "user", "content": [{"video": {"format": "mp4", "source": {}}}]}]},
            "messages[0].content[0].video.source",
            "video has no source.s3Location.uri or source.bytes",
        ),
    ],
)
def test_malformed_rows_name_their_field(fmt, row, field, reason):
    with pytest.raises(DataError) as e:
        format_by_type(fmt).convert(row, RowContext("/nowhere"))
    assert (e.value.field, e.value.reason) == (field, reason)
