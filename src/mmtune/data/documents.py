"""Document parts -> what models take: PDF pages become images, text files become text.

No model family reads PDFs natively; vision-language models read rendered pages. Expanding a
``document`` part before the modality check means every image family accepts documents, and
the rest of the pipeline (rendering, label masks, token budget) sees only images and text.
A PDF longer than ``pdf_max_pages`` keeps its first pages; the pages left out are reported (a
warning once per file per process), never dropped in silence. Pages stay marked (``PageRef``) so that
a row over its token budget can leave out a document's last pages (``fewer_pages``, ``media_fit``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from PIL import Image

from mmtune.conversation import Conversation, MediaPart, MediaRef, Part, TextPart
from mmtune.data.media import MediaSettings, Source, mime_of_name, read_source
from mmtune.errors import DataError

log = logging.getLogger("mmtune")
# Files already warned about in this process: a file used by many rows is reported once.
_CUT_WARNED: set[str | tuple[str, str]] = set()


@dataclass(frozen=True)
class PageRef(MediaRef):
    """A rendered PDF page (in ``obj``): an image to the model, and a page of ``document`` (its
    ``page``-th, from 0) that a row over ``sequence_len`` may leave out, the document's last pages first."""

    document: str = ""
    page: int = 0


def fewer_pages(conv: Conversation, factor: float, min_pages: int) -> bool:
    """Leave out the last pages of each PDF of ``conv``, in place, keeping about ``factor`` of them and
    at least ``min_pages``; a cut is logged once per document and process. False when no page could go."""
    changed = False
    for msg in conv.messages:
        docs: dict[str, list[MediaPart]] = {}
        for p in msg.parts:
            if isinstance(p, MediaPart) and isinstance(p.ref, PageRef):
                docs.setdefault(p.ref.document, []).append(p)
        gone: set[int] = set()
        for name, pages in docs.items():
            keep = max(1, min_pages, int(len(pages) * factor))
            if keep < len(pages):
                gone.update(id(p) for p in pages[keep:])
                if ("fit", name) not in _CUT_WARNED:  # a file many rows share is reported once
                    _CUT_WARNED.add(("fit", name))
                    log.warning("document %s: only its first %d pages fit sequence_len (media_fit)", name, keep)
        if gone:
            msg.parts = [p for p in msg.parts if id(p) not in gone]
            changed = True
    return changed


def _format_of_mime(mime: str | None) -> str | None:
    """'pdf', 'text' or 'image' for a MIME type: the kind is 'document' for both PDFs and text
    (``media.kinds``), so which one is read from the MIME type itself. Any text/* is text."""
    mime = (mime or "").split(";")[0].strip().lower()
    if mime == "application/pdf":
        return "pdf"
    if mime.startswith("text/"):
        return "text"
    return "image" if mime.startswith("image/") else None


def _kind(src: Source, ref: MediaRef) -> str | None:
    """'pdf', 'text' or 'image': the file's signature first, then its MIME type or extension."""
    if src.head(16).startswith(b"%PDF"):
        return "pdf"
    name = ref.path or ref.url or ""
    return _format_of_mime(src.mime) or (_format_of_mime(mime_of_name(name)) if name else None)


def _warn_pages_left_out(src: Source, total: int, settings: MediaSettings) -> None:
    key = src.data if isinstance(src.data, str) else src.name
    if key in _CUT_WARNED:
        return
    _CUT_WARNED.add(key)
    log.warning(
        "document %s has %d pages; only the first %d are used (pdf_max_pages), %d left out",
        src.name,
        total,
        settings.pdf_max_pages,
        total - settings.pdf_max_pages,
    )


def render_pdf(src: Source, settings: MediaSettings) -> list[Image.Image]:
    """The first ``pdf_max_pages`` pages as RGB images at ``pdf_dpi``; the rest are reported."""
    import pypdfium2 as pdfium

    scale = settings.pdf_dpi / 72.0  # PDF sizes are in points, 72 per inch
    try:
        pdf = pdfium.PdfDocument(src.data)
    except Exception as e:  # PdfiumError: broken file, password, not a PDF
        raise DataError(f"document {src.name} could not be opened as a PDF ({type(e).__name__}: {e})") from None
    pages = []
    try:
        if len(pdf) == 0:
            raise DataError(f"document {src.name} has no pages")
        if len(pdf) > settings.pdf_max_pages:
            _warn_pages_left_out(src, len(pdf), settings)
        for i in range(min(len(pdf), settings.pdf_max_pages)):
            page = pdf[i]
            w, h = (round(x * scale) for x in page.get_size())
            if w * h > settings.max_image_pixels:
                raise DataError(
                    f"document {src.name} page {i + 1} would render to {w}x{h} = {w * h:,} pixels at "
                    f"{settings.pdf_dpi} dpi, more than max_image_pixels ({settings.max_image_pixels:,})"
                )
            pages.append(page.render(scale=scale).to_pil().convert("RGB"))
            page.close()
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"document {src.name} could not be rendered ({type(e).__name__}: {e})") from None
    finally:
        pdf.close()
    return pages


def _expand(part: MediaPart, settings: MediaSettings) -> list[Part]:
    ref = part.ref
    if isinstance(ref.obj, Image.Image):
        return [MediaPart("image", ref)]
    if isinstance(ref.obj, str):
        return [TextPart(ref.obj)]
    src = read_source(ref, "document", settings)
    kind = _kind(src, ref)
    if kind == "pdf":
        return [
            MediaPart("image", PageRef(obj=page, document=src.name, page=i))
            for i, page in enumerate(render_pdf(src, settings))
        ]
    if kind == "image":
        return [MediaPart("image", ref)]
    if kind == "text":
        try:
            text = src.read().decode("utf-8-sig")
            # a blank line after the document, so it never runs into the text that follows it
            return [TextPart(text.rstrip("\n") + "\n\n")]
        except UnicodeDecodeError as e:
            raise DataError(f"document {src.name} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    what = f" ({src.mime})" if src.mime else ""
    raise DataError(f"document {src.name}{what} is neither a PDF, a text file nor an image")


def expand_documents(conv: Conversation, settings: MediaSettings) -> Conversation:
    """Replace every ``document`` part, in place, by page images or a text part; an error names
    the document it came from (``document[1]``), as media errors name theirs."""
    n = -1
    for msg in conv.messages:
        if not any(isinstance(p, MediaPart) and p.type == "document" for p in msg.parts):
            continue
        parts: list[Part] = []
        for p in msg.parts:
            if not (isinstance(p, MediaPart) and p.type == "document"):
                parts.append(p)
                continue
            n += 1
            try:
                parts.extend(_expand(p, settings))
            except DataError as e:
                raise DataError(e.reason, field=e.field or f"document[{n}]") from None
        msg.parts = parts
    return conv
