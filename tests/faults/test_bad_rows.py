"""A table of bad rows across every input format and media kind, each with its exact reason.

Every case writes one dataset file (a good row, then the bad one) and all of them go through one
``mmtune validate`` run (``preprocess.validate.validate``: the same reading, format conversion, role
check, media decoding and tokenizing as preprocessing) against a tiny qwen2_vl checkpoint (processor
only; it takes images and video, so audio is refused by the family). Each case asserts the dataset,
the row, the field and the reason exactly: a reason is what a user reads to fix the row, so a
change of wording is a change of behaviour. Then one file mixing good and bad rows goes through
preprocessing, where kept + dropped must equal read.

Not here (owned by other suites while they change): audio duration caps, video pixel caps,
corrupt MP3 / header-only WAV, URL fetching, zip archives.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import openpyxl
import pyarrow.parquet as pq
import pytest
import yaml
from PIL import Image

from mmtune.config import load_config
from mmtune.preprocess.validate import validate

# -- media the rows refer to -----------------------------------------------------------------------


def _png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


PNG = _png_bytes()
PNG64 = base64.b64encode(PNG).decode()
TEXT64 = base64.b64encode(b"hello, not an image").decode()
LATIN64 = base64.b64encode("café".encode("latin-1")).decode()


def _write_media(root: Path) -> None:
    """``root/data`` holds the datasets and their media; ``root/secret.png`` lies outside it;
    ``root/roots`` is the only folder absolute paths may point into (``media_roots``)."""
    data = root / "data"
    for d in (data, root / "roots", root / "outside"):
        d.mkdir(parents=True, exist_ok=True)
    (data / "red.png").write_bytes(PNG)
    for p in (root / "secret.png", root / "outside" / "abs.png", root / "roots" / "ok.png"):
        p.write_bytes(PNG)
    frames = [Image.new("RGB", (24, 16), c) for c in ("red", "green", "blue")]
    frames[0].save(data / "clip.gif", save_all=True, append_images=frames[1:], duration=500, loop=0)
    Image.new("RGB", (40, 30), "white").save(data / "doc.pdf")
    (data / "notes.txt").write_text("Some notes.\n")
    (data / "latin1.txt").write_bytes("café au lait".encode("latin-1"))
    for name in ("empty.png", "empty.pdf", "empty.gif", "empty.jpg"):
        (data / name).write_bytes(b"")
    (data / "broken.png").write_bytes(b"this is not a png")
    (data / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    (data / "broken.pdf").write_bytes(b"this is not a pdf")
    (data / "broken.mp4").write_bytes(b"this is not a video")
    (data / "report.docx").write_bytes(b"PK\x03\x04 a word document")
    (data / "folder.png").mkdir()
    os.symlink(root / "secret.png", data / "link.png")


# -- rows ------------------------------------------------------------------------------------------


def U(text: str = "What is it?", *parts: dict) -> dict:
    """A user message; with media parts, content is a list of parts then the text."""
    if not parts:
        return {"role": "user", "content": text}
    return {"role": "user", "content": [*parts, {"type": "text", "text": text}]}


def A(text: Any = "A red square.") -> dict:
    return {"role": "assistant", "content": text}


def M(*messages: Any, **columns: Any) -> dict:
    """A chat_template row; with no messages, a user question and its answer."""
    return {"messages": list(messages) or [U(), A()], **columns}


def img(**source: Any) -> dict:
    return {"type": "image", **source}


def part(kind: str, **source: Any) -> dict:
    return {"type": kind, **source}


def S(*turns: tuple[str, Any], **columns: Any) -> dict:
    """A ShareGPT row from (from, value) pairs."""
    return {"conversations": [{"from": f, "value": v} for f, v in turns], **columns}


def image_url(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


GOOD: dict[str, Any] = {
    "chat_template": M(),
    "sharegpt": S(("human", "Hi"), ("gpt", "Hello.")),
    "alpaca": {"instruction": "Say hi.", "output": "Hi."},
    "prompt_completion": {"prompt": "Hi", "completion": "Hello."},
}
TABLE_GOOD = ["Hi", "Hello.", "red.png"]  # a CSV / XLSX row: prompt, completion, files
KNOWN_EXT = (
    "aac, avi, bmp, flac, gif, jpeg, jpg, m4a, m4v, md, mkv, mov, mp3, mp4, mpeg, mpg, oga, ogg, opus, pdf, "
    "png, tif, tiff, txt, wav, webm, webp"
)
ROLES = "assistant, developer, gpt, human, model, system, tool, user"
SHAREGPT_ROLES = "assistant, function, function_call, gpt, human, model, observation, system, tool, user"
NOT_AUDIO = "audio input is not supported by model family 'qwen2_vl' (it takes: image, video)"
PRIVATE = (
    "resolves to a non-public address ({ip}); set `allow_private_urls: true` to fetch from this machine or a "
    "private network"
)
PDFIUM = "(PdfiumError: Failed to load document (PDFium: Data format error).)"


@dataclass(frozen=True)
class Case:
    """One bad row: the file it is written to, the row, and what ``validate`` must say.

    ``bad`` is a row (a dict; a list of cells for CSV / XLSX), or ``bytes`` / ``str`` written as
    the file's last line (JSONL) or whole content (other files). The file holds a good row first,
    so the bad row is row 1, unless ``good`` is False. ``row`` None: the whole dataset is refused.
    ``<DATA>`` and ``<ROOT>`` in ``reason`` stand for the data folder and the temporary root.
    """

    id: str
    ext: str
    type: str | None
    bad: Any
    field: str
    reason: str
    row: int | None = 1
    good: bool = True
    header: tuple[str, ...] = ("prompt", "completion", "files")
    entry: dict[str, Any] = field(default_factory=dict)
    features: Any = None  # parquet: "images" for rows with an HF Image list column
    xfail: str | None = None  # a known wrong reason, left to the module that words it


def C(id: str, bad: Any, fld: str, reason: str, ext: str = "jsonl", type: str | None = "chat_template", **kw) -> Case:
    return Case(id, ext, type, bad, fld, reason, **kw)


def SG(id: str, bad: Any, fld: str, reason: str, ext: str = "jsonl", **kw) -> Case:
    return Case(id, ext, "sharegpt", bad, fld, reason, **kw)


def PC(id: str, cells: list[Any], fld: str, reason: str, ext: str = "csv", **kw) -> Case:
    return Case(id, ext, "prompt_completion", cells, fld, reason, **kw)


# One case per entry, a table: the formatter would spread each case over seven lines.
# fmt: off
CASES: list[Case] = [
    # -- chat_template (OpenAI-style messages), structure ------------------------------------------
    C("msg-no-messages", {"text": "hi"}, "messages", "the row has no 'messages' column"),
    C("msg-empty-list", {"messages": []}, "messages", "'messages' is empty, expected a list of messages"),
    C("msg-messages-str", {"messages": "hi"}, "messages", "'messages' is a str, expected a list of messages"),
    C("msg-message-str", M("hi", A()), "messages[0]", "message is a str, expected an object with 'role' and 'content'"),
    C("msg-unknown-role", M({"role": "robot", "content": "beep"}, A()), "messages[0].role",
      f"unknown role 'robot' (known roles: {ROLES})"),
    C("msg-no-role", M({"content": "hi"}, A()), "messages[0].role", f"unknown role None (known roles: {ROLES})"),
    C("msg-role-int", M({"role": 1, "content": "hi"}, A()), "messages[0].role",
      f"unknown role 1 (known roles: {ROLES})"),
    C("msg-content-int", M({"role": "user", "content": 5}, A()), "messages[0].content", "content is a int, expected "
      "a string or a list of parts"),
    C("msg-no-assistant", M(U()), "messages", "row has no assistant turn (nothing to train on)"),
    C("msg-ends-with-user", M(U(), A(), U("And now?")), "messages", "the last turn is 'user'; a training row must "
      "end with an assistant turn"),
    C("msg-empty-assistant", M(U(), A("")), "messages[1]", "assistant turn (message 1) is empty"),
    C("msg-blank-assistant", M(U(), A(" \n\t ")), "messages[1]", "assistant turn (message 1) is empty"),
    C("msg-null-assistant", M(U(), A(None)), "messages[1]", "assistant turn (message 1) is empty"),
    C("msg-empty-parts-assistant", M(U(), A([])), "messages[1]", "assistant turn (message 1) is empty"),
    C("msg-system-late", M(U(), A(), {"role": "system", "content": "Be brief."}, A()), "messages[2]",
      "a system message may only come first (found one at message 2)"),
    C("msg-two-systems", M({"role": "system", "content": "S."}, {"role": "system", "content": "T."}, U(), A()),
      "messages[1]", "a system message may only come first (found one at message 1)"),
    C("msg-messages-dict", {"messages": {"role": "user"}}, "messages", "'messages' is a dict, expected a list of "
      "messages"),
    C("msg-train-str", M(U(), {**A(), "train": "yes"}), "messages[1].train", "'train' is a str, expected true or "
      "false"),
    C("msg-weight-half", M(U(), {**A(), "weight": 0.5}), "messages[1].weight", "'weight' is 0.5, expected 0 or 1"),
    C("msg-weight-true", M(U(), {**A(), "weight": True}), "messages[1].weight", "'weight' is True, expected 0 or 1"),
    C("msg-part-null", M({"role": "user", "content": [None]}, A()), "messages[0].content[0]",
      "content part is null, expected an object with a 'type'"),
    C("msg-part-int", M({"role": "user", "content": [5]}, A()), "messages[0].content[0]", "content part is a int, "
      "expected an object with a 'type'"),
    C("msg-part-no-type", M({"role": "user", "content": [{"text": "hi"}]}, A()), "messages[0].content[0]",
      "content part has no 'type' (keys: text)"),
    C("msg-part-unknown-type", M({"role": "user", "content": [{"type": "picture", "path": "red.png"}]}, A()),
      "messages[0].content[0]", "unknown content part type 'picture' (expected text, image, audio, video, document, "
      "image_url, input_audio or file)"),
    C("msg-text-part-no-text", M({"role": "user", "content": [{"type": "text", "value": "hi"}]}, A()),
      "messages[0].content[0]", "text part has no 'text' string"),
    # -- chat_template, image parts ----------------------------------------------------------------
    C("img-two-sources", M(U("?", img(path="red.png", url="https://example.com/a.png")), A()), "messages[0].content[0]",
      "image part has several sources (path, url); give one"),
    C("img-path-int", M(U("?", img(path=3)), A()), "messages[0].content[0].path", "image part 'path' is a int, "
      "expected a string"),
    C("img-base64-list", M(U("?", img(base64=["abc"])), A()), "messages[0].content[0].base64",
      "image part 'base64' is a list, expected a string"),
    C("img-empty-path", M(U("?", img(path="  ")), A()), "messages[0].content[0].path", "empty media reference"),
    C("img-object-without-data", M(U("?", img(image={"size": 3})), A()), "messages[0].content[0].image",
      "media entry has none of 'bytes', 'array' or 'path' (keys: size)"),
    C("img-object-bytes-str", M(U("?", img(image={"bytes": "not bytes"})), A()), "image[0]", "image given as str, "
      "expected a PIL image, an array or bytes"),
    C("img-ragged-array", M(U("?", img(image=[[1, 2], [3]])), A()), "image[0]", "image given as list, expected a PIL "
      "image, an array or bytes"),
    C("img-url-empty", M(U("?", img(url="")), A()), "messages[0].content[0].url", "empty media reference"),
    C("img-missing-file", M(U("?", img(path="missing.png")), A()), "image[0]", "image 'missing.png' not found "
      "(looked in <DATA>)"),
    C("img-missing-in-folder", M(U("?", img(path="cats/missing.png")), A()), "image[0]", "image 'cats/missing.png' "
      "not found (looked in <DATA>)"),
    C("img-a-folder", M(U("?", img(path="folder.png")), A()), "image[0]", "image 'folder.png' not found (looked in "
      "<DATA>)"),
    C("img-zero-size", M(U("?", img(path="empty.png")), A()), "image[0]", "image 'empty.png' could not be decoded "
      "(UnidentifiedImageError: cannot identify image file '<DATA>/empty.png')"),
    C("img-corrupt-png", M(U("?", img(path="broken.png")), A()), "image[0]", "image 'broken.png' could not be "
      "decoded (UnidentifiedImageError: cannot identify image file '<DATA>/broken.png')"),
    C("img-truncated-jpeg", M(U("?", img(path="broken.jpg")), A()), "image[0]", "image 'broken.jpg' could not be "
      "decoded (OSError: Truncated File Read)"),
    C("img-is-a-pdf", M(U("?", img(path="doc.pdf")), A()), "image[0]", "image 'doc.pdf' could not be decoded "
      "(UnidentifiedImageError: cannot identify image file '<DATA>/doc.pdf')"),
    C("img-is-text", M(U("?", img(path="notes.txt")), A()), "image[0]", "image 'notes.txt' could not be decoded "
      "(UnidentifiedImageError: cannot identify image file '<DATA>/notes.txt')"),
    C("img-second-of-two-missing", M(U("?", img(path="red.png"), img(path="gone.png")), A()), "image[1]",
      "image 'gone.png' not found (looked in <DATA>)"),
    C("img-escapes-folder", M(U("?", img(path="../secret.png")), A()), "image[0]", "image '../secret.png' refused: a "
      "relative media name must stay inside <DATA>"),
    C("img-symlink-escapes", M(U("?", img(path="link.png")), A()), "image[0]", "image 'link.png' refused: a relative "
      "media name must stay inside <DATA>"),
    C("img-absolute-outside-roots", M(U("?", img(path="<ROOT>/outside/abs.png")), A()), "image[0]",
      "image '<ROOT>/outside/abs.png' refused: absolute media paths must lie under media_roots (<ROOT>/roots)"),
    C("img-bad-base64", M(U("?", img(base64="not base64!!")), A()), "image[0]", "image base64 data (12 chars) is not "
      "valid base64"),
    C("img-base64-not-image", M(U("?", img(base64=TEXT64)), A()), "image[0]", "image base64 data (28 chars) could not "
      "be decoded (UnidentifiedImageError: cannot identify image file)"),
    C("img-url-ftp", M(U("?", img(url="ftp://example.com/a.png")), A()), "messages[0].content[0].url",
      "unsupported URL scheme 'ftp' in 'ftp://example.com/a.png' (use http(s), a data URI or a file name)"),
    C("img-url-file-scheme", M(U("?", img(url="file:///etc/passwd")), A()), "messages[0].content[0].url",
      "unsupported URL scheme 'file' in 'file:///etc/passwd' (use http(s), a data URI or a file name)"),
    C("img-url-loopback", M(U("?", img(url="http://127.0.0.1/a.png")), A()), "image[0]", "URL 'http://127.0.0.1/a.png' "
      "refused: 127.0.0.1 " + PRIVATE.format(ip="127.0.0.1")),
    C("img-url-private", M(U("?", img(url="http://10.1.2.3/a.png")), A()), "image[0]", "URL 'http://10.1.2.3/a.png' "
      "refused: 10.1.2.3 " + PRIVATE.format(ip="10.1.2.3")),
    C("img-url-metadata", M(U("?", img(url="http://169.254.169.254/latest/meta-data")), A()), "image[0]",
      "URL 'http://169.254.169.254/latest/meta-data' refused: 169.254.169.254 " + PRIVATE.format(ip="169.254.169.254")),
    C("img-url-ipv6-loopback", M(U("?", img(url="http://[::1]:8080/a.png")), A()), "image[0]",
      "URL 'http://[::1]:8080/a.png' refused: ::1 " + PRIVATE.format(ip="::1")),
    C("img-data-uri-audio-mime", M(U("?", img(url=f"data:audio/wav;base64,{PNG64}")), A()), "image[0]",
      "image data URI (data:audio/wav;base64,iVBORw0K...) holds audio/wav data, which is not an image"),
    C("img-data-uri-bad-base64", M(U("?", img(url="data:image/png;base64,@@@@")), A()), "image[0]",
      "image data URI (data:image/png;base64,@@@@...) is not valid base64"),
    C("img-data-uri-no-mime", M(U("?", img(url=f"data:;base64,{PNG64}")), A()), "messages[0].content[0].url",
      "data URI has no MIME type, so its kind of media is unknown"),
    C("img-data-uri-text", M(U("?", img(url="data:text/plain,hello")), A()), "image[0]", "image data URI "
      "(data:text/plain,hello...) holds text/plain data, which is not an image"),
    C("img-data-uri-malformed", M(U("?", img(url="data:image/png")), A()), "messages[0].content[0].url",
      "malformed data URI (expected data:<mime>;base64,<data>): 'data:image/png'"),
    # -- chat_template, OpenAI parts ---------------------------------------------------------------
    C("oai-image-url-missing", M(U("?", {"type": "image_url"}), A()), "messages[0].content[0]",
      "image_url part has no URL (expected {'image_url': {'url': ...}})"),
    C("oai-image-url-zip-mime", M(U("?", image_url("data:application/zip;base64,UEsDBA==")), A()),
      "messages[0].content[0]", "data URI has MIME type 'application/zip'; expected image/*, audio/*, video/*, "
      "application/pdf or text/plain"),
    C("oai-image-url-bad-base64", M(U("?", image_url("data:image/jpeg;base64,%%%")), A()), "image[0]",
      "image data URI (data:image/jpeg;base64,%%%...) is not valid base64"),
    C("oai-image-url-not-image", M(U("?", image_url(f"data:image/png;base64,{TEXT64}")), A()), "image[0]",
      "image data URI (data:image/png;base64,aGVsbG8s...) could not be decoded (UnidentifiedImageError: cannot "
      "identify image file)"),
    C("oai-image-url-gopher", M(U("?", image_url("gopher://example.com/a.png")), A()), "messages[0].content[0]",
      "unsupported URL scheme 'gopher' in 'gopher://example.com/a.png' (use http(s), a data URI or a file name)"),
    C("oai-image-url-private", M(U("?", image_url("http://192.168.1.1/cam.jpg")), A()), "image[0]",
      "URL 'http://192.168.1.1/cam.jpg' refused: 192.168.1.1 " + PRIVATE.format(ip="192.168.1.1")),
    C("oai-image-url-broken-pdf", M(U("?", image_url("data:application/pdf;base64,bm90IGEgcGRm")), A()), "document[0]",
      "document data URI (data:application/pdf;base64,bm...) could not be opened as a PDF " + PDFIUM),
    C("oai-input-audio-no-data", M(U("?", {"type": "input_audio", "input_audio": {"format": "wav"}}), A()),
      "messages[0].content[0]", "input_audio part has no base64 'data' (expected {'input_audio': {'data': ..., "
      "'format': 'wav'}})"),
    C("oai-input-audio-format",
      M(U("?", {"type": "input_audio", "input_audio": {"data": "AA==", "format": "aiff"}}), A()),
      "messages[0].content[0].format", "input_audio format 'aiff' is not one of mp3, mpeg, wav, flac, ogg"),
    C("oai-input-audio-not-taken",
      M(U("?", {"type": "input_audio", "input_audio": {"data": "AA==", "format": "wav"}}), A()), "audio", NOT_AUDIO),
    C("oai-file-no-object", M(U("?", {"type": "file"}), A()), "messages[0].content[0]", "file part has no 'file' "
      "object"),
    C("oai-file-id", M(U("?", {"type": "file", "file": {"file_id": "file-abc"}}), A()), "messages[0].content[0]",
      "file part refers to an uploaded 'file_id', which cannot be read offline; embed 'file_data'"),
    C("oai-file-base64-no-name", M(U("?", {"type": "file", "file": {"file_data": PNG64}}), A()),
      "messages[0].content[0]", "file part has base64 'file_data' but no 'filename' to tell its type"),
    C("oai-file-unknown-ext", M(U("?", {"type": "file", "file": {"file_data": PNG64, "filename": "x.exe"}}), A()),
      "messages[0].content[0]", f"cannot tell the kind of media of 'x.exe' from its extension (known: {KNOWN_EXT})"),
    C("oai-file-nothing", M(U("?", {"type": "file", "file": {"filename": "a.pdf"}}), A()), "messages[0].content[0]",
      "file part has neither 'file_data' nor 'file_url'"),
    C("oai-file-url-ftp", M(U("?", {"type": "file", "file": {"file_url": "ftp://example.com/a.pdf"}}), A()),
      "messages[0].content[0]", "file part 'file_url' 'ftp://example.com/a.pdf' is not an http(s) URL"),
    C("oai-file-url-loopback", M(U("?", {"type": "file", "file": {"file_url": "http://127.0.0.1/a.pdf"}}), A()),
      "document[0]",
      "URL 'http://127.0.0.1/a.pdf' refused: 127.0.0.1 " + PRIVATE.format(ip="127.0.0.1")),
    C("oai-input-image-private", M(U("?", {"type": "input_image", "image_url": "http://10.0.0.1/a.png"}), A()),
      "image[0]", "URL 'http://10.0.0.1/a.png' refused: 10.0.0.1 " + PRIVATE.format(ip="10.0.0.1")),
    C("oai-input-file-bad-base64", M(U("?", {"type": "input_file", "file_data": "data:application/pdf;base64,%%"}),
      A()), "document[0]", "document data URI (data:application/pdf;base64,%%...) is not valid base64"),
    C("oai-file-latin1-text",
      M(U("?", {"type": "file", "file": {"file_data": f"data:text/plain;base64,{LATIN64}"}}), A()), "document[0]",
      "document data URI (data:text/plain;base64,Y2Fm6Q=...) is not UTF-8 text (unexpected end of data at byte 3)"),
    C("oai-file-bad-pdf", M(U("?", {"type": "file", "file": {"file_data": TEXT64, "filename": "r.pdf"}}), A()),
      "document[0]",
      "document base64 data (28 chars) could not be opened as a PDF " + PDFIUM),
    # -- chat_template, documents, video, audio ----------------------------------------------------
    C("doc-missing", M(U("?", part("document", path="gone.pdf")), A()),
      "document[0]", "document 'gone.pdf' not found (looked "
      "in <DATA>)"),
    C("doc-zero-size-pdf", M(U("?", part("document", path="empty.pdf")), A()),
      "document[0]", "document 'empty.pdf' could not be "
      "opened as a PDF " + PDFIUM),
    C("doc-corrupt-pdf", M(U("?", part("document", path="broken.pdf")), A()),
      "document[0]", "document 'broken.pdf' could not be "
      "opened as a PDF " + PDFIUM),
    C("doc-latin1-txt", M(U("?", part("document", path="latin1.txt")), A()),
      "document[0]", "document 'latin1.txt' is not UTF-8 "
      "text (invalid continuation byte at byte 3)"),
    C("doc-docx", M(U("?", part("document", path="report.docx")), A()),
      "document[0]", "document 'report.docx' is neither a "
      "PDF, a text file nor an image"),
    C("doc-escapes-folder", M(U("?", part("document", path="../secret.png")), A()),
      "document[0]", "document '../secret.png' "
      "refused: a relative media name must stay inside <DATA>"),
    C("doc-absolute-outside-roots", M(U("?", part("document", path="/etc/hostname")), A()), "document[0]",
      "document '/etc/hostname' refused: absolute media paths must lie under media_roots (<ROOT>/roots)"),
    C("doc-bad-base64", M(U("?", part("document", base64="%%%", mime="application/pdf")), A()), "document[0]",
      "document base64 data (3 chars) is not valid base64"),
    C("doc-markdown-latin1", M(U("?", part("document", base64=LATIN64, mime="text/markdown")), A()), "document[0]",
      "document base64 data (8 chars) is not UTF-8 text (unexpected end of data at byte 3)"),
    C("doc-url-loopback", M(U("?", part("document", url="http://127.0.0.1/a.pdf")), A()), "document[0]",
      "URL 'http://127.0.0.1/a.pdf' refused: 127.0.0.1 " + PRIVATE.format(ip="127.0.0.1")),
    C("video-missing", M(U("?", part("video", path="gone.mp4")), A()), "video[0]", "video 'gone.mp4' not found "
      "(looked in <DATA>)"),
    C("video-corrupt-mp4", M(U("?", part("video", path="broken.mp4")), A()), "video[0]", "video 'broken.mp4' could "
      "not be decoded (InvalidDataError: [Errno 1094995529] Invalid data found when processing input: "
      "'<DATA>/broken.mp4')"),
    C("video-zero-size-gif", M(U("?", part("video", path="empty.gif")), A()), "video[0]", "video 'empty.gif' could "
      "not be decoded (EOFError: [Errno 541478725] End of file: '<DATA>/empty.gif')"),
    C("video-data-uri-png", M(U("?", part("video", url=f"data:image/png;base64,{PNG64}")), A()), "video[0]",
      "video data URI (data:image/png;base64,iVBORw0K...) holds image/png data, which is not a video"),
    C("video-escapes-folder", M(U("?", part("video", path="../clip.gif")), A()), "video[0]", "video '../clip.gif' "
      "refused: a relative media name must stay inside <DATA>"),
    C("video-no-frames", M(U("?", part("video", video=[])), A()), "video[0]", "video in-memory list has no frames"),
    C("audio-path-not-taken", M(U("?", part("audio", path="tone.wav")), A()), "audio", NOT_AUDIO),
    C("audio-data-uri-not-taken", M(U("?", image_url(f"data:audio/wav;base64,{PNG64}")), A()), "audio", NOT_AUDIO),
    # -- TRL / llava-instruct-mix rows: {"type": "image"} parts filled from ``images`` -------------
    C("trl-index-out-of-range", M(U("?", img(index=1)), A(), images=["red.png"]), "messages[0].content[0]",
      "image part points at index 1 but column 'images' has 1 item(s)"),
    C("trl-index-negative", M(U("?", img(index=-1)), A(), images=["red.png"]), "messages[0].content[0]",
      "image part points at index -1 but column 'images' has 1 item(s)"),
    C("trl-index-bool", M(U("?", img(index=True)), A(), images=["red.png", "red.png"]), "messages[0].content[0].index",
      "image part 'index' is a bool, expected an integer"),
    C("trl-index-str", M(U("?", img(index="0")), A(), images=["red.png"]), "messages[0].content[0].index",
      "image part 'index' is a str, expected an integer"),
    C("trl-index-mixed", M(U("?", img(index=0), img()), A(), images=["red.png", "red.png"]), "messages[0].content[0]",
      "some image parts have an 'index' and some do not; give all or none"),
    C("trl-unused-item", M(U("?", img(index=0)), A(), images=["red.png", "red.png"]), "images",
      "column 'images' items [1] are not used by any image part"),
    C("trl-no-images-column", M(U("?", img()), A()), "messages[0].content[0]", "1 image part(s) without data but the "
      "row has no 'images' column"),
    C("trl-too-few-images", M(U("?", img(), img()), A(), images=["red.png"]), "images", "2 image part(s) without "
      "data but 1 item(s) in column 'images'"),
    C("trl-null-item", M(U("?", img()), A(), images=[None]), "images[0]", "media entry is empty (null)"),
    C("trl-item-int", M(U("?", img()), A(), images=[5]), "image[0]", "image given as int, expected a PIL image, an "
      "array or bytes"),
    C("trl-item-missing-file", M(U("?", img()), A(), images=["gone.png"]), "image[0]", "image 'gone.png' not found "
      "(looked in <DATA>)"),
    # -- placeholders in text -----------------------------------------------------------------------
    C("tag-two-images-one-item", M(U("<image><image>Same?"), A(), images=["red.png"]), "images",
      "2 <image> placeholder(s) in the text but 1 item(s) in column 'images'"),
    C("tag-one-image-two-items", M(U("<image>What?"), A(), images=["red.png", "red.png"]), "images",
      "1 <image> placeholder(s) in the text but 2 item(s) in column 'images'"),
    C("tag-video-no-item", M(U("<video>What happens?"), A(), videos=[]), "videos", "1 <video> placeholder(s) in the "
      "text but 0 item(s) in column 'videos'"),
    C("tag-images-without-user", M(A("Red."), images=["red.png"]), "images", "column 'images' has images but the row "
      "has no user turn to put them in"),
    # -- ShareGPT ----------------------------------------------------------------------------------
    SG("sg-no-conversations", {"dialog": []}, "conversations", "the row has no 'conversations' column"),
    SG("sg-empty", {"conversations": []}, "conversations", "'conversations' is empty, expected a list of turns"),
    SG("sg-turn-str", {"conversations": ["hi", "hello"]}, "conversations[0]", "turn is a str, expected an object "
       "with 'from' and 'value'"),
    SG("sg-no-from", {"conversations": [{"value": "hi"}, {"from": "gpt", "value": "hello"}]}, "conversations[0]",
       "turn has no 'from'"),
    SG("sg-unknown-from", S(("bot", "hi"), ("gpt", "hello")), "conversations[0].from",
       f"unknown role 'bot' (known roles: {SHAREGPT_ROLES})"),
    SG("sg-value-int", S(("human", 5), ("gpt", "hello")), "conversations[0].value", "'value' is a int, expected a "
       "string"),
    SG("sg-ends-with-human", S(("human", "hi"), ("gpt", "hello"), ("human", "bye")), "messages",
       "the last turn is 'user'; a training row must end with an assistant turn"),
    SG("sg-empty-gpt", S(("human", "hi"), ("gpt", "")), "messages[1]", "assistant turn (message 1) is empty"),
    SG("sg-null-gpt", S(("human", "hi"), ("gpt", None)), "messages[1]", "assistant turn (message 1) is empty"),
    SG("sg-role-content-unknown",
       {"conversations": [{"role": "user", "content": "hi"}, {"role": "bot", "content": "x"}]}, "conversations[1].role",
       f"unknown role 'bot' (known roles: {SHAREGPT_ROLES})"),
    SG("sg-role-content-int", {"conversations": [{"role": "user", "content": 1}, {"role": "gpt", "content": "x"}]},
       "conversations[0].content", "'content' is a int, expected a string"),
    SG("sg-only-system", S(("system", "Be brief.")), "messages", "row has no assistant turn (nothing to train on)"),
    SG("sg-system-column-int", S(("human", "hi"), ("gpt", "hello"), system=3), "system", "'system' is a int, "
       "expected a string"),
    SG("sg-tags-mismatch", S(("human", "<image>\n<image>\nSame?"), ("gpt", "Yes."), images=["red.png"]), "images",
       "2 <image> placeholder(s) in the text but 1 item(s) in column 'images'"),
    SG("sg-image-missing", S(("human", "<image>\nWhat?"), ("gpt", "Red."), images=["gone.png"]), "image[0]",
       "image 'gone.png' not found (looked in <DATA>)"),
    SG("sg-llava-image-corrupt", S(("human", "<image>\nWhat?"), ("gpt", "Red."), image="broken.png"), "image[0]",
       "image 'broken.png' could not be decoded (UnidentifiedImageError: cannot identify image file "
       "'<DATA>/broken.png')"),
    SG("sg-video-tag-mismatch", S(("human", "<video><video>Same?"), ("gpt", "Yes."), videos=["clip.gif"]), "videos",
       "2 <video> placeholder(s) in the text but 1 item(s) in column 'videos'"),
    SG("sg-audio-not-taken", S(("human", "<audio>What?"), ("gpt", "A tone."), audios=["tone.wav"]), "audio", NOT_AUDIO),
    SG("sg-images-not-list", S(("human", "<image>What?"), ("gpt", "Red."), images={"a": 1}), "images[0]",
       "media entry has none of 'bytes', 'array' or 'path' (keys: a)"),
    # -- alpaca (JSON array files) -----------------------------------------------------------------
    Case("alpaca-no-output", "json", "alpaca", {"instruction": "Say hi."}, "output", "the row has no 'output'"),
    Case("alpaca-instruction-int", "json", "alpaca", {"instruction": 3, "output": "3"}, "instruction",
         "'instruction' is a int, expected a string"),
    Case("alpaca-history-bad", "json", "alpaca", {**GOOD["alpaca"], "history": [["only one"]]}, "history",
         "'history' must be a list of [instruction, output] string pairs"),
    Case("alpaca-empty-output", "json", "alpaca", {"instruction": "Say hi.", "output": " "}, "messages[1]",
         "assistant turn (message 1) is empty"),
    Case("alpaca-system-int", "json", "alpaca", {**GOOD["alpaca"], "system": 5}, "system", "'system' is a int, "
         "expected a string"),
    Case("alpaca-input-list", "json", "alpaca", {**GOOD["alpaca"], "input": ["a"]}, "input", "'input' is a list, "
         "expected a string"),
    Case("alpaca-tags-mismatch", "json", "alpaca",
         {**GOOD["alpaca"], "instruction": "<image><image>Same?", "images": ["red.png"]}, "images",
         "2 <image> placeholder(s) in the text but 1 item(s) in column 'images'"),
    # -- prompt / completion rows in JSONL (strings, or TRL's lists of messages) --------------------
    Case("pc-completion-int", "jsonl", "prompt_completion", {"prompt": "Hi", "completion": 5}, "completion",
         "'completion' is a int, expected a string or a list of messages"),
    Case("pc-files-item-int", "jsonl", "prompt_completion", {**GOOD["prompt_completion"], "files": [1]}, "files[0]",
         "files[0] is a int, expected a file name, URL or data URI"),
    Case("pc-files-dict", "jsonl", "prompt_completion", {**GOOD["prompt_completion"], "files": {"a": 1}}, "files",
         "'files' is a dict, expected comma-separated names or a list"),
    Case("pc-prompt-unknown-role", "jsonl", "prompt_completion",
         {"prompt": [{"role": "alien", "content": "x"}], "completion": [A()]}, "prompt[0].role",
         f"unknown role 'alien' (known roles: {ROLES})"),
    Case("pc-completion-list-of-str", "jsonl", "prompt_completion", {"prompt": "Hi", "completion": ["x"]},
         "completion[0]", "message is a str, expected an object with 'role' and 'content'"),
    # -- JSON / JSONL files ------------------------------------------------------------------------
    C("json-messages-unknown-role", M({"role": "bot", "content": "hi"}, A()), "messages[0].role",
      f"unknown role 'bot' (known roles: {ROLES})", ext="json"),
    C("json-row-not-object", ["just a string"], "", "data/json-row-not-object.json: row 1 is a list, expected an "
      "object with named columns", ext="json", row=None),
    C("json-not-json", b'[{"messages": [}', "", "data/json-not-json.json: not valid JSON (Expecting value: line 1 "
      "column 16 (char 15))", ext="json", row=None, good=False),
    C("jsonl-broken-line", '{"messages": [', "line", "line 2 is not valid JSON (Expecting value)"),
    C("jsonl-line-is-array", "[1, 2]", "line", "line 2 is a JSON list, expected an object"),
    C("jsonl-line-is-number", "42", "line", "line 2 is a JSON int, expected an object"),
    C("jsonl-line-is-null", "null", "line", "line 2 is JSON null, expected an object"),
    Case("jsonl-all-lines-broken", "jsonl", None, b'{"messages": [\n{oops', "", "data/jsonl-all-lines-broken.jsonl: "
         "none of the first 2 rows could be read (line 1 is not valid JSON (Expecting value))", row=None, good=False),
    C("json-column-lengths", b'{"prompt": ["a", "b"], "completion": ["x"]}', "", "data/json-column-lengths.json: "
      "columns have different lengths: {'prompt': 2, 'completion': 1}", ext="json", type="prompt_completion", row=None,
      good=False),
    C("jsonl-not-utf8", b'{"messages": "caf\xe9"}', "", "data/jsonl-not-utf8.jsonl: line 2 is not UTF-8 text (invalid "
      "continuation byte at byte 17); save the file as UTF-8", row=None),
    # -- prompt / completion: CSV ------------------------------------------------------------------
    PC("csv-extra-cell", b"prompt,completion\nHi,Hello.\nHi, how are you?,fine\n", "csv", "the row has 1 more "
       "cell(s) than the header ('fine'); quote cells that contain commas"),
    PC("csv-empty-completion", ["Hi", "", ""], "completion", "'completion' is empty"),
    PC("csv-empty-prompt", ["", "Hello.", ""], "prompt", "'prompt' is empty"),
    PC("csv-no-completion-column", ["Hi"], "completion", "the row has no 'completion' column", header=("prompt",),
       row=0, good=False),
    PC("csv-file-missing", ["What?", "Red.", "gone.png"], "image[0]", "image 'gone.png' not found (looked in <DATA>)"),
    PC("csv-file-unknown-ext", ["What?", "Red.", "report.docx"], "files[0]",
       f"cannot tell the kind of media of 'report.docx' from its extension (known: {KNOWN_EXT})"),
    PC("csv-file-escapes", ["What?", "Red.", "../secret.png"], "image[0]", "image '../secret.png' refused: a "
       "relative media name must stay inside <DATA>"),
    PC("csv-second-file-zero-size", ["What?", "Red.", "red.png, empty.jpg"], "image[1]", "image 'empty.jpg' could "
       "not be decoded (UnidentifiedImageError: cannot identify image file '<DATA>/empty.jpg')"),
    PC("csv-file-data-uri-mime", ["What?", "Red.", "data:application/x-sh;base64,ZWNobw=="], "files[0]",
       "data URI has MIME type 'application/x-sh'; expected image/*, audio/*, video/*, application/pdf or text/plain"),
    PC("csv-file-ftp", ["What?", "Red.", "ftp://example.com/a.png"], "files[0]", "unsupported URL scheme 'ftp' in "
       "'ftp://example.com/a.png' (use http(s), a data URI or a file name)"),
    PC("csv-file-private-url", ["What?", "Red.", "http://127.0.0.1:9/a.png"], "image[0]",
       "URL 'http://127.0.0.1:9/a.png' refused: 127.0.0.1 " + PRIVATE.format(ip="127.0.0.1")),
    PC("csv-file-audio", ["Listen.", "A tone.", "tone.wav"], "audio", NOT_AUDIO),
    PC("csv-file-corrupt-pdf", ["Read.", "Done.", "broken.pdf"],
      "document[0]", "document 'broken.pdf' could not be opened as a "
       "PDF " + PDFIUM),
    PC("csv-not-utf8", b"prompt,completion\nHi,Hello.\ncaf\xe9,ok\n", "", "data/csv-not-utf8.csv: line 3 is not UTF-8 "
       "text (invalid continuation byte at byte 31); save the file as UTF-8", row=None),
    PC("csv-unclosed-quote", b'prompt,completion\nHi,Hello.\n"unterminated,ok\nmore,rows\n', "line",
       'line 3 opens a quoted cell that is never closed, so it takes in every line after it; close the quote (a " '
       'inside a quoted cell is written "")'),
    PC("csv-duplicate-header", ["Hi", "Hello.", "Hi again"], "", "data/csv-duplicate-header.csv: the header names "
       "column 'prompt' twice (columns 1 and 3)", header=("prompt", "completion", "prompt"), row=None),
    PC("csv-blank-first-line", b"\n\nprompt,completion\nHi,Hello.\n", "", "data/csv-blank-first-line.csv: the first "
       "line is empty (expected a header row)", row=None),
    PC("csv-split-selects-none", ["Hi", "Hello.", "red.png"], "", "data/csv-split-selects-none.csv: dataset is empty "
       "(split 'train[5:]' selects no rows)", row=None, entry={"split": "train[5:]"}),
    PC("csv-header-only", b"prompt,completion\n", "", "data/csv-header-only.csv: dataset is empty", row=None),
    # -- prompt / completion: XLSX -----------------------------------------------------------------
    PC("xlsx-empty-completion", ["Hi", None, None], "completion", "'completion' is empty", ext="xlsx"),
    PC("xlsx-file-missing", ["What?", "Red.", "gone.png"], "image[0]", "image 'gone.png' not found (looked in <DATA>)",
       ext="xlsx"),
    PC("xlsx-file-number", ["What?", "Red.", 5], "files[0]",
       f"cannot tell the kind of media of '5' from its extension (known: {KNOWN_EXT})", ext="xlsx"),
    PC("xlsx-file-escapes", ["What?", "Red.", "../secret.png"], "image[0]", "image '../secret.png' refused: a relative "
       "media name must stay inside <DATA>", ext="xlsx"),
    PC("xlsx-file-corrupt-image", ["What?", "Red.", "broken.png"], "image[0]", "image 'broken.png' could not be "
       "decoded (UnidentifiedImageError: cannot identify image file '<DATA>/broken.png')", ext="xlsx"),
    PC("xlsx-not-a-workbook", b"this is not a workbook", "", "data/xlsx-not-a-workbook.xlsx: could not be read as an "
       "Excel workbook (BadZipFile: File is not a zip file)", ext="xlsx", row=None),
    PC("xlsx-no-such-sheet", ["Hi", "Hello.", None], "", "data/xlsx-no-such-sheet.xlsx: no sheet named 'reviewed'; it "
       "has 'Sheet'", ext="xlsx", row=None, entry={"sheet": "reviewed"}),
    PC("xlsx-duplicate-header", ["Hi", "Hello.", "Hi again"], "", "data/xlsx-duplicate-header.xlsx: the header names "
       "column 'prompt' twice (columns 1 and 3)", ext="xlsx", header=("prompt", "completion", "prompt"), row=None),
    # -- parquet -----------------------------------------------------------------------------------
    Case("parquet-image-bytes-corrupt", "parquet", "chat_template",
         M(U("?", img()), A(), images=[{"bytes": b"not a png", "path": None}]), "image[0]", "image in-memory bytes "
         "could not be decoded (UnidentifiedImageError: cannot identify image file)", features="images"),
    Case("parquet-image-path-missing", "parquet", "chat_template",
         M(U("?", img()), A(), images=[{"bytes": None, "path": "gone.png"}]), "image[0]", "image 'gone.png' not found "
         "(looked in <DATA>)", features="images"),
    Case("parquet-no-assistant", "parquet", "chat_template", M(U(), U("Well?"), images=[]), "messages",
         "row has no assistant turn (nothing to train on)", features="images"),
]
# fmt: on


# -- writing the files ------------------------------------------------------------------------------


def _good_row(case: Case) -> Any:
    if case.ext in ("csv", "xlsx"):
        return TABLE_GOOD[: len(case.header)]
    if case.features == "images":
        return M(U("?", img()), A(), images=[{"bytes": PNG, "path": None}])
    return GOOD[case.type or "chat_template"]


def _at(value: Any, root: Path) -> Any:
    """``value`` with ``<ROOT>`` in its strings replaced by the temporary root."""
    if isinstance(value, str):
        return value.replace("<ROOT>", str(root))
    if isinstance(value, dict):
        return {k: _at(v, root) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_at(v, root) for v in value]
    return value


def _write(case: Case, root: Path) -> None:
    path = root / "data" / f"{case.id}.{case.ext}"
    rows = [_at(r, root) for r in ([_good_row(case), case.bad] if case.good else [case.bad])]
    if isinstance(case.bad, bytes) and case.ext != "jsonl":
        path.write_bytes(case.bad)  # the whole file
    elif case.ext == "jsonl":  # a bytes or str row is the line as written
        lines = [r if isinstance(r, bytes) else (r if isinstance(r, str) else json.dumps(r)).encode() for r in rows]
        path.write_bytes(b"\n".join(lines) + b"\n")
    elif case.ext == "json":
        path.write_text(json.dumps(rows))
    elif case.ext == "csv":
        with open(path, "w", newline="") as f:
            csv.writer(f).writerows([case.header, *rows])
    elif case.ext == "xlsx":
        wb = openpyxl.Workbook()
        for r in [case.header, *rows]:
            wb.active.append(list(r))
        wb.save(path)
    else:
        content = datasets.Json()  # a string or a list of parts, as in the hub's chat datasets
        feats = datasets.Features(
            {
                "messages": datasets.List({"role": datasets.Value("string"), "content": content}),
                "images": datasets.List(datasets.Image(decode=False)),
            }
        )
        # pyarrow writes it: ``to_parquet`` would stat the missing file a row names
        pq.write_table(datasets.Dataset.from_list(rows, features=feats).data.table, path)


def _entry(case: Case) -> dict[str, Any]:
    return {"path": f"data/{case.id}.{case.ext}", **({"type": case.type} if case.type else {}), **case.entry}


def _config(root: Path, ckpt: Path, entries: list[dict[str, Any]], **extra: Any) -> Path:
    cfg = {"base_model": str(ckpt), "sequence_len": 4096, "media_roots": ["roots"], "datasets": entries, **extra}
    (root / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    return root / "cfg.yaml"


@pytest.fixture(scope="module")
def checked(tmp_path_factory, tiny_ckpt):
    """Every case's file, checked by one ``validate`` run: the root, problems and results by dataset."""
    root = tmp_path_factory.mktemp("bad_rows").resolve()
    _write_media(root)
    for case in CASES:
        _write(case, root)
    report = validate(load_config(_config(root, tiny_ckpt("qwen2_vl"), [_entry(c) for c in CASES])), workers=1)
    problems: dict[str, list[dict]] = {}
    for p in report.problems:
        problems.setdefault(p["dataset"], []).append(p)
    return root, problems, {d.label: d for d in report.datasets}


def test_the_table_covers_every_format_and_media_kind():
    assert len(CASES) >= 100 and len({c.id for c in CASES}) == len(CASES)
    assert {c.ext for c in CASES} == {"jsonl", "json", "csv", "xlsx", "parquet"}
    assert {c.type for c in CASES} >= {"chat_template", "sharegpt", "alpaca", "prompt_completion"}
    for kind in ("image", "audio", "video", "document"):
        assert any(kind in json.dumps(c.bad, default=str) or kind in c.field for c in CASES), kind


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=c.xfail)) if c.xfail else c for c in CASES],
    ids=[c.id for c in CASES],
)
def test_bad_row_is_reported_exactly(case, checked):
    root, problems, results = checked
    label = _entry(case)["path"]
    reason = case.reason.replace("<DATA>", str(root / "data")).replace("<ROOT>", str(root))
    assert problems.get(label) == [{"dataset": label, "row": case.row, "field": case.field, "error": reason}]
    res = results[label]
    if case.row is not None:  # every row read is either fine or one problem; the good row is fine
        assert (res.rows, res.ok, res.problems) == (2 if case.good else 1, int(case.good), 1)


def test_a_file_mixing_good_and_bad_rows_keeps_plus_drops_what_it_reads(checked, tiny_ckpt):
    """Preprocessing one JSONL file of every row-level chat_template case, each after a good row:
    kept + dropped == read, and each bad row is dropped with the reason the table gives it."""
    from mmtune.preprocess.cache import prepare
    from mmtune.preprocess.settings import settings_from_config

    root = checked[0]
    # Not "trl-no-images-column": in a file where other rows have an 'images' column, every row has
    # one (empty), and its reason rightly changes to "... but 0 item(s) in column 'images'".
    cases = [
        c
        for c in CASES
        if c.ext == "jsonl"
        and c.type == "chat_template"
        and c.row == 1
        and not c.xfail
        and c.id != "trl-no-images-column"
    ]
    lines = []
    for c in cases:
        bad = _at(c.bad, root)
        lines += [json.dumps(GOOD["chat_template"]), bad if isinstance(bad, str) else json.dumps(bad)]
    (root / "data" / "mixed.jsonl").write_text("\n".join(lines) + "\n")
    cfg = load_config(
        _config(
            root,
            tiny_ckpt("qwen2_vl"),
            [{"path": "data/mixed.jsonl"}],
            dataset_prepared_path="prep",
            on_bad_rows="skip",
        )
    )
    settings, processor = settings_from_config(cfg)
    report = prepare(cfg, settings, workers=1, processor=processor).report
    assert (report.read, report.kept, report.dropped) == (2 * len(cases), len(cases), len(cases))
    assert report.kept + report.dropped == report.read
    expected = []
    for i, c in enumerate(cases):
        reason = c.reason.replace("<DATA>", str(root / "data")).replace("<ROOT>", str(root))
        if c.field == "line":  # a broken line names its line in the file: row 2i+1 is line 2i+2
            reason = reason.replace("line 2 ", f"line {2 * i + 2} ", 1)
        expected.append(("data/mixed.jsonl", 2 * i + 1, c.field, reason))
    assert [(e.dataset, e.row, e.field, e.reason) for e in report.errors] == expected
