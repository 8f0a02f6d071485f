"""Canonical media parts -> bytes a provider takes, with every lossy step written down.

Media are read through ``data/media`` (the same files, zips, URLs, base64 and data URIs that
training reads) and typed by their content's signature first: a ``.jpg`` that holds a PNG is a
PNG to a provider. A PDF goes as itself where the provider takes PDFs and otherwise becomes page
images (rendered exactly as training renders them); a text file becomes text where the provider
takes no text documents. In-memory images and audio are written as PNG and WAV.
"""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from mmtune.conversation import Conversation, MediaPart, TextPart
from mmtune.data.documents import render_pdf
from mmtune.data.media import MediaSettings, Source, kind_of_mime, mime_of_name, read_source
from mmtune.data.media.sources import is_in_memory
from mmtune.errors import DataError
from mmtune.export.base import Blob, Item, Turn
from mmtune.export.rules import Rules

# (offset, signature, MIME type): what the first bytes of a file say it is.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (0, b"%PDF", "application/pdf"),
    (0, b"fLaC", "audio/flac"),
    (0, b"OggS", "audio/ogg"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"\x00\x00\x01\xba", "video/mpeg"),
    (0, b"\x00\x00\x01\xb3", "video/mpeg"),
)


def sniff(data: bytes, fallback: str | None) -> str | None:
    """The MIME type the bytes themselves show, else ``fallback`` (a name's or data URI's)."""
    for off, sig, mime in _SIGNATURES:
        if data[off : off + len(sig)] == sig:
            return mime
    if data[:4] == b"RIFF" and data[8:12] in (b"WEBP", b"WAVE", b"AVI "):
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}[data[8:12]]
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand == b"qt  ":
            return "video/quicktime"
        if brand.startswith(b"M4A"):
            return "audio/mp4"
        if brand.startswith(b"3gp"):
            return "video/3gpp"
        return fallback if fallback and fallback.startswith(("video/", "audio/")) else "video/mp4"
    if data[:4] == b"\x1a\x45\xdf\xa3":  # EBML: WebM or Matroska, told apart by the name
        return fallback if fallback in ("video/webm", "video/x-matroska", "audio/webm") else "video/webm"
    if data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    return fallback


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _wav(samples: Any, rate: int) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="WAV", subtype="FLOAT")
    return buf.getvalue()


def _page_count(pdf: bytes) -> int:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf)
    try:
        return len(doc)
    finally:
        doc.close()


def read_blob(part: MediaPart, settings: MediaSettings) -> Blob:
    """The bytes of one media part and their MIME type (in-memory objects encoded losslessly)."""
    ref = part.ref
    if is_in_memory(ref):
        obj = ref.obj
        if isinstance(obj, Image.Image):
            return Blob(part.type, "image/png", _png(obj))
        if part.type == "audio" and hasattr(obj, "shape"):
            return Blob("audio", "audio/wav", _wav(obj, ref.sampling_rate or settings.sampling_rate))
        if isinstance(obj, str) and part.type == "document":
            return Blob("document", "text/plain", obj.encode("utf-8"))
        raise DataError(
            f"{part.type} {ref.describe()} is held in memory and cannot be written as a file; give its file"
        )
    src = read_source(ref, part.type, settings)
    data = src.read()
    name = ref.path or ref.url or ""
    mime = sniff(data, src.mime or (mime_of_name(name) if name else None))
    if mime is None:
        raise DataError(f"{part.type} {ref.describe()}: cannot tell its file type from its content or name")
    kind = part.type if part.type == "document" else (kind_of_mime(mime) or part.type)
    if part.type == "document" and mime.startswith("image/"):
        kind = "image"
    return Blob(kind, mime, data)


def to_item(conv: Conversation, rules: Rules, settings: MediaSettings, dataset: str, row: int) -> Item:
    """``conv`` with every media part read, and documents converted where ``rules`` take none."""
    item = Item(dataset, row, [])
    docs = rules.formats.get("document", ())
    n_doc = -1
    for msg in conv.messages:
        turn = Turn(msg.role, train=msg.train)
        for part in msg.parts:
            if isinstance(part, TextPart):
                turn.pieces.append(part.text)
                continue
            field = part.type
            if part.type == "document":
                n_doc += 1
                field = f"document[{n_doc}]"
            try:
                blob = read_blob(part, settings)
            except DataError as e:
                raise DataError(e.reason, field=e.field or field) from None
            if blob.kind != "document" or blob.mime in docs:
                turn.pieces.append(blob)
            elif blob.mime == "application/pdf":
                pages = render_pdf(Source(blob.data, part.ref.describe(), blob.mime), settings)
                turn.pieces.extend(Blob("image", "image/png", _png(p)) for p in pages)
                total = _page_count(blob.data)
                gone = f"page {total}" if total == len(pages) + 1 else f"pages {len(pages) + 1}-{total}"
                cut = f"; {gone} left out (pdf_max_pages)" if total > len(pages) else ""
                item.notes.append(
                    f"{field}: PDF became {len(pages)} page image(s) (PNG, {settings.pdf_dpi} dpi){cut}; "
                    f"{rules.provider} takes no PDF"
                )
            elif blob.mime.startswith("text/"):
                turn.pieces.append(blob.data.decode("utf-8-sig").rstrip("\n") + "\n\n")
                item.notes.append(f"{field}: text file became message text; {rules.provider} takes no text files")
            else:
                turn.pieces.append(blob)  # refused by the format check, with its MIME type named
        if msg.train is not None and not (rules.message_weights and msg.role == "assistant"):
            item.notes.append(f"{msg.role} message's train flag dropped; {rules.provider} has no weight for it")
        item.turns.append(turn)
    return item
