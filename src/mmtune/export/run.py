"""``mmtune export`` and ``mmtune validate --for``: a config's datasets -> one provider's files.

Rows are read through the same intake as training (``data.intake.dataset_tasks`` and the
dataset's format), so a row that would not train is refused here for the same reason. Each row's
media are read into bytes, converted where the provider needs it, checked against the
provider's rules (``checks.py``), and written with the provider's module, or refused with every
rule it breaks. Nothing is uploaded.
"""

from __future__ import annotations

import base64
import json
import random
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from mmtune.config import Config
from mmtune.data.formats import format_by_type
from mmtune.data.intake import RowTask, check_row, dataset_tasks
from mmtune.data.media import MediaSettings
from mmtune.errors import ConfigError, DataError
from mmtune.export import gemini, nova, openai
from mmtune.export.base import Blob, Item, Violation
from mmtune.export.checks import check_dataset_kind, check_item
from mmtune.export.media import to_item
from mmtune.export.report import ExportReport, media_tokens
from mmtune.export.rules import RULES, Rules

Render = Callable[[Item, Callable[[Blob], str]], dict[str, Any]]
RENDER: dict[str, Render] = {
    "openai": openai.render,
    "azure": openai.render,
    "together": openai.render,
    "fireworks": openai.render,
    "gemini": gemini.render,
    "nova": nova.render,
}
PROVIDERS = tuple(RENDER)


def media_settings(cfg: Config) -> MediaSettings:
    """The decode-time settings of ``cfg`` that reading and rendering media for export use: the
    config's limits and PDF rendering, but media keep their own size (a provider gets the file
    itself, not the model's resized copy)."""
    return replace(MediaSettings.from_config(cfg), image_size=None)


def rules_for(provider: str) -> Rules:
    if provider not in RULES:
        raise ConfigError(f"unknown export target {provider!r}; known: {', '.join(PROVIDERS)}")
    return RULES[provider]


def _check_prefix(rules: Rules, prefix: str | None) -> str | None:
    if prefix is None:
        return None
    if rules.media_transport == "inline":
        raise ConfigError(f"{rules.provider} takes images only inline, as base64 data URIs; remove --media-uri-prefix")
    scheme = prefix.split("://", 1)[0].lower() if "://" in prefix else ""
    if scheme not in rules.uri_schemes:
        want = " or ".join(f"{s}://" for s in rules.uri_schemes)
        raise ConfigError(f"--media-uri-prefix {prefix!r} must start with {want} for {rules.provider}")
    return prefix.rstrip("/")


def _items(
    cfg: Config, rules: Rules, settings: MediaSettings, prefix: str | None, report: ExportReport
) -> Iterator[Item]:
    """Every row that passes, in dataset order (Nova's one-media-kind rule depends on it); each
    refused row goes into ``report`` with every rule it breaks."""
    from tqdm import tqdm

    tasks: list[RowTask] = []
    for d in cfg.datasets:
        got, _ = dataset_tasks(d)
        tasks.extend(got)
    first: tuple[str, str, int] | None = None
    for t in tqdm(tasks, desc=f"export {rules.provider}", unit="row", file=sys.stderr, disable=None):
        report.read += 1
        try:
            check_row(t.row)
            conv = format_by_type(t.format).convert(t.row, t.context())
            if t.options.drop_system_message:
                conv.messages = [m for m in conv.messages if m.role != "system"]
            item = to_item(conv, rules, settings, t.dataset, t.index)
        except DataError as e:
            report.refuse(t.dataset, t.index, [Violation("read", e.reason)], e.field)
            continue
        problems = check_item(item, rules, prefix)
        mixed = check_dataset_kind(item, rules, first)
        if mixed:
            problems.append(mixed)
        if problems:
            report.refuse(t.dataset, t.index, problems)
            continue
        if first is None and item.kinds():
            first = (next(iter(item.kinds())), t.dataset, t.index)
        yield item


def check_export(cfg: Config, provider: str) -> ExportReport:
    """Every row of ``cfg`` against ``provider``'s rules; nothing is written."""
    rules = rules_for(provider)
    report = ExportReport(provider)
    placeholder = f"{rules.uri_schemes[0]}://check" if rules.media_transport == "uri" else None
    items = list(_items(cfg, rules, media_settings(cfg), placeholder, report))
    report.written = 0
    for item in items:
        report.add_written(item)
    report.media_tokens = media_tokens(rules, [b for i in items for b in i.blobs()])
    return report


def _prepare_out(out: Path) -> None:
    if out.exists() and any(out.iterdir()) and not (out / "export_report.json").is_file():
        raise ConfigError(f"{out} is not empty and holds no earlier export; choose a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    for name in ("train.jsonl", "validation.jsonl"):  # an earlier export's files: none may be left stale
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / "media", ignore_errors=True)


def export(
    cfg: Config, provider: str, out: Path, prefix: str | None = None, split_validation: float = 0.0
) -> ExportReport:
    """Write ``out/train.jsonl`` (and ``validation.jsonl``), ``out/media/`` where the provider
    takes references, and ``out/export_report.json``."""
    rules = rules_for(provider)
    prefix = _check_prefix(rules, prefix)
    if not 0.0 <= split_validation < 1.0:
        raise ConfigError(f"--split-validation {split_validation} must be at least 0 and below 1")
    _prepare_out(out)
    report = ExportReport(provider, str(out))
    inline = rules.media_transport == "inline" or prefix is None
    written: set[str] = set()

    def url(b: Blob) -> str:
        if inline:
            return f"data:{b.mime};base64,{base64.b64encode(b.data).decode('ascii')}"
        if b.filename not in written:
            (out / "media").mkdir(exist_ok=True)
            (out / "media" / b.filename).write_bytes(b.data)
            written.add(b.filename)
        return f"{prefix}/media/{b.filename}"

    render = RENDER[provider]
    lines: list[str] = []
    blobs: list[Blob] = []
    for item in _items(cfg, rules, media_settings(cfg), prefix, report):
        report.add_written(item)
        blobs.extend(item.blobs())
        lines.append(json.dumps(render(item, url), ensure_ascii=False) + "\n")
    order = list(range(len(lines)))
    random.Random(0).shuffle(order)  # a fixed seed: the same split every time
    val = set(order[: round(len(lines) * split_validation)])
    train = [line for i, line in enumerate(lines) if i not in val]
    (out / "train.jsonl").write_text("".join(train), encoding="utf-8")
    if val:
        (out / "validation.jsonl").write_text("".join(lines[i] for i in sorted(val)), encoding="utf-8")
    report.train_rows, report.validation_rows = len(train), len(val)
    report.media_files = len(written)
    report.media_tokens = media_tokens(rules, blobs)
    (out / "export_report.json").write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")
    return report
