"""The held-out conversations a run is evaluated on: prompt, reference answer and media references.

Preprocessed rows hold tokens, not the question and its answer as text, but each keeps where it
came from (``dataset`` label and 0-based ``row`` index, preprocess/rows.py). Evaluation re-reads
those source rows and converts them with their format, so the prompt a model answers is built by
the same conversion (and then the same transform, ``Predictor``) as the training rows.

Which rows are held out: ``test_datasets`` when the config has them, else the ``val_set_size``
split of the preprocessed rows (``split``, with the run's seed: training and ``mmtune evaluate``
hold out exactly the same rows).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mmtune.config import Config
from mmtune.conversation import Conversation, TextPart
from mmtune.data.formats import format_by_type
from mmtune.data.intake import RowTask, check_row
from mmtune.errors import DataError
from mmtune.preprocess.cache import config_tasks
from mmtune.transforms.system import drop_system


def split(ds: Any, val_set_size: float, seed: int) -> tuple[Any, Any]:
    """Train and held-out rows (``val_set_size``: a fraction below 1, else a row count)."""
    if not val_set_size or len(ds) < 2:
        return ds, None
    size = val_set_size if val_set_size < 1 else int(val_set_size)
    parts = ds.train_test_split(test_size=size, seed=seed)
    return parts["train"], parts["test"]


def heldout_config(cfg: Config) -> Config:
    """The config whose ``datasets`` are the held-out ones: ``test_datasets`` in place of
    ``datasets`` (so ``preprocess.cache.prepare`` caches them under their own fingerprint), or
    ``cfg`` itself when the held-out rows are a ``val_set_size`` split."""
    if cfg.test_datasets:
        return cfg.model_copy(update={"datasets": cfg.test_datasets, "test_datasets": None, "val_set_size": 0.0})
    return cfg


@dataclass
class EvalRow:
    """One held-out conversation: everything up to its last assistant message (``prompt``), that
    message's text (``reference``), and where the row came from."""

    dataset: str
    index: int
    prompt: Conversation
    reference: str

    @property
    def row_id(self) -> str:
        return f"{self.dataset}:{self.index}"

    def prompt_text(self) -> str:
        """The user turns' text, one turn per line (what a person reads as the question)."""
        return "\n".join(m.text for m in self.prompt.messages if m.role == "user" and m.text)

    def media(self) -> list[dict[str, str | None]]:
        """Each media item's kind and where it is: a path (absolute where the row's was relative),
        a URL, or None for inline data."""
        out: list[dict[str, str | None]] = []
        for part in self.prompt.media():
            ref = part.ref
            where = ref.url
            if ref.path is not None:
                where = (
                    ref.path if os.path.isabs(ref.path) or not ref.base_dir else os.path.join(ref.base_dir, ref.path)
                )
            out.append({"kind": part.type, "ref": where})
        return out


def _eval_row(task: RowTask) -> EvalRow:
    check_row(task.row)
    conv = format_by_type(task.format).convert(task.row, task.context())
    if task.options.drop_system_message:
        conv = drop_system(conv)
    last = max((i for i, m in enumerate(conv.messages) if m.role == "assistant"), default=None)
    if not last:  # none, or an answer with nothing before it
        raise DataError("no assistant answer after a prompt to compare a generated answer with", field="messages")
    answer = conv.messages[last]
    if not any(isinstance(p, TextPart) for p in answer.parts):
        raise DataError("the last assistant answer has no text to compare with", field="messages")
    return EvalRow(task.dataset, task.index, Conversation(conv.messages[:last]), answer.text.strip())


def eval_row(task: RowTask) -> EvalRow:
    """The row of ``task`` as a prompt and its reference answer, or a DataError naming the row."""
    try:
        return _eval_row(task)
    except DataError as e:
        raise e.located(task.dataset, task.index) from None
    except Exception as e:  # a format raising on odd input: this row's problem, as in preprocessing
        raise DataError(f"could not be read ({type(e).__name__}: {e})").located(task.dataset, task.index) from None


def eval_rows(tasks: Iterable[RowTask]) -> tuple[list[EvalRow], list[DataError]]:
    """Every task as an ``EvalRow``; rows that cannot be one are returned as errors (reported and
    skipped, as preprocessing drops bad rows)."""
    rows, errors = [], []
    for t in tasks:
        try:
            rows.append(eval_row(t))
        except DataError as e:
            errors.append(e)
    return rows, errors


def heldout_tasks(cfg: Config, heldout: Any) -> list[RowTask]:
    """The source rows of the preprocessed held-out rows ``heldout`` (a datasets.Dataset with the
    cache's ``dataset`` and ``row`` columns), in its order. ``cfg`` is the config whose datasets
    ``heldout`` came from (``heldout_config``)."""
    tasks, _ = config_tasks(cfg)
    by_origin = {(t.dataset, t.index): t for t in tasks}
    return [by_origin[(d, i)] for d, i in zip(heldout["dataset"], heldout["row"])]
