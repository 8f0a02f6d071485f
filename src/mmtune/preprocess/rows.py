"""One raw row -> model inputs and labels, or a ``DataError`` saying why not.

Any failure while processing one row (a processor or tokenizer raising on odd input, included)
becomes that row's ``DataError``; only a ``ConfigError``, which every row would hit, stops the
run. A ``RowProcessor`` is built once per process (it loads the processor and builds the family's
transform) and then called on ``RowTask`` s; preprocessing, ``validate`` and ``inspect`` all use it,
so they accept and refuse exactly the same rows.

A row with media over ``sequence_len`` is fitted before anything is cut (``media_fit: shrink``): its
videos lose frames evenly and, where the family's image tokens grow with pixels
(``Family.image_tokens_scale_with_size``), its images and frames are scaled down, by the share of
tokens that must go, and the row is encoded again, a few times at most. Placeholder tokens are never
cut, so the encoding always matches the media; a row that cannot fit is dropped with its reason.
"""

from __future__ import annotations

from typing import Any

from mmtune.conversation import Conversation
from mmtune.data.decode import decode_conversation
from mmtune.data.documents import fewer_pages
from mmtune.data.formats import format_by_type
from mmtune.data.intake import RowOptions, RowTask, check_row
from mmtune.data.media.image import scale_image
from mmtune.data.media.video import VideoClip, fewer_frames
from mmtune.errors import ConfigError, DataError
from mmtune.models.families import get_family
from mmtune.preprocess.codec import pack_media, pack_tensors
from mmtune.preprocess.settings import PrepSettings, apply_special_tokens
from mmtune.transforms.base import Transform, media_token_ids
from mmtune.transforms.labels import Encoded, check_roles
from mmtune.transforms.system import drop_system

# The columns of a preprocessed row (one Arrow table row); ``length`` (tokens) is what length grouping reads.
COLUMNS = ("input_ids", "labels", "mm", "media", "dataset", "row", "n_media", "length")
# Re-encodings one row may take while its media shrink: each aims below the budget, so few are needed.
MAX_SHRINKS = 6
# Each shrink aims this far below the exact share: processors round sizes to their patch grid.
SHRINK_MARGIN = 0.9


class RowProcessor:
    """Turns one raw row into model inputs; one instance per worker process."""

    def __init__(self, settings: PrepSettings, processor: Any = None):
        self.s = settings
        self.family = get_family(settings.family)
        if processor is None:
            processor = self.family.load_processor(settings.base_model)
            apply_special_tokens(processor, settings.special_tokens)
        self.processor = processor
        self.transform = self.family.transform(self.processor, settings)
        # A dataset with its own roles_to_train / train_on_eos / train_on_eot has its own transform.
        self._transforms: dict[tuple, Transform] = {}
        self.media_ids = media_token_ids(self.family, self.processor)

    def transform_for(self, options: RowOptions) -> Transform:
        """The transform for rows of a dataset with these options (built once per process and options)."""
        key = (options.roles_to_train, options.train_on_eos, options.train_on_eot)
        if key == (None, None, None):
            return self.transform
        if key not in self._transforms:
            self._transforms[key] = self.family.transform(self.processor, self.s.for_dataset(options))
        return self._transforms[key]

    def conversation(self, task: RowTask) -> Conversation:
        """The row's canonical conversation with its media decoded for this model."""
        check_row(task.row)
        conv = format_by_type(task.format).convert(task.row, task.context())
        if task.options.drop_system_message:
            conv = drop_system(conv)
        check_roles(conv)
        return decode_conversation(conv, self.family.modalities, self.family.id, self.s.media)

    def __call__(self, task: RowTask) -> dict | DataError:
        try:
            conv = self.conversation(task)
            transform = self.transform_for(task.options)
            enc = transform(conv)
            if len(enc.input_ids) > self.s.sequence_len:
                enc = self.fit_media(conv, transform, enc) if conv.media() else self.fit(enc)
            if enc.supervised == 0:
                raise DataError("no supervised tokens left (empty assistant turns?)", field="messages")
        except DataError as e:
            return e.located(task.dataset, task.index)
        except ConfigError:
            raise  # the config is wrong for every row: stop with its message
        except Exception as e:
            return DataError(f"could not be encoded ({type(e).__name__}: {e})").located(task.dataset, task.index)
        tensors, media = enc.tensors, b""
        if self.s.cache_media == "decoded" and enc.media:  # the media, not the processor's float tensors
            tensors = {k: v for k, v in tensors.items() if k in self.family.token_keys}
            media = pack_media(enc.media_text, enc.media)
        return {
            "input_ids": enc.input_ids,
            "labels": enc.labels,
            "mm": pack_tensors(tensors),
            "media": media,
            "dataset": task.dataset,
            "row": task.index,
            "n_media": len(conv.media()),
            "length": len(enc.input_ids),
        }

    def fit_media(self, conv: Conversation, transform: Transform, enc: Encoded) -> Encoded:
        """A row with media over sequence_len, as ``media_fit`` says: refused ('error'), dropped ('drop'),
        or encoded again with smaller media until it fits ('shrink'). What shrinking cannot fix (its text
        alone is too long, or its media are at their minimums) goes to ``fit``."""
        limit, policy = self.s.sequence_len, self.s.media_fit
        n, media = len(enc.input_ids), self.media_count(enc)
        if policy in ("drop", "error"):
            why = f"row has {n} tokens ({media} of them for media), more than sequence_len {limit}"
            end = " (dropped: media_fit is 'drop')" if policy == "drop" else " (media_fit: error)"
            raise DataError(why + end, field="length", fatal=policy == "error")
        if n - media > limit:
            return self.fit(enc, f"its text alone is {n - media} tokens, so shrinking its media cannot make it fit")
        shrunk = False
        for _ in range(MAX_SHRINKS):
            factor = SHRINK_MARGIN * max(0, limit - (n - media)) / max(1, media)
            if not self.shrink_media(conv, factor):
                break
            shrunk = True
            enc = transform(conv)
            n, media = len(enc.input_ids), self.media_count(enc)
            if n <= limit:
                return enc
        if not shrunk:
            return self.fit(enc)  # nothing in it can shrink (audio, fixed-size images): as a text row
        return self.fit(
            enc,
            f"still {n} tokens with its media shrunk (min_image_pixels {self.s.min_image_pixels}, "
            f"min_video_frames {self.s.min_video_frames}, min_pdf_pages {self.s.min_pdf_pages})",
        )

    def media_count(self, enc: Encoded) -> int:
        """Tokens of the row that stand for media (placeholders and their markers)."""
        return sum(t in self.media_ids for t in enc.input_ids)

    def shrink_media(self, conv: Conversation, factor: float) -> bool:
        """Scale the row's decoded media, in place, to about ``factor`` of their tokens: videos keep fewer
        frames, then (like images) fewer pixels where the family's tokens follow pixels and no image_size
        fixes the size; when none of that is left, PDFs lose their last pages. False when nothing could
        get smaller."""
        by_pixels = self.family.image_tokens_scale_with_size and self.s.media.image_size is None
        min_px, changed = self.s.min_image_pixels, False
        for part in conv.media():
            new: object = None
            if part.type == "image" and by_pixels:
                new = scale_image(part.value, factor, min_px, self.s.media)
            elif part.type == "video":
                clip = part.value
                new = fewer_frames(clip, factor, self.s.min_video_frames)
                if new is None and by_pixels:
                    frames = [scale_image(f, factor, min_px, self.s.media) for f in clip.frames]
                    if any(f is not None for f in frames):
                        kept = [f if g is None else g for f, g in zip(clip.frames, frames)]
                        new = VideoClip(kept, clip.fps, clip.indices, clip.total_frames)
            if new is not None:
                part.value, changed = new, True
        # PDF pages last: a page left out is content lost, a smaller page or a frame less is not
        return changed or fewer_pages(conv, factor, self.s.min_pdf_pages)

    def fit(self, enc: Encoded, note: str = "") -> Encoded:
        """A row longer than sequence_len, as ``truncation`` says: a bad row ('error'), a dropped one
        ('drop'), or cut to sequence_len ('truncate', Axolotl's excess_length_strategy) when only text
        lies past the cut. Media tokens past it would leave an image or clip without all of its tokens
        (its pixels still in the row), so such a row is dropped with that reason instead."""
        n, limit = len(enc.input_ids), self.s.sequence_len
        why = f"row has {n} tokens, more than sequence_len {limit}" + (f": {note}" if note else "")
        if self.s.truncation == "truncate":
            if not any(t in self.media_ids for t in enc.input_ids[limit:]):
                tensors = {k: cut_tokens(v, k, n, limit, self.family.token_keys) for k, v in enc.tensors.items()}
                cut = Encoded(enc.input_ids[:limit], enc.labels[:limit], tensors)
                if cut.supervised == 0:
                    raise DataError(
                        why + " (dropped: its first sequence_len tokens train on nothing)", field="length", fatal=False
                    )
                return cut
            raise DataError(
                why + " (dropped: media tokens lie past it, and cutting would split them)", field="length", fatal=False
            )
        drop = " (dropped: multimodal rows are never cut)" if self.s.truncation == "drop" else ""
        raise DataError(why + drop, field="length", fatal=self.s.truncation == "error")


def cut_tokens(t: Any, key: str, n: int, limit: int, token_keys: frozenset[str]) -> Any:
    """A processor tensor of a row cut to its first ``limit`` tokens: per-token ones (the family's
    ``token_keys``, sequence on dim 1) are cut, the others (pixels, grids) stay whole."""
    if key in token_keys and getattr(t, "dim", lambda: 0)() >= 2 and t.shape[1] == n:
        return t[:, :limit]
    return t
