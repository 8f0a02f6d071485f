"""``report.html``: one self-contained page that says what a run did and whether the model learned.

It is built only from files in the output folder (the run card, ``trainable.json``,
``data_report.json``, ``log_history.json``, ``throughput.json``, ``eval_history.json`` and the
evaluation's prediction files), so ``mmtune report OUTPUT_DIR`` rebuilds it long after the run
without loading a model; training writes those files and the page at each evaluation and at the
end (``train/report_callback.py``). Missing files leave their section saying so, never an error:
a report of a run still in its first evaluation is still useful.

Every value from a config, a dataset or a model answer reaches the page through Jinja's
autoescaping (a prompt holding ``<script>`` is shown as text), and the page loads nothing from the
network: CSS inline, plots inline SVG (``outputs/svg.py``), media as data URIs.
"""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from mmtune.data.media import MediaSettings
from mmtune.errors import MmtuneError
from mmtune.outputs import svg
from mmtune.outputs.gallery import gallery
from mmtune.outputs.runcard import RunCard
from mmtune.preprocess.settings import PrepSettings

REPORT = "report.html"
TRAINABLE = "trainable.json"
DATA_REPORT = "data_report.json"
LOG_HISTORY = "log_history.json"
THROUGHPUT = "throughput.json"
EVAL_HISTORY = "eval_history.json"
# The config keys the summary table shows first (the whole config is below it).
KEY_SETTINGS = (
    "base_model",
    "adapter",
    "lora_r",
    "lora_alpha",
    "learning_rate",
    "lr_scheduler",
    "num_epochs",
    "max_steps",
    "micro_batch_size",
    "gradient_accumulation_steps",
    "sequence_len",
    "sample_packing",
    "val_set_size",
    "seed",
)


def run_info(card: RunCard) -> dict:
    """The run card as the dict ``mmtune_run.json`` holds."""
    return {
        "mmtune_version": card.version,
        "base_model": card.base_model,
        "family": card.family,
        "adapter": card.adapter,
        "preprocessing": card.preprocessing.to_dict(),
        "config": card.config,
    }


def _read_json(path: Path) -> Any:
    """A JSON file's content, or None when it is not there yet."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise MmtuneError(f"{path} is not valid JSON ({e.msg} at line {e.lineno})") from None


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) else None


def series(history: list[dict], key: str) -> list[tuple[float, float]]:
    """(step, value) of every log entry that has ``key``."""
    return [(float(e["step"]), float(e[key])) for e in history if _num(e.get(key)) is not None and "step" in e]


def training_charts(history: list[dict]) -> list[str]:
    """Loss (train and eval), learning rate(s) and gradient norm over steps."""
    charts = [
        svg.line_chart(
            "Loss",
            [(n, s) for n, s in (("train", series(history, "loss")), ("eval", series(history, "eval_loss"))) if s],
            ylabel="loss",
        )
    ]
    lr_keys = sorted({k for e in history for k in e if k == "learning_rate" or k.startswith("lr/")})
    charts.append(svg.line_chart("Learning rate", [(k, series(history, k)) for k in lr_keys], ylabel="rate"))
    charts.append(svg.line_chart("Gradient norm", [("grad_norm", series(history, "grad_norm"))], ylabel="norm"))
    return [c for c in charts if c]


def throughput(tp: dict | None, history: list[dict]) -> dict:
    """Samples/s and tokens/s per logging interval (from the callback's timeline), the run's
    averages (the Trainer's final log) and the padding share of the tokens seen."""
    out: dict[str, Any] = {"charts": [], "rows": []}
    final = next((e for e in reversed(history) if "train_runtime" in e), {})
    for key, label in (
        ("train_runtime", "training time (s)"),
        ("train_samples_per_second", "samples/s (whole run)"),
        ("train_steps_per_second", "steps/s (whole run)"),
        ("train_tokens_per_second", "tokens/s with padding (whole run)"),
    ):
        if _num(final.get(key)) is not None:
            out["rows"].append((label, svg.fmt(final[key])))
    points = (tp or {}).get("points") or []
    batch = (tp or {}).get("batch_size") or 0
    sps, tps = [], []
    for a, b in zip(points, points[1:]):
        dt = b["seconds"] - a["seconds"]
        if dt <= 0 or b["step"] <= a["step"]:
            continue
        sps.append((float(b["step"]), (b["step"] - a["step"]) * batch / dt))
        if b.get("tokens_seen") and b["tokens_seen"] > (a.get("tokens_seen") or 0):
            tps.append((float(b["step"]), (b["tokens_seen"] - (a.get("tokens_seen") or 0)) / dt))
    if sps:
        out["charts"].append(svg.line_chart("Samples per second", [("samples/s", sps)], ylabel="samples/s"))
    if tps:
        out["charts"].append(svg.line_chart("Tokens per second (with padding)", [("tokens/s", tps)], ylabel="tokens/s"))
    last = points[-1] if points else {}
    seen, epoch, real = last.get("tokens_seen") or 0, last.get("epoch") or 0, (tp or {}).get("train_tokens") or 0
    if seen and epoch and real:
        # the rows' own tokens over the tokens the model was fed: exact at an epoch's end, otherwise an
        # estimate (the share of an epoch done times the epoch's tokens)
        pad = max(0.0, 1.0 - epoch * real / seen)
        out["rows"].append(("padding share of tokens (estimated)", f"{pad:.1%}"))
        out["rows"].append(("tokens seen (with padding)", f"{seen:,}"))
    return out


def eval_metrics(evals: list[dict] | None, history: list[dict]) -> dict:
    """Evaluation metrics over steps: ``eval_history.json`` when the evaluation wrote one, else
    the ``eval_*`` values of the Trainer's log."""
    if evals:
        rows = [(e.get("step", 0), e.get("metrics") or {}) for e in evals]
    else:
        skip = {"eval_runtime", "eval_samples_per_second", "eval_steps_per_second", "epoch"}
        rows = [(e["step"], {k: v for k, v in e.items() if k.startswith("eval_") and k not in skip}) for e in history]
        rows = [r for r in rows if r[1]]
    names = sorted({k for _, m in rows for k, v in m.items() if _num(v) is not None})
    charts = []
    for name in names:
        pts = [(float(step), float(m[name])) for step, m in rows if _num(m.get(name)) is not None]
        charts.append(
            svg.line_chart("Eval " + name.removeprefix("eval_").replace("_", " "), [(name, pts)], ylabel=name)
        )
    table = [(step, [svg.fmt(m[n]) if _num(m.get(n)) is not None else "" for n in names]) for step, m in rows]
    return {"names": names, "charts": [c for c in charts if c], "table": table}


def data_section(dr: dict | None) -> dict | None:
    if not dr:
        return None
    counts = [
        (label, f"{dr[key]:,}")
        for key, label in (
            ("rows_read", "rows read"),
            ("rows_kept", "rows kept"),
            ("rows_dropped", "rows dropped"),
            ("train_rows", "training rows"),
            ("eval_rows", "held-out rows"),
            ("tokens", "tokens"),
            ("supervised_tokens", "supervised tokens"),
            ("media", "media items"),
            ("rows_with_media", "rows with media"),
        )
        if isinstance(dr.get(key), int)
    ]
    hist = dr.get("length_histogram") or {}
    chart = svg.bar_chart("Row length", hist.get("edges") or [], hist.get("counts") or [], "tokens per row")
    return {
        "counts": counts,
        "reasons": sorted((dr.get("reasons") or {}).items(), key=lambda kv: -kv[1]),
        "dropped": dr.get("dropped") or [],
        "dropped_more": max(0, (dr.get("rows_dropped") or 0) - len(dr.get("dropped") or [])),
        "lengths": dr.get("length_stats") or {},
        "chart": chart,
    }


def _roots(out_dir: Path, config: dict) -> list[str]:
    """Folders where a relative media reference may live: the output folder, then each dataset's
    media_dir and file folder."""
    roots = [str(out_dir)]
    for d in config.get("datasets") or []:
        for p in (d.get("media_dir"), os.path.dirname(str(d.get("path") or "")) or None):
            if p and p not in roots:
                roots.append(p)
    return roots


def build_report(out_dir: str | Path, run: dict | None = None) -> str:
    """The report page of ``out_dir`` as HTML text; ``run`` is the run card's content (read from the
    folder when not given: a folder without one is not an mmtune output)."""
    out = Path(out_dir)
    if run is None:
        run = run_info(RunCard.load(out))
    import jinja2
    from markupsafe import Markup

    config = run.get("config") or {}
    history = _read_json(out / LOG_HISTORY) or []
    media = PrepSettings.from_dict(run["preprocessing"]).media if run.get("preprocessing") else MediaSettings()
    trainable = _read_json(out / TRAINABLE)
    context = {
        "run": run,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "out_dir": str(out.resolve()),
        "settings": [(k, json.dumps(config[k])) for k in KEY_SETTINGS if k in config and config[k] is not None],
        "datasets": [str(d.get("path")) for d in config.get("datasets") or []],
        "config_json": json.dumps(config, indent=2, default=str),
        "trainable": trainable,
        "data": data_section(_read_json(out / DATA_REPORT)),
        "training_charts": training_charts(history),
        "throughput": throughput(_read_json(out / THROUGHPUT), history),
        "evals": eval_metrics(_read_json(out / EVAL_HISTORY), history),
        "gallery": gallery(out, _roots(out, config), media),
        "fmt": svg.fmt,
    }
    text = resources.files("mmtune.outputs").joinpath("report.html.j2").read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["svg"] = Markup  # charts are built here with every text escaped (outputs/svg.py)
    return env.from_string(text).render(**context)


def write_report(out_dir: str | Path, run: dict | None = None) -> Path:
    """Write ``report.html`` into ``out_dir`` (through a temporary file, so a browser refreshing it
    mid-run never reads half a page) and return its path."""
    out = Path(out_dir)
    html = build_report(out, run)
    path = out / REPORT
    tmp = path.with_name(f".{REPORT}.tmp-{os.getpid()}")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path
