"""mmtune vs TRL's SFTTrainer: the same training run side by side, in one invocation.

Both train the same tiny Qwen2-VL-architecture checkpoint (``mmtune tiny qwen2_vl``, scaled so the
model's compute dominates: hidden 256, 4 layers, vision depth 4) on the same synthetic data with
the same hyperparameters: LoRA r=8 (or full fine-tuning with ``--full``), micro batch 4, 30 steps,
held-out rows evaluated at the end, one torch thread. Each run is its own child process, so its
wall time is end to end (Python start to exit) and its peak RSS is the kernel's accounting of that
child (``os.wait4`` -> ``ru_maxrss``), as in ``bench/media_memory.py``.

Variants, interleaved in each repeat:

- ``mmtune`` with an empty preprocessing cache (``cold``) and again with the cache it just wrote
  (``warm``); both are ``mmtune train CONFIG`` (the CLI's code path);
- ``mmtune packed`` (``sample_packing: true``) where mmtune supports it; where it does not (a
  warning says so, or the run fails) the table says "not available";
- ``TRL`` ``SFTTrainer`` with its vision-language collator (tokenization and image processing on
  the fly each batch; it has no preprocessing cache, so it runs once a repeat). Its loss covers the
  assistant turns only (``assistant_only_loss`` with a chat template that marks them), as mmtune's
  default does.

The data (``--rows`` conversations; written once, seed 0, reused) has images of varied sizes (PNG
and JPEG, 24 to 640 px a side), a skewed answer length (most a few words, some hundreds),
multi-turn rows, rows with two images and text-only rows.

    .venv/bin/python bench/train_throughput.py            # the default run
    .venv/bin/python bench/train_throughput.py --quick    # fewer rows and steps, for development
    .venv/bin/python bench/train_throughput.py --full     # full fine-tuning instead of LoRA

Figures: end-to-end wall time (cold and warm cache), time from process start to the first
training step, training samples/s (the Trainer's ``train_runtime``), supervised tokens/s (labels
other than -100 in the training batches / ``train_runtime``), padding fraction (padding positions
/ all positions of the training batches), peak RSS, final eval loss. Min and median over repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
MARK = "BENCH_RESULT "
THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}
# The language model's attention and MLP projections: mmtune's default LoRA targets, written out
# for TRL (peft matches a regex on the full module name).
LM_TARGETS = r".*language_model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"

# One chat template for TRL with ``{% generation %}`` markers around each assistant turn's text and
# its <|im_end|> (what mmtune supervises by default: ``train_on_eos: turn``). Otherwise it renders
# as the tiny checkpoint's qwen2_vl template does: a default system message, images in place.
TRL_TEMPLATE = (
    "{%- if messages[0]['role'] != 'system' -%}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{%- endif -%}"
    "{%- for m in messages -%}<|im_start|>{{ m['role'] }}\n"
    "{%- if m['role'] == 'assistant' -%}{% generation %}"
    "{%- if m['content'] is string -%}{{ m['content'] }}{%- else -%}"
    "{%- for p in m['content'] -%}{%- if p['type'] == 'text' -%}{{ p['text'] }}{%- endif -%}{%- endfor -%}"
    "{%- endif -%}<|im_end|>{% endgeneration %}\n"
    "{%- else -%}"
    "{%- if m['content'] is string -%}{{ m['content'] }}{%- else -%}"
    "{%- for p in m['content'] -%}{%- if p['type'] == 'text' -%}{{ p['text'] }}"
    "{%- elif p['type'] == 'image' -%}<|vision_start|><|image_pad|><|vision_end|>{%- endif -%}{%- endfor -%}"
    "{%- endif -%}<|im_end|>\n"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|im_start|>assistant\n{%- endif -%}"
)

WORDS = (
    "red blue green square circle small large left right top bottom cat dog tree house car sky cloud "
    "river road stone bright dark shadow corner centre line stripe dot pattern texture colour shape "
    "one two three four five many few near far above below inside outside next behind front"
).split()


# ---------------------------------------------------------------- data and checkpoint (a child)


def answer_words(rng) -> int:
    """Skewed: most answers a few words, a quarter a sentence or two, a few very long."""
    u = rng.random()
    if u < 0.6:
        return rng.randint(1, 6)
    if u < 0.9:
        return rng.randint(10, 40)
    return rng.randint(120, 320)


def make_data(folder: Path, rows: int, sizes: dict[str, int]) -> None:
    """Images, ``data.jsonl`` (mmtune's format) and the tiny checkpoint; written once, seed 0."""
    import random

    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    done = folder / "data.jsonl"
    if not done.exists():
        rng = random.Random(0)
        img_dir = folder / "images"
        img_dir.mkdir(exist_ok=True)
        lines = []
        n_images = 0

        def image() -> str:
            nonlocal n_images
            w, h = rng.randint(24, 640), rng.randint(24, 640)
            im = Image.new("RGB", (w, h), tuple(rng.randint(0, 255) for _ in range(3)))
            d = ImageDraw.Draw(im)
            for _ in range(rng.randint(1, 6)):
                x0, y0 = rng.randint(0, w - 1), rng.randint(0, h - 1)
                box = (x0, y0, rng.randint(x0, w), rng.randint(y0, h))
                d.ellipse(box, fill=tuple(rng.randint(0, 255) for _ in range(3)))
            ext = "png" if n_images % 2 else "jpg"
            path = img_dir / f"{n_images:05d}.{ext}"
            im.save(path, quality=90) if ext == "jpg" else im.save(path)
            n_images += 1
            return path.name

        def text(n: int) -> str:
            return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."

        for _ in range(rows):
            u = rng.random()
            n_img = 0 if u < 0.1 else (2 if u < 0.2 else 1)  # 10% text-only, 10% two images
            turns = 1 if rng.random() < 0.8 else rng.randint(2, 3)  # 20% multi-turn
            msgs = []
            for t in range(turns):
                content: list[dict] = []
                if t == 0:
                    content += [{"type": "image", "path": f"images/{image()}"} for _ in range(n_img)]
                content.append({"type": "text", "text": text(rng.randint(3, 15)).replace(".", "?")})
                msgs.append({"role": "user", "content": content})
                msgs.append({"role": "assistant", "content": text(answer_words(rng))})
            lines.append(json.dumps({"messages": msgs}))
        (folder / "data.tmp").write_text("\n".join(lines) + "\n")
        (folder / "data.tmp").rename(done)
    model = folder / "model"
    if not (model / "config.json").exists():
        flags = [f"--{k}={v}" for k, v in sizes.items()]
        subprocess.run(
            [str(Path(sys.executable).with_name("mmtune")), "tiny", "qwen2_vl", str(model), *flags], check=True
        )


# ---------------------------------------------------------------- the instrumented children


def instrument() -> dict:
    """Wrap ``Trainer.training_step`` (first step time, tokens of the training batches) and
    ``Trainer.train`` (its metrics); both tools train through these."""
    import transformers

    stats = {
        "first_step": None,
        "positions": 0,
        "padding": 0,
        "supervised": 0,
        "rows": 0,
        "metrics": {},
        "steps": [],
    }
    step, train = transformers.Trainer.training_step, transformers.Trainer.train

    def training_step(self, model, inputs, *args, **kwargs):
        if stats["first_step"] is None:
            stats["first_step"] = time.time()
        ids, mask, labels = inputs.get("input_ids"), inputs.get("attention_mask"), inputs.get("labels")
        pos = inputs.get("position_ids")
        if ids is not None:
            stats["positions"] += int(ids.numel())
            if mask is not None and mask.dim() == 2:
                stats["padding"] += int((mask == 0).sum())
                stats["rows"] += int(ids.shape[0])
        if labels is not None:
            stats["supervised"] += int((labels != -100).sum())
        if mask is None and pos is not None and labels is not None:  # packed: rows restart their positions
            pos = pos[0] if pos.dim() == 3 else pos
            for p, lab in zip(pos, labels):
                starts = (p == 0).nonzero().flatten().tolist() + [len(p)]
                for s, e in zip(starts, starts[1:]):
                    if (lab[s:e] != -100).any():
                        stats["rows"] += 1
                    elif e == len(p):  # the padding block at the end carries no labels
                        stats["padding"] += e - s
        t = time.perf_counter()
        loss = step(self, model, inputs, *args, **kwargs)
        stats["steps"].append((round(time.perf_counter() - t, 3), int(ids.shape[-1]) if ids is not None else 0))
        return loss

    def train_(self, *args, **kwargs):
        out = train(self, *args, **kwargs)
        stats["metrics"] = dict(out.metrics)
        return out

    transformers.Trainer.training_step = training_step
    transformers.Trainer.train = train_
    return stats


def report(stats: dict, eval_loss: float, trainable: int, **extra) -> None:
    m = stats["metrics"]
    runtime = m.get("train_runtime") or float("nan")
    out = {
        "first_step": stats["first_step"],
        "train_runtime": runtime,
        "samples_per_s": m.get("train_samples_per_second"),
        "supervised_tok_per_s": stats["supervised"] / runtime,
        "rows_per_s": stats["rows"] / runtime,
        "rows_trained": stats["rows"],
        "supervised": stats["supervised"],
        "positions": stats["positions"],
        "padding_frac": stats["padding"] / max(1, stats["positions"]),
        "eval_loss": eval_loss,
        "trainable": trainable,
        "step_s_len": stats["steps"],
        **extra,
    }
    print(MARK + json.dumps(out), flush=True)


def child_mmtune(cfg_path: str) -> None:
    import logging

    stats = instrument()
    notes: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "sample_packing" in record.getMessage():
                notes.append(record.getMessage())

    logging.getLogger("mmtune").addHandler(Catch())
    from mmtune.cli import main

    rc = main(["train", cfg_path])
    if rc:
        raise SystemExit(rc)
    out_dir = Path(cfg_path).parent / "out"
    metrics = json.loads((out_dir / "train_metrics.json").read_text())
    import mmtune

    eval_loss, trainable = metrics.get("eval_loss", float("nan")), metrics.get("trainable_params", 0)
    report(
        stats,
        eval_loss,
        trainable,
        rc=rc,
        notes=notes,
        mmtune=str(Path(mmtune.__file__).parent),
        **cache_sizes(cfg_path),
    )


def cache_sizes(cfg_path: str) -> dict:
    """Bytes per row of the preprocessing cache's rows file, and of the decoded media it holds as
    uint8 (the pixels of its images and frames): what the ``cache_media`` target compares."""
    import numpy as np
    import yaml

    from mmtune.preprocess.cache import ROWS_FILE, load_rows
    from mmtune.preprocess.codec import unpack_media

    root = Path(yaml.safe_load(Path(cfg_path).read_text())["dataset_prepared_path"])
    found = [d for d in root.iterdir() if (d / "data" / ROWS_FILE).exists() and ".tmp-" not in d.name]
    if not found:
        return {}
    ds = load_rows(found[0])
    pixels = 0
    for blob in ds["media"]:
        for _, value in unpack_media(blob)[1]:
            frames = getattr(value, "frames", [value])
            pixels += sum(np.asarray(f).nbytes for f in frames)
    n = max(1, len(ds))
    return {
        "cache_bytes_per_row": (found[0] / "data" / ROWS_FILE).stat().st_size / n,
        "media_uint8_per_row": pixels / n,
    }


def child_trl(spec_path: str) -> None:
    stats = instrument()
    spec = json.loads(Path(spec_path).read_text())
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(spec["seed"])
    from datasets import Dataset, Image, List
    from peft import LoraConfig
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl import SFTConfig, SFTTrainer

    data = Path(spec["data"])
    rows = []
    for line in (data / "data.jsonl").read_text().splitlines()[: spec["rows"]]:
        msgs = json.loads(line)["messages"]
        images = []
        for m in msgs:
            for p in m["content"] if isinstance(m["content"], list) else []:
                if p["type"] == "image":
                    images.append(str(data / p.pop("path")))
            if m["role"] == "assistant":
                m["content"] = [{"type": "text", "text": m["content"]}]
        rows.append({"messages": msgs, "images": images})
    ds = Dataset.from_list(rows).cast_column("images", List(Image()))
    parts = ds.train_test_split(test_size=spec["val_rows"], seed=spec["seed"])  # mmtune's split rule
    processor = AutoProcessor.from_pretrained(spec["model"])
    model = AutoModelForImageTextToText.from_pretrained(spec["model"], dtype=torch.float32)
    peft_config = None
    if spec["lora_r"]:
        peft_config = LoraConfig(
            r=spec["lora_r"], lora_alpha=2 * spec["lora_r"], lora_dropout=0.0, target_modules=LM_TARGETS
        )
    args = SFTConfig(
        output_dir=spec["out"],
        per_device_train_batch_size=spec["batch"],
        per_device_eval_batch_size=spec["batch"],
        gradient_accumulation_steps=1,
        num_train_epochs=1,
        max_steps=spec["max_steps"] or -1,
        learning_rate=spec["lr"],
        lr_scheduler_type="cosine",
        warmup_steps=0,
        weight_decay=0.0,
        logging_steps=10,
        save_strategy="epoch",
        eval_strategy="epoch",
        seed=spec["seed"],
        report_to=["tensorboard"],
        use_cpu=True,
        max_length=spec["sequence_len"],
        assistant_only_loss=True,
        disable_tqdm=True,
        gradient_checkpointing=False,  # TRL's default is True; mmtune's is False
        dataloader_num_workers=0,
        bf16=False,  # TRL's default is bf16 autocast, which on a CPU without bf16 units is several times slower
    )
    processor.chat_template = TRL_TEMPLATE
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=parts["train"],
        eval_dataset=parts["test"],
        processing_class=processor,
        peft_config=peft_config,
    )
    trainer.train()
    eval_loss = trainer.evaluate()["eval_loss"]
    trainer.save_model(spec["out"])
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    report(stats, eval_loss, trainable)


# ---------------------------------------------------------------- the parent


def run_child(args: list[str], log: Path) -> tuple[float, float, dict | None]:
    """(wall seconds, peak RSS MiB, what the child reported or None when it failed)."""
    env = {**os.environ, **THREAD_ENV}
    t0 = time.time()
    with open(log, "w") as f:
        proc = subprocess.Popen(
            [sys.executable, str(HERE), *args], stdout=subprocess.PIPE, stderr=f, text=True, env=env
        )
        stdout = proc.stdout.read() if proc.stdout else ""
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.time() - t0
    f_out = log.with_suffix(".out")
    f_out.write_text(stdout)
    got = None
    if os.waitstatus_to_exitcode(status) == 0:
        lines = [ln for ln in stdout.splitlines() if ln.startswith(MARK)]
        if lines:
            got = json.loads(lines[-1][len(MARK) :])
            got["to_first_step"] = got["first_step"] - t0 if got.get("first_step") else None
    return wall, usage.ru_maxrss / 1024, got


def mmtune_config(work: Path, a: argparse.Namespace, cache: Path, packed: bool, tensors: bool = False) -> Path:
    import yaml

    run = work / "run"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    # image paths in the rows are relative to the data file, so the subset is written next to it
    subset = a.data.resolve() / f"data_{a.rows}.jsonl"
    if not subset.exists():
        subset.write_text("\n".join((a.data / "data.jsonl").read_text().splitlines()[: a.rows]) + "\n")
    cfg = {
        "base_model": str((a.data / "model").resolve()),
        "chat_template": "qwen2_vl",
        "datasets": [{"path": str(subset), "type": "chat_template"}],
        "dataset_prepared_path": str(cache),
        "dataset_processes": 1,
        "val_set_size": a.val_rows,
        "sequence_len": a.sequence_len,
        "micro_batch_size": a.batch,
        "gradient_accumulation_steps": 1,
        "num_epochs": 1,
        "learning_rate": a.lr,
        "lr_scheduler": "cosine",
        "warmup_steps": 0,
        "weight_decay": 0.0,
        "logging_steps": 10,
        "seed": 0,
        "torch_threads": 1,
        "output_dir": str(run / "out"),
        "gradient_checkpointing": False,
    }
    if a.max_steps:
        cfg["max_steps"] = a.max_steps
    if not a.full:
        cfg.update({"adapter": "lora", "lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.0})
    if packed:
        cfg["sample_packing"] = True
    if tensors:
        cfg["cache_media"] = "tensors"
    path = run / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def trl_spec(work: Path, a: argparse.Namespace) -> Path:
    run = work / "run"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    spec = {
        "data": str(a.data.resolve()),
        "model": str((a.data / "model").resolve()),
        "rows": a.rows,
        "val_rows": a.val_rows,
        "seed": 0,
        "lora_r": 0 if a.full else 8,
        "batch": a.batch,
        "lr": a.lr,
        "max_steps": a.max_steps,
        "sequence_len": a.sequence_len,
        "out": str(run / "out"),
    }
    path = run / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def fmt(v: float | None, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child-mmtune":
        return child_mmtune(sys.argv[2])
    if len(sys.argv) > 2 and sys.argv[1] == "--child-trl":
        return child_trl(sys.argv[2])
    if len(sys.argv) > 2 and sys.argv[1] == "--make":
        return make_data(Path(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4]))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200 rows, 20 steps, 24 held out, 1 repeat: for development")
    ap.add_argument("--full", action="store_true", help="full fine-tuning (default: LoRA r=8 on the LM)")
    ap.add_argument("--rows", type=int, default=None, help="conversations used (default 1000; --quick 200)")
    ap.add_argument("--max-steps", type=int, default=None, help="default 30 (--quick: 20); 0: one epoch")
    ap.add_argument("--repeats", type=int, default=None, help="default 2 (--quick: 1)")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--val-rows", type=int, default=None, help="held-out rows (default 40; --quick 24)")
    ap.add_argument("--sequence-len", type=int, default=1024)
    ap.add_argument("--data", type=Path, default=ROOT / "runs" / "bench_train" / "data")
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "bench_train" / "work")
    ap.add_argument(
        "--only", default="mmtune,packed,trl,tensors", help="comma-separated variants: mmtune, packed, trl, tensors"
    )
    ap.add_argument("--json", type=Path, help="also write every run's figures here")
    a = ap.parse_args()
    a.rows = a.rows or (200 if a.quick else 1000)
    a.max_steps = a.max_steps if a.max_steps is not None else (20 if a.quick else 30)
    a.repeats = a.repeats or (1 if a.quick else 2)
    a.val_rows = a.val_rows or (24 if a.quick else 40)
    sizes = {"hidden": 256, "layers": 4, "vision-dim": 64, "vision-layers": 4}
    subprocess.run(
        [sys.executable, str(HERE), "--make", str(a.data), str(max(a.rows, 1000)), json.dumps(sizes)], check=True
    )
    a.work = a.work.resolve()
    a.work.mkdir(parents=True, exist_ok=True)
    # mmtune's cache key hashes its own sources: a copy taken now keeps the code under test (and so
    # the warm runs' cache) fixed while the checkout is being edited
    snap = a.work / "src"
    shutil.rmtree(snap, ignore_errors=True)
    shutil.copytree(ROOT / "src" / "mmtune", snap / "mmtune", ignore=shutil.ignore_patterns("__pycache__"))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(snap), os.environ.get("PYTHONPATH")]))
    only = set(a.only.split(","))
    mode = "full fine-tuning" if a.full else "LoRA r=8"
    print(
        f"{a.rows} rows ({a.val_rows} held out), {mode}, micro batch {a.batch}, "
        f"{'max ' + str(a.max_steps) + ' steps' if a.max_steps else '1 epoch'}, {a.repeats} repeat(s), 1 thread"
    )
    results: dict[str, list[dict]] = {}

    def record(name: str, wall: float, rss: float, got: dict | None, log: Path) -> None:
        row = {"wall": wall, "rss": rss, **(got or {"failed": True})}
        if got and got.get("rows_trained"):  # conversations trained per second of the whole run
            row["e2e_rows_per_s"] = got["rows_trained"] / wall
        results.setdefault(name, []).append(row)
        state = "ok" if got else f"FAILED, see {log}"
        print(f"  {name:22} {wall:7.1f} s  {rss:6.0f} MiB  {state}", flush=True)

    for r in range(a.repeats):
        print(f"repeat {r + 1}/{a.repeats}", flush=True)
        if "mmtune" in only:
            cache = a.work / "cache"
            shutil.rmtree(cache, ignore_errors=True)
            for name in ("mmtune cold", "mmtune warm"):
                cfg = mmtune_config(a.work, a, cache, packed=False)
                log = a.work / f"{name.replace(' ', '_')}_{r}.log"
                record(name, *run_child(["--child-mmtune", str(cfg)], log), log)
        if "trl" in only:
            spec = trl_spec(a.work, a)
            log = a.work / f"trl_{r}.log"
            record("TRL", *run_child(["--child-trl", str(spec)], log), log)
        if "packed" in only:
            cache = a.work / "cache_packed"
            shutil.rmtree(cache, ignore_errors=True)
            for name in ("mmtune packed cold", "mmtune packed warm"):
                cfg = mmtune_config(a.work, a, cache, packed=True)
                log = a.work / f"{name.replace(' ', '_')}_{r}.log"
                wall, rss, got = run_child(["--child-mmtune", str(cfg)], log)
                if got and any("not supported" in n for n in got.get("notes", [])):
                    got = {"unavailable": got["notes"][0]}
                record(name, wall, rss, got, log)
        if "tensors" in only:  # cache_media: tensors, the processor's float tensors in the cache
            cache = a.work / "cache_tensors"
            shutil.rmtree(cache, ignore_errors=True)
            for name in ("tensors cold", "tensors warm"):
                cfg = mmtune_config(a.work, a, cache, packed=False, tensors=True)
                log = a.work / f"{name.replace(' ', '_')}_{r}.log"
                record(name, *run_child(["--child-mmtune", str(cfg)], log), log)
    if a.json:
        a.json.write_text(json.dumps(results, indent=2))
    summarize(results)


def summarize(results: dict[str, list[dict]]) -> None:
    keys = [
        ("wall", "end-to-end wall s", ".1f", False),
        ("to_first_step", "start to 1st step s", ".1f", False),
        ("samples_per_s", "train samples/s", ".2f", True),
        ("rows_per_s", "train conversations/s", ".2f", True),
        ("e2e_rows_per_s", "e2e conversations/s", ".3f", True),
        ("supervised_tok_per_s", "supervised tok/s", ".0f", True),
        ("padding_frac", "padding fraction", ".3f", False),
        ("rss", "peak RSS MiB", ".0f", False),
        ("cache_bytes_per_row", "cache bytes/row", ".0f", False),
        ("media_uint8_per_row", "media uint8 bytes/row", ".0f", False),
        ("eval_loss", "final eval loss", ".4f", False),
        ("trainable", "trainable params", ",d", False),
    ]
    names = list(results)
    print()
    print("min / median over repeats")
    print(f"{'':22}" + "".join(f"{n:>24}" for n in names))
    for key, label, spec, _ in keys:
        cells = []
        for n in names:
            rows = [
                x for x in results[n] if x.get(key) is not None and not x.get("failed") and not x.get("unavailable")
            ]
            if not rows:
                cells.append("not available" if any(x.get("unavailable") for x in results[n]) else "n/a")
                continue
            vals = sorted(x[key] for x in rows)
            lo, med = vals[0], statistics.median(vals)
            if spec == ",d":
                cells.append(f"{int(lo):,}")
            else:
                cells.append(f"{fmt(lo, spec)} / {fmt(med, spec)}")
        print(f"{label:22}" + "".join(f"{c:>24}" for c in cells))
    if "TRL" in results and any("TRL" != n for n in names):
        print()
        print("ratios mmtune / TRL (medians)")
        for key, label, _, _ in keys[:-1]:
            base = [x[key] for x in results["TRL"] if x.get(key) is not None and not x.get("failed")]
            if not base:
                continue
            b = statistics.median(base)
            cells = []
            for n in names:
                if n == "TRL":
                    continue
                vals = [x[key] for x in results[n] if x.get(key) is not None and "eval_loss" in x]
                cells.append(f"{n}: {statistics.median(vals) / b:.2f}x" if vals and b else f"{n}: n/a")
            print(f"  {label:22} " + "  ".join(cells))
    for n in names:
        for x in results[n]:
            if x.get("unavailable"):
                print(f"{n}: not available ({x['unavailable']})")
                break


if __name__ == "__main__":
    main()
