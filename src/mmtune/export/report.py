"""``export_report.json``: what an export wrote, what it refused and why, and what it converted.

Every row read is either written or refused (written + refused == read), as in training's own
data report; a refused row lists every rule it breaks.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any

from mmtune.export.base import Blob, Item, Violation
from mmtune.export.rules import RULES, Rules


def _image_size(b: Blob) -> tuple[int, int] | None:
    from PIL import Image

    try:
        return Image.open(io.BytesIO(b.data)).size
    except Exception:
        return None


def _gpt4o_image_tokens(w: int, h: int) -> int:
    scale = min(1.0, 2048 / max(w, h))
    w, h = w * scale, h * scale
    scale = min(1.0, 768 / min(w, h))
    w, h = w * scale, h * scale
    return 85 + 170 * math.ceil(w / 512) * math.ceil(h / 512)


def _audio_seconds(b: Blob) -> float | None:
    import soundfile as sf

    try:
        return sf.info(io.BytesIO(b.data)).duration
    except Exception:
        return None


def media_tokens(rules: Rules, blobs: list[Blob]) -> int | None:
    """Media tokens by the provider's documented rule, or None where it documents none."""
    if rules.token_rule is None:
        return None
    total = 0.0
    for b in blobs:
        if b.kind == "image" and rules.image_tokens == "gpt-4o":
            size = _image_size(b)
            total += _gpt4o_image_tokens(*size) if size else 0
        elif b.kind == "image" and isinstance(rules.image_tokens, int):
            total += rules.image_tokens
        elif b.kind == "audio" and rules.audio_tokens_per_second:
            total += rules.audio_tokens_per_second * (_audio_seconds(b) or 0.0)
    return round(total)


@dataclass
class ExportReport:
    provider: str
    out_dir: str | None = None
    read: int = 0
    written: int = 0
    train_rows: int = 0
    validation_rows: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)
    conversions: list[dict[str, Any]] = field(default_factory=list)
    media: dict[str, dict[str, int]] = field(default_factory=dict)
    media_files: int = 0
    media_tokens: int | None = None

    @property
    def problems(self) -> list[dict[str, Any]]:
        """What ``mmtune validate --for`` counts as problems: the refused rows' reasons."""
        return self.refused

    @property
    def refused_rows(self) -> int:
        return len({(r["dataset"], r["row"]) for r in self.refused})

    def refuse(self, dataset: str, row: int, violations: list[Violation], field: str = "") -> None:
        for v in violations:
            self.refused.append({"dataset": dataset, "row": row, "field": field, "rule": v.rule, "reason": v.reason})

    def add_written(self, item: Item) -> None:
        self.written += 1
        for note in item.notes:
            self.conversions.append({"dataset": item.dataset, "row": item.row, "note": note})
        for b in item.blobs():
            m = self.media.setdefault(b.kind, {"count": 0, "bytes": 0})
            m["count"] += 1
            m["bytes"] += len(b.data)

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "out_dir": self.out_dir,
            "rows_read": self.read,
            "rows_written": self.written,
            "rows_refused": self.refused_rows,
            "train_rows": self.train_rows,
            "validation_rows": self.validation_rows,
            "refused": self.refused,
            "conversions": self.conversions,
            "media": self.media,
            "media_files": self.media_files,
            "estimated_media_tokens": self.media_tokens,
            "token_rule": RULES[self.provider].token_rule,
        }

    def summary(self) -> str:
        lines = [
            f"{self.provider}: {self.read} rows read, {self.written} written, {self.refused_rows} refused"
            + (f" ({self.train_rows} train, {self.validation_rows} validation)" if self.out_dir else "")
        ]
        for kind, m in sorted(self.media.items()):
            lines.append(f"  {kind}: {m['count']} item(s), {m['bytes']:,} bytes")
        if self.media_tokens is not None:
            lines.append(f"  estimated media tokens: {self.media_tokens:,}")
        if self.conversions:
            lines.append(f"  {len(self.conversions)} lossy conversion(s), listed in export_report.json")
        for r in self.refused[:20]:
            lines.append(f"  - {r['dataset']} row {r['row']}: [{r['rule']}] {r['reason']}")
        if len(self.refused) > 20:
            lines.append(f"  ... and {len(self.refused) - 20} more")
        return "\n".join(lines)
