"""Errors are data (DESIGN.md, principle 4).

Intake and preprocessing raise ``DataError``; the pipeline collects them into a ``DataReport``
so that a run stops before training with the full list, or drops the rows and says why.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field


class MmtuneError(Exception):
    """A user-facing error: the CLI prints its message without a traceback."""


class ConfigError(MmtuneError):
    pass


@dataclass
class DataError(MmtuneError):
    """A problem with one row: which dataset, which 0-based row, where in the row, and why."""

    reason: str
    dataset: str = "?"
    row: int = -1
    field: str = ""
    # False for rows dropped by policy (e.g. longer than sequence_len with ``truncation: drop``):
    # reported, but they do not stop a run that has ``on_bad_rows: error``.
    fatal: bool = True

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.dataset} row {self.row}" if self.row >= 0 else self.dataset
        return f"{where}: {self.reason}"

    def located(self, dataset: str, row: int) -> DataError:
        """The same error, now knowing the row it came from."""
        return DataError(self.reason, dataset, row, self.field, self.fatal)

    def to_dict(self) -> dict:
        d = asdict(self)
        return {"dataset": d["dataset"], "row": d["row"], "field": d["field"], "error": d["reason"]}


@dataclass
class DataReport:
    """Every row read is either kept or dropped with its error: kept + dropped == read."""

    read: int = 0
    kept: int = 0
    errors: list[DataError] = field(default_factory=list)

    @property
    def dropped(self) -> int:
        return len(self.errors)

    def add(self, other: DataReport) -> None:
        self.read += other.read
        self.kept += other.kept
        self.errors.extend(other.errors)

    def reasons(self) -> Counter:
        return Counter(e.reason.split(":")[0].split("(")[0].strip() for e in self.errors)

    def summary(self, limit: int = 20) -> str:
        lines = [f"{self.read} rows read, {self.kept} kept, {self.dropped} dropped"]
        for e in self.errors[:limit]:
            lines.append(f"  - {e}")
        if len(self.errors) > limit:
            lines.append(f"  ... and {len(self.errors) - limit} more")
        return "\n".join(lines)


class BadRowsError(MmtuneError):
    """Raised when preprocessing found bad rows and the config says to stop."""

    def __init__(self, report: DataReport):
        self.report = report
        super().__init__(
            f"{report.dropped} bad row(s) found before training; fix them or set "
            f"`on_bad_rows: skip`.\n{report.summary()}"
        )
