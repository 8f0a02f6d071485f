"""Every input format converts into the exact canonical Conversation (roles, part order, refs),
and malformed rows give a DataError that names the field and the reason."""

from __future__ import annotations

import base64
import logging

import datasets
import numpy as np
import pytest
from media_fixtures import make_png, solid

from mmtune.config import DatasetConfig
from mmtune.conversation import Conversation, MediaPart, MediaRef, Message, TextPart
from mmtune.data.formats import RowContext, detect_format, format_by_type
from mmtune.data.formats.prompt_completion import split_files
from mmtune.data.sources import load_rows
from mmtune.errors import ConfigError, DataError

BASE = "/data/media"
CTX = RowContext(BASE)
PNG_B64 = "iVBORw0KGgo="  # the payload is not decoded while converting
PNG_URI = f"data:image/png;base64,{PNG_B64}"


def convert(fmt: str, row: dict) -> Conversation:
    return format_by_type(fmt).convert(row, CTX)


def fails(fmt: str, row: dict) -> DataError:
    with pytest.raises(DataError) as e:
        convert(fmt, row)
    return e.value


def user(*parts) -> Message:
    return Message("user", [TextPart(p) if isinstance(p, str) else p for p in parts])


def assistant(text: str) -> Message:
    return Message("assistant", [TextPart(text)])


def img(path: str) -> MediaPart:
    return MediaPart("image", MediaRef(path=path, base_dir=BASE))


# -- messages (chat_template) -----------------------------------------------------------------


def test_messages_parts_of_every_source_kind():
    pil = solid()
    wave = np.zeros(800, dtype=np.float32)
    frames = [solid(), solid()]
    row = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "image", "path": "a.png"},
                    {"type": "image", "url": "https://example.com/b.jpg"},
                    {"type": "image", "base64": PNG_B64},
                    {"type": "image", "image": pil},
                    {"type": "text", "text": "Compare."},
                    {"type": "audio", "audio": wave, "sampling_rate": 8000},
                    {"type": "audio", "audio": {"array": wave, "sampling_rate": 16000}},
                    {"type": "video", "video": frames},
                    {"type": "document", "path": "doc.pdf"},
                ],
            },
            {"role": "assistant", "content": [{"type": "text", "text": "Done."}], "train": False},
        ]
    }
    conv = convert("chat_template", row)
    assert conv == Conversation(
        [
            Message("system", [TextPart("Be brief.")]),
            Message(
                "user",
                [
                    img("a.png"),
                    MediaPart("image", MediaRef(url="https://example.com/b.jpg")),
                    MediaPart("image", MediaRef(base64=PNG_B64)),
                    MediaPart("image", MediaRef(obj=pil)),
                    TextPart("Compare."),
                    MediaPart("audio", MediaRef(obj=wave, sampling_rate=8000)),
                    MediaPart("audio", MediaRef(obj=wave, sampling_rate=16000)),
                    MediaPart("video", MediaRef(obj=frames)),
                    MediaPart("document", MediaRef(path="doc.pdf", base_dir=BASE)),
                ],
            ),
            Message("assistant", [TextPart("Done.")], train=False),
        ]
    )


def test_messages_images_column_fills_bare_parts_in_order():
    row = {
        "messages": [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "and"}, {"type": "image"}]},
            {"role": "assistant", "content": "two"},
        ],
        "images": ["first.png", "second.png"],
    }
    assert convert("chat_template", row).messages[0] == user(img("first.png"), "and", img("second.png"))


def test_messages_images_without_placeholders_go_first_in_first_user_turn():
    row = {
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "What is it?"},
            {"role": "assistant", "content": "A cat."},
        ],
        "image": "cat.png",
    }
    conv = convert("chat_template", row)
    assert conv.messages[1] == user(img("cat.png"), "What is it?")


def test_messages_image_tags_in_text_llama_factory_style():
    row = {
        "messages": [{"role": "user", "content": "<image>Who is <image>?"}, {"role": "assistant", "content": "Bob"}],
        "images": ["a.png", "b.png"],
    }
    assert convert("chat_template", row).messages[0] == user(img("a.png"), "Who is ", img("b.png"), "?")


def test_messages_arrow_padded_parts_are_read_like_the_originals(tmp_path):
    # Parquet pads every part to the union of keys: {"type": "text", "text": "hi", "path": None, ...}
    rows = [
        {
            "messages": [
                {"role": "user", "content": [{"type": "image", "path": "a.png"}, {"type": "text", "text": "hi"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "yo"}]},
            ]
        }
    ]
    p = tmp_path / "rows.parquet"
    datasets.Dataset.from_list(rows).to_parquet(str(p))
    row = load_rows(DatasetConfig(path=str(p)))[0]
    assert row["messages"][0]["content"][1] == {"type": "text", "text": "hi", "path": None}
    assert convert("chat_template", row) == Conversation([user(img("a.png"), "hi"), assistant("yo")])


@pytest.mark.parametrize(
    "row, field, reason",
    [
        (
            {"messages": [{"role": "robot", "content": "x"}]},
            "messages[0].role",
            "unknown role 'robot' (known roles: assistant, developer, gpt, human, model, system, tool, user)",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "sticker"}]}]},
            "messages[0].content[0]",
            "unknown content part type 'sticker' (expected text, image, "
            "audio, video, document, image_url, input_audio or file)",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image", "path": "a.png", "url": "https://x/b.png"}]}]},
            "messages[0].content[0]",
            "image part has several sources (path, url); give one",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image"}]}]},
            "messages[0].content[0]",
            "1 image part(s) without data but the row has no 'images' column",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image"}]}], "images": ["a.png", "b.png"]},
            "images",
            "1 image part(s) without data but 2 item(s) in column 'images'",
        ),
        (
            {"messages": [{"role": "user", "content": 5}]},
            "messages[0].content",
            "content is a int, expected a string or a list of parts",
        ),
        ({"messages": []}, "messages", "'messages' is empty, expected a list of messages"),
        ({"prompt": "x"}, "messages", "the row has no 'messages' column"),
        (
            {"messages": [{"role": "user", "content": "x", "train": "yes"}]},
            "messages[0].train",
            "'train' is a str, expected true or false",
        ),
    ],
)
def test_messages_malformed_rows(row, field, reason):
    e = fails("chat_template", row)
    assert (e.field, e.reason) == (field, reason)


# -- OpenAI-style parts -----------------------------------------------------------------------


def test_openai_parts_modality_from_mime_type():
    wav_b64 = base64.b64encode(b"RIFF....WAVE").decode()
    row = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                    {"type": "image_url", "image_url": {"url": PNG_URI}},
                    {"type": "image_url", "image_url": {"url": "data:audio/mpeg;base64,SUQz"}},
                    {"type": "image_url", "image_url": {"url": "data:application/pdf;base64,JVBERi0="}},
                    {"type": "image_url", "image_url": {"url": "data:text/plain;base64,aGVsbG8="}},
                    {"type": "input_audio", "input_audio": {"data": wav_b64, "format": "wav"}},
                    {
                        "type": "file",
                        "file": {"filename": "r.pdf", "file_data": "data:application/pdf;base64,JVBERi0="},
                    },
                    {"type": "text", "text": "Describe all."},
                ],
            },
            {"role": "assistant", "content": "ok"},
        ]
    }
    assert convert("chat_template", row).messages[0].parts == [
        MediaPart("image", MediaRef(url="https://example.com/cat.png")),
        MediaPart("image", MediaRef(data_uri=PNG_URI, mime="image/png")),
        MediaPart("audio", MediaRef(data_uri="data:audio/mpeg;base64,SUQz", mime="audio/mpeg")),
        MediaPart("document", MediaRef(data_uri="data:application/pdf;base64,JVBERi0=", mime="application/pdf")),
        MediaPart("document", MediaRef(data_uri="data:text/plain;base64,aGVsbG8=", mime="text/plain")),
        MediaPart("audio", MediaRef(base64=wav_b64, mime="audio/wav")),
        MediaPart("document", MediaRef(data_uri="data:application/pdf;base64,JVBERi0=", mime="application/pdf")),
        TextPart("Describe all."),
    ]


@pytest.mark.parametrize(
    "part, reason",
    [
        (
            {"type": "image_url", "image_url": {"url": "data:application/zip;base64,UEs="}},
            "data URI has MIME type 'application/zip'; expected "
            "image/*, audio/*, video/*, application/pdf or text/plain",
        ),
        ({"type": "image_url", "image_url": {}}, "image_url part has no URL (expected {'image_url': {'url': ...}})"),
        (
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "aiff"}},
            "input_audio format 'aiff' is not one of mp3, mpeg, wav, flac, ogg",
        ),
        (
            {"type": "file", "file": {"file_id": "file-123"}},
            "file part refers to an uploaded 'file_id', which cannot be read offline; embed 'file_data'",
        ),
    ],
)
def test_openai_parts_malformed(part, reason):
    e = fails("chat_template", {"messages": [{"role": "user", "content": [part]}]})
    assert e.reason == reason
    assert e.field.startswith("messages[0].content[0]")


# -- TRL / llava-instruct-mix-vsft ------------------------------------------------------------


def test_trl_indexed_image_parts_point_into_images_column():
    a, b = solid(color=(255, 0, 0)), solid(color=(0, 0, 255))
    row = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"index": 1, "text": None, "type": "image"},
                    {"index": None, "text": "vs", "type": "text"},
                    {"index": 0, "text": None, "type": "image"},
                ],
            },
            {"role": "assistant", "content": [{"index": None, "text": "blue, red", "type": "text"}]},
        ],
        "images": [a, b],
    }
    conv = convert("chat_template", row)
    assert conv == Conversation(
        [user(MediaPart("image", MediaRef(obj=b)), "vs", MediaPart("image", MediaRef(obj=a))), assistant("blue, red")]
    )


def test_trl_rows_with_and_without_images_from_an_hf_image_feature(tmp_path):
    red = make_png(tmp_path / "red.png")
    features = datasets.Features(
        {
            "messages": [
                {
                    "role": datasets.Value("string"),
                    "content": [
                        {
                            "index": datasets.Value("int64"),
                            "text": datasets.Value("string"),
                            "type": datasets.Value("string"),
                        }
                    ],
                }
            ],
            "images": datasets.List(datasets.Image()),
        }
    )
    ds = datasets.Dataset.from_dict(
        {
            "messages": [
                [
                    {
                        "role": "user",
                        "content": [
                            {"index": 0, "text": None, "type": "image"},
                            {"index": None, "text": "color?", "type": "text"},
                        ],
                    },
                    {"role": "assistant", "content": [{"index": None, "text": "red", "type": "text"}]},
                ],
                [
                    {"role": "user", "content": [{"index": None, "text": "hi", "type": "text"}]},
                    {"role": "assistant", "content": [{"index": None, "text": "hello", "type": "text"}]},
                ],
            ],
            "images": [[str(red)], []],
        },
        features=features,
    )
    ds.save_to_disk(str(tmp_path / "saved"))
    rows = load_rows(DatasetConfig(path=str(tmp_path / "saved")))
    assert detect_format([rows[0], rows[1]], "saved").name == "chat_template"
    first = convert("chat_template", rows[0])
    assert first.messages[0].parts[0] == MediaPart("image", MediaRef(obj=red.read_bytes()))  # undecoded bytes
    assert convert("chat_template", rows[1]) == Conversation([user("hi"), assistant("hello")])


def test_trl_index_out_of_range():
    row = {"messages": [{"role": "user", "content": [{"type": "image", "index": 2}]}], "images": ["a.png"]}
    e = fails("chat_template", row)
    assert (e.field, e.reason) == (
        "messages[0].content[0]",
        "image part points at index 2 but column 'images' has 1 item(s)",
    )


# -- ShareGPT / LLaMA-Factory / LLaVA -----------------------------------------------------------


def test_sharegpt_placeholders_take_column_items_in_order():
    row = {
        "system": "You see well.",
        "conversations": [
            {"from": "human", "value": "<image>\nWhat is this?"},
            {"from": "gpt", "value": "A cat."},
            {"from": "human", "value": "And <image> here? <audio> and <video>"},
            {"from": "gpt", "value": "A dog."},
        ],
        "images": ["cat.png", "dog.png"],
        "videos": ["clip.mp4"],
        "audios": ["bark.wav"],
    }
    conv = convert("sharegpt", row)
    assert conv == Conversation(
        [
            Message("system", [TextPart("You see well.")]),
            user(img("cat.png"), "\nWhat is this?"),
            assistant("A cat."),
            user(
                "And ",
                img("dog.png"),
                " here? ",
                MediaPart("audio", MediaRef(path="bark.wav", base_dir=BASE)),
                " and ",
                MediaPart("video", MediaRef(path="clip.mp4", base_dir=BASE)),
            ),
            assistant("A dog."),
        ]
    )


def test_llava_single_image_column():
    row = {
        "id": "1",
        "image": "coco/1.jpg",
        "conversations": [{"from": "human", "value": "<image>\nDescribe."}, {"from": "gpt", "value": "A bus."}],
    }
    assert detect_format([row], "llava").name == "sharegpt"
    assert convert("sharegpt", row).messages[0] == user(img("coco/1.jpg"), "\nDescribe.")


def test_sharegpt_text_only_dataset_keeps_html_tags_as_text():
    row = {"conversations": [{"from": "human", "value": "What does <video> do?"}, {"from": "gpt", "value": "Embeds."}]}
    assert convert("sharegpt", row).messages[0] == user("What does <video> do?")


@pytest.mark.parametrize(
    "row, field, reason",
    [
        (
            {"conversations": [{"from": "human", "value": "<image><image>"}], "images": ["a.png"]},
            "images",
            "2 <image> placeholder(s) in the text but 1 item(s) in column 'images'",
        ),
        (
            {"conversations": [{"from": "human", "value": "<video>"}], "videos": []},
            "videos",
            "1 <video> placeholder(s) in the text but 0 item(s) in column 'videos'",
        ),
        (
            {"conversations": [{"from": "robot", "value": "hi"}]},
            "conversations[0].from",
            "unknown role 'robot' (known roles: assistant, function, function_call, gpt, human, model, observation, "
            "system, tool, user)",
        ),
        (
            {"conversations": [{"from": "human", "value": ["x"]}]},
            "conversations[0].value",
            "'value' is a list, expected a string",
        ),
    ],
)
def test_sharegpt_malformed_rows(row, field, reason):
    e = fails("sharegpt", row)
    assert (e.field, e.reason) == (field, reason)


# -- prompt / completion ----------------------------------------------------------------------


def test_prompt_completion_files_modality_from_extension_and_mime():
    uri = "data:audio/wav;base64,UklGRg=="
    row = {
        "system": "Be exact.",
        "prompt": "Summarize.",
        "completion": "Summary.",
        "files": f"scan.png, talk.mp3 ,https://example.com/v.mp4?x=1,{uri},report.pdf,notes.txt",
    }
    conv = convert("prompt_completion", row)
    assert conv == Conversation(
        [
            Message("system", [TextPart("Be exact.")]),
            user(
                img("scan.png"),
                MediaPart("audio", MediaRef(path="talk.mp3", base_dir=BASE)),
                MediaPart("video", MediaRef(url="https://example.com/v.mp4?x=1")),
                MediaPart("audio", MediaRef(data_uri=uri, mime="audio/wav")),
                MediaPart("document", MediaRef(path="report.pdf", base_dir=BASE)),
                MediaPart("document", MediaRef(path="notes.txt", base_dir=BASE)),
                "Summarize.",
            ),
            assistant("Summary."),
        ]
    )


def test_prompt_completion_without_files_and_empty_system():
    conv = convert("prompt_completion", {"prompt": "2+2?", "completion": "4", "files": None, "system": None})
    assert conv == Conversation([user("2+2?"), assistant("4")])


def test_prompt_completion_conversational_trl_rows():
    row = {
        "prompt": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Color?"}]}],
        "completion": [{"role": "assistant", "content": [{"type": "text", "text": "Red."}]}],
        "images": ["red.png"],
    }
    assert convert("prompt_completion", row) == Conversation([user(img("red.png"), "Color?"), assistant("Red.")])


def test_split_files_keeps_data_uris_whole():
    assert split_files(f"a.png,{PNG_URI}, b.wav,") == ["a.png", PNG_URI, "b.wav"]


@pytest.mark.parametrize(
    "row, field, reason",
    [
        (
            {"prompt": "x", "completion": "y", "files": "a.png,model.bin"},
            "files[1]",
            "cannot tell the kind of media of 'model.bin' from its extension (known: aac, avi, bmp, flac, gif, jpeg, "
            "jpg, m4a, m4v, md, mkv, mov, mp3, mp4, mpeg, mpg, oga, "
            "ogg, opus, pdf, png, tif, tiff, txt, wav, webm, webp)",
        ),
        ({"prompt": "x"}, "completion", "the row has no 'completion' column"),
        (
            {"prompt": "x", "completion": 3},
            "completion",
            "'completion' is a int, expected a string or a list of messages",
        ),
        (
            {"prompt": "x", "completion": "y", "files": "ftp://host/a.png"},
            "files[0]",
            "unsupported URL scheme 'ftp' in 'ftp://host/a.png' (use http(s), a data URI or a file name)",
        ),
    ],
)
def test_prompt_completion_malformed_rows(row, field, reason):
    e = fails("prompt_completion", row)
    assert (e.field, e.reason) == (field, reason)


# -- alpaca -----------------------------------------------------------------------------------


def test_alpaca_instruction_input_output_with_images_and_history():
    row = {
        "instruction": "Translate.",
        "input": "chat",
        "output": "cat",
        "system": "You translate French.",
        "history": [["Translate: chien", "dog"]],
        "images": ["pic.png"],
    }
    conv = convert("alpaca", row)
    assert conv == Conversation(
        [
            Message("system", [TextPart("You translate French.")]),
            user(img("pic.png"), "Translate: chien"),
            assistant("dog"),
            user("Translate.\nchat"),
            assistant("cat"),
        ]
    )


def test_alpaca_image_tag_and_missing_output():
    row = {"instruction": "<image>Name it.", "input": "", "output": "A cup.", "images": ["cup.png"]}
    assert convert("alpaca", row).messages == [user(img("cup.png"), "Name it."), assistant("A cup.")]
    e = fails("alpaca", {"instruction": "x", "output": None})
    assert (e.field, e.reason) == ("output", "the row has no 'output'")


# -- detection --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "row, name",
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "chat_template"),
        ({"conversations": [{"from": "human", "value": "x"}]}, "sharegpt"),
        ({"conversations": [{"role": "user", "content": "x"}]}, "sharegpt"),
        ({"prompt": "x", "completion": "y", "files": "a.png"}, "prompt_completion"),
        ({"instruction": "x", "input": "", "output": "y"}, "alpaca"),
    ],
)
def test_detect_format(row, name):
    assert detect_format([row, row], "d").name == name


def test_detect_logs_the_choice_when_two_formats_fit(caplog):
    row = {"messages": [{"role": "user", "content": "x"}], "prompt": "p", "completion": "c"}
    with caplog.at_level(logging.INFO, logger="mmtune"):
        assert detect_format([row], "both.jsonl").name == "chat_template"
    assert "both.jsonl: rows fit formats ['chat_template', 'prompt_completion']; using 'chat_template'" in caplog.text


def test_detect_tolerates_a_malformed_row_among_the_first(caplog):
    good = {"conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": "y"}]}
    broken = {"conversations": "not a list"}
    with caplog.at_level(logging.INFO, logger="mmtune"):
        assert detect_format([good, broken, good], "d.json").name == "sharegpt"
    assert "d.json: only 2 of the first 3 rows look like 'sharegpt'" in caplog.text
    e = fails("sharegpt", broken)
    assert (e.field, e.reason) == ("conversations", "'conversations' is a str, expected a list of turns")


def test_detect_failure_and_unknown_type_are_config_errors():
    with pytest.raises(ConfigError, match=r"x.csv: cannot tell the data format from columns \(a, b\); set `type:`"):
        detect_format([{"a": 1, "b": 2}], "x.csv")
    with pytest.raises(ConfigError, match="unknown dataset type 'tsv'; known: "):
        format_by_type("tsv")
