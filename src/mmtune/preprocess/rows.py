"""One raw row -> model inputs and labels, or a ``DataError`` saying why not.

Any failure while processing one row (a processor or tokenizer raising on odd input, included)
becomes that row's ``DataError``; only a ``ConfigError``, which every row would hit, stops the
run. A ``RowProcessor`` is built once per process (it loads the processor and builds the family's
transform) and then called on ``RowTask`` s; preprocessing, ``validate`` and ``inspect`` all use it,
so they accept and refuse exactly the same rows.
"""

from __future__ import annotations

from typing import Any

from mmtune.conversation import Conversation
from mmtune.data.decode import decode_conversation
from mmtune.data.formats import RowContext, format_by_type
from mmtune.data.intake import RowTask, check_row
from mmtune.errors import ConfigError, DataError
from mmtune.models.families import get_family
from mmtune.preprocess.codec import pack_tensors
from mmtune.preprocess.settings import PrepSettings
from mmtune.transforms.labels import check_roles

# The columns of a preprocessed row (one Arrow table row).
COLUMNS = ("input_ids", "labels", "mm", "dataset", "row", "n_media")


class RowProcessor:
    """Turns one raw row into model inputs; one instance per worker process."""

    def __init__(self, settings: PrepSettings, processor: Any = None):
        self.s = settings
        self.family = get_family(settings.family)
        self.processor = processor if processor is not None else self.family.load_processor(settings.base_model)
        self.transform = self.family.transform(self.processor, settings)

    def conversation(self, task: RowTask) -> Conversation:
        """The row's canonical conversation with its media decoded for this model."""
        check_row(task.row)
        conv = format_by_type(task.format).convert(task.row, RowContext(task.base_dir))
        check_roles(conv)
        return decode_conversation(conv, self.family.modalities, self.family.id, self.s.media)

    def __call__(self, task: RowTask) -> dict | DataError:
        try:
            conv = self.conversation(task)
            enc = self.transform(conv)
            n = len(enc.input_ids)
            if n > self.s.sequence_len:
                raise DataError(
                    f"row has {n} tokens, more than sequence_len {self.s.sequence_len}"
                    + (" (dropped: multimodal rows are never cut)" if self.s.truncation == "drop" else ""),
                    field="length",
                    fatal=self.s.truncation == "error",
                )
            if enc.supervised == 0:
                raise DataError("no supervised tokens left (empty assistant turns?)", field="messages")
        except DataError as e:
            return e.located(task.dataset, task.index)
        except ConfigError:
            raise  # the config is wrong for every row: stop with its message
        except Exception as e:
            return DataError(f"could not be encoded ({type(e).__name__}: {e})").located(task.dataset, task.index)
        return {
            "input_ids": enc.input_ids,
            "labels": enc.labels,
            "mm": pack_tensors(enc.tensors),
            "dataset": task.dataset,
            "row": task.index,
            "n_media": len(conv.media()),
        }
