"""The ``mmtune`` command line: thin wrappers over the library's stages."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import sys
from pathlib import Path
from typing import Any

from mmtune.errors import MmtuneError

log = logging.getLogger("mmtune")


def _setup_logging(verbose: bool) -> None:
    from rich.console import Console
    from rich.logging import RichHandler

    # Logs on stderr, results on stdout (`mmtune inspect --json > rows.json` stays clean).
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=Console(stderr=True), show_path=False, show_time=False, rich_tracebacks=False)],
    )
    for noisy in ("httpx", "urllib3", "datasets", "filelock", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    import warnings

    import transformers

    transformers.logging.set_verbosity_error()
    # peft still reads the pre-5.0 name of this property; the warning is noise for our users.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    import datasets

    datasets.disable_progress_bars()


def cmd_tiny(a: argparse.Namespace) -> int:
    from dataclasses import fields

    from mmtune.models.families import all_families
    from mmtune.tiny import TinySizes, make_tiny, recipes

    if a.list or not a.family:
        have = recipes()
        for fid, fam in all_families().items():
            recipe = "tiny recipe" if fid in have else "no tiny recipe"
            print(f"{fid:20s} {', '.join(sorted(fam.modalities)):20s} {recipe:15s} {fam.hub_example}")
        return 0
    if not a.dir:
        raise MmtuneError("usage: mmtune tiny FAMILY DIR")
    sizes = TinySizes(**{f.name: getattr(a, f.name) for f in fields(TinySizes) if getattr(a, f.name) is not None})
    make_tiny(a.family, Path(a.dir), seed=a.seed, sizes=sizes)
    print(f"wrote a tiny {a.family} checkpoint to {a.dir}")
    return 0


def cmd_preprocess(a: argparse.Namespace) -> int:
    from mmtune.config import load_config
    from mmtune.preprocess.cache import prepare
    from mmtune.preprocess.settings import settings_from_config

    cfg = load_config(a.config)
    settings, processor = settings_from_config(cfg)
    prep = prepare(cfg, settings, processor=processor, rebuild=a.rebuild, verify=a.verify)
    st = prep.stats()
    print(("reused cached preprocessing: " if prep.reused else "preprocessed: ") + str(prep.cache_dir))
    for k, v in st.items():
        print(f"{k:18s} {v}")
    for e in prep.report.errors:
        print(f"  dropped: {e}")
    return 0


def cmd_inspect(a: argparse.Namespace) -> int:
    from mmtune.config import load_config
    from mmtune.preprocess.preview import preview_rows

    rows = preview_rows(load_config(a.config), rows=a.rows, pieces=not a.json)
    if a.json:
        print(json.dumps([r.to_dict() for r in rows]))
    else:
        from mmtune.views import print_rows, result_console

        print_rows(rows, result_console())
    return 0


def _train_argv(a: argparse.Namespace) -> list[str]:
    """``mmtune train`` arguments for each launched process: these ones, less the launch flags."""
    argv = ["-v"] if a.verbose else []
    argv += ["train", str(Path(a.config).resolve())]
    argv += ["--rebuild"] * a.rebuild + ["--verify"] * a.verify
    if a.resume is not None:
        argv += ["--resume", a.resume if a.resume == "latest" else str(Path(a.resume).resolve())]
    return argv


def cmd_train(a: argparse.Namespace) -> int:
    from mmtune.config import load_config
    from mmtune.train.distributed import (
        check_distributed,
        is_main_process,
        launch,
        launch_argv,
        resolve_deepspeed_path,
    )

    cfg = resolve_deepspeed_path(load_config(a.config), Path(a.config).resolve().parent)
    if a.num_processes is not None or a.num_machines > 1:
        procs = a.num_processes or 1
        check_distributed(cfg, procs)  # a config error once here, not once per process
        argv = launch_argv(
            _train_argv(a), procs, a.num_machines, a.machine_rank, a.main_process_ip, a.main_process_port
        )
        return launch(argv)
    if not is_main_process():  # one process speaks for a distributed run; the others only warn
        logging.getLogger("mmtune").setLevel(logging.WARNING)
    from mmtune.train.recipe import train

    if a.resume is not None:
        # `--resume` alone or `--resume latest`: the newest checkpoint in output_dir; else a folder
        cfg = cfg.model_copy(
            update={"resume_from_checkpoint": True if a.resume == "latest" else str(Path(a.resume).resolve())}
        )
    result = train(cfg, rebuild=a.rebuild, verify=a.verify)
    if is_main_process():
        print(json.dumps(result.metrics, indent=2))
        print(f"saved to {result.output_dir}")
    return 0


def _predictor(a: argparse.Namespace) -> Any:  # a Predictor (mmtune.outputs.predict), imported lazily
    """The model ``predict`` / ``chat`` talk to: an output folder (its base model with ``--base``) or a
    plain checkpoint (``--model``)."""
    from mmtune.outputs.predict import Predictor

    if a.model:
        if a.output_dir or a.base:
            raise MmtuneError("--model takes a plain checkpoint instead of OUTPUT_DIR (and has no --base)")
        return Predictor.of_checkpoint(a.model)
    if not a.output_dir:
        raise MmtuneError(f"usage: mmtune {a.cmd} OUTPUT_DIR [--base], or mmtune {a.cmd} --model CHECKPOINT")
    return Predictor.of_base(a.output_dir) if a.base else Predictor(a.output_dir)


def cmd_predict(a: argparse.Namespace) -> int:
    pred = _predictor(a)
    media = {"images": a.image or [], "audio": a.audio or [], "videos": a.video or []}
    # stdout holds the answer only (logs go to stderr), so `mmtune predict ... > answer.txt` works
    print(pred.generate(a.prompt, **media, max_new_tokens=a.max_new_tokens, system=a.system))
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    from mmtune.outputs.evaluate import evaluate_output, metrics_table

    metrics = [m.strip() for m in a.metrics.split(",") if m.strip()] if a.metrics else None
    results = evaluate_output(a.output_dir, a.data, a.base, metrics, a.max_samples, a.max_new_tokens)
    print(metrics_table(results))
    return 0


def cmd_merge(a: argparse.Namespace) -> int:
    from mmtune.outputs.merge import merge_output

    print(f"merged model saved to {merge_output(a.output_dir, a.to, a.dtype)}")
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    from mmtune.outputs.report import write_report

    print(write_report(a.output_dir))
    return 0


def cmd_chat(a: argparse.Namespace) -> int:
    from mmtune.outputs.chat import chat

    return chat(_predictor(a), system=a.system, max_new_tokens=a.max_new_tokens)


def cmd_export(a: argparse.Namespace) -> int:
    from mmtune.config import load_config
    from mmtune.export.run import export

    print(export(load_config(a.config), a.to, Path(a.out), a.media_uri_prefix, a.split_validation).summary())
    return 0


def cmd_validate(a: argparse.Namespace) -> int:
    from mmtune.config import load_config
    from mmtune.preprocess.validate import validate
    from mmtune.views import print_report, result_console

    if a.for_provider:  # a hosted provider's rules (docs/exports.md): nothing is tokenized or written
        from mmtune.export.run import check_export

        report = check_export(load_config(a.config), a.for_provider)
        print(report.summary())
    else:
        report = validate(load_config(a.config), workers=a.workers)
        print_report(report, result_console())
    if a.report:
        out = Path(a.report)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")
    return 1 if report.problems else 0


def cmd_quickstart(a: argparse.Namespace) -> int:
    from mmtune.quickstart.run import run_quickstart

    return run_quickstart(a.config, a.output_dir)


def cmd_fetch(a: argparse.Namespace) -> int:
    from mmtune.examples import copy_examples

    if a.what != "examples":
        raise MmtuneError(f"nothing called {a.what!r} to fetch; try: mmtune fetch examples [DIR]")
    dest = copy_examples(Path(a.dir))
    print(f"copied example configs to {dest}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mmtune", description="Fine-tune multimodal models from one YAML file.")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("train", help="fine-tune a model")
    s.add_argument("config")
    s.add_argument(
        "--rebuild", "--no-cache", action="store_true", help="preprocess again even when the cache is current"
    )
    s.add_argument(
        "--verify",
        action="store_true",
        help="before reusing the cache, compare every media file's content too (not only size and time)",
    )
    s.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        default=None,
        metavar="PATH|latest",
        help="resume from a checkpoint-N folder, or (no value / latest) the newest one in output_dir",
    )
    launch = s.add_argument_group("several processes (docs/distributed.md); each starts `mmtune train` again")
    launch.add_argument("--num-processes", type=int, default=None, help="processes (GPUs) per machine")
    launch.add_argument("--num-machines", type=int, default=1, help="machines of the job (default 1)")
    launch.add_argument("--machine-rank", type=int, default=0, help="this machine's rank, 0 to num-machines - 1")
    launch.add_argument("--main-process-ip", default=None, help="address of machine 0 (several machines)")
    launch.add_argument("--main-process-port", type=int, default=None, help="port on machine 0 (default 29500)")
    s.set_defaults(fn=cmd_train)

    s = sub.add_parser("preprocess", help="preprocess and cache the datasets, print counts")
    s.add_argument("config")
    s.add_argument(
        "--rebuild", "--no-cache", action="store_true", help="preprocess again even when the cache is current"
    )
    s.add_argument(
        "--verify",
        action="store_true",
        help="before reusing the cache, compare every media file's content too (not only size and time)",
    )
    s.set_defaults(fn=cmd_preprocess)

    s = sub.add_parser("inspect", help="show preprocessed rows with supervised tokens highlighted")
    s.add_argument("config")
    s.add_argument("--rows", type=int, default=3)
    s.add_argument("--json", action="store_true", help="print a JSON list of rows")
    s.set_defaults(fn=cmd_inspect)

    s = sub.add_parser("validate", help="check every row of every dataset without training")
    s.add_argument("config")
    s.add_argument("--report", help="write a JSON report here")
    s.add_argument("--workers", type=int, default=None)
    hosted = ("openai", "azure", "together", "fireworks", "gemini", "nova")  # docs/exports.md
    s.add_argument("--for", dest="for_provider", choices=hosted, help="check against a hosted provider's rules instead")
    s.set_defaults(fn=cmd_validate)

    s = sub.add_parser("export", help="write the datasets in a hosted provider's fine-tuning format (docs/exports.md)")
    s.add_argument("config")
    s.add_argument("--to", required=True, choices=hosted, help="the provider whose format and rules to use")
    s.add_argument("--out", required=True, help="folder for train.jsonl, validation.jsonl, media/ and the report")
    s.add_argument("--media-uri-prefix", metavar="URI", help="where OUT/media/ is uploaded (gs://, s3://, https://)")
    s.add_argument("--split-validation", type=float, default=0.0, metavar="FRACTION", help="share for validation.jsonl")
    s.set_defaults(fn=cmd_export)

    def model_args(s: argparse.ArgumentParser) -> None:
        s.add_argument("output_dir", nargs="?", help="an mmtune output folder (or a merged one)")
        s.add_argument(
            "--base", action="store_true", help="the output's base model, prompted as the trained one (before/after)"
        )
        s.add_argument("--model", help="a plain checkpoint folder or hub name instead of an output folder")
        s.add_argument("--system", help="a system message (default: the run's default_system_message)")
        s.add_argument("--max-new-tokens", type=int, default=64)

    s = sub.add_parser("evaluate", help="score an output (or its base model) on held-out rows (docs/evaluate.md)")
    s.add_argument("output_dir", help="an mmtune output folder")
    s.add_argument("--data", help="a data file or config YAML (default: the run's held-out rows)")
    s.add_argument("--base", action="store_true", help="evaluate the run's base model, prompted as the trained one")
    s.add_argument("--metrics", help="comma-separated: exact_match,accuracy,rouge_l,bleu,cer,wer,anls")
    s.add_argument("--max-samples", type=int, help="evaluate at most this many rows (default: eval_max_samples)")
    s.add_argument("--max-new-tokens", type=int, help="tokens per answer at most (default: eval_max_new_tokens)")
    s.set_defaults(fn=cmd_evaluate)

    s = sub.add_parser("predict", help="generate one answer with a trained output (printed alone on stdout)")
    model_args(s)
    s.add_argument("--image", action="append", help="an image path (repeatable)")
    s.add_argument("--audio", action="append", help="an audio file (repeatable)")
    s.add_argument("--video", action="append", help="a video file (repeatable)")
    s.add_argument("--prompt", required=True)
    s.set_defaults(fn=cmd_predict)

    s = sub.add_parser(
        "chat",
        help="chat with a trained output in the terminal (/image /audio /video PATH, /system, /reset, /quit)",
    )
    model_args(s)
    s.set_defaults(fn=cmd_chat)

    s = sub.add_parser("merge", help="merge a LoRA output's adapter into its base weights (one loadable folder)")
    s.add_argument("output_dir", help="an mmtune output folder with a LoRA adapter")
    s.add_argument("--to", default=None, help="where to save the merged model (default: OUTPUT_DIR/merged)")
    s.add_argument(
        "--dtype", choices=["bf16", "fp16", "fp32"], default=None, help="weights' dtype (default: the run's)"
    )
    s.set_defaults(fn=cmd_merge)

    s = sub.add_parser("report", help="rebuild OUTPUT_DIR/report.html from the run's files; prints its path")
    s.add_argument("output_dir", help="a folder `mmtune train` wrote")
    s.set_defaults(fn=cmd_report)

    s = sub.add_parser("tiny", help="write a tiny random checkpoint of a model family")
    s.add_argument("family", nargs="?")
    s.add_argument("dir", nargs="?")
    s.add_argument("--list", action="store_true", help="list the families and whether each has a tiny recipe")
    s.add_argument("--seed", type=int, default=0)
    for name, what in (
        ("hidden", "language model hidden size"),
        ("layers", "language model layers"),
        ("vision-dim", "vision tower width"),
        ("vision-layers", "vision tower layers"),
        ("audio-dim", "audio encoder width"),
        ("audio-layers", "audio encoder layers"),
    ):
        s.add_argument(f"--{name}", type=int, default=None, help=f"{what} (where the family has one)")
    s.set_defaults(fn=cmd_tiny)

    s = sub.add_parser("quickstart", help="train the built-in tiny VQA example and report accuracy")
    s.add_argument("--config", default=None, help="default: the packaged examples/quickstart.yaml")
    s.add_argument("--output-dir", default=None)
    s.set_defaults(fn=cmd_quickstart)

    s = sub.add_parser("fetch", help="copy packaged files out, e.g. `mmtune fetch examples DIR`")
    s.add_argument("what")
    s.add_argument("dir", nargs="?", default="examples")
    s.set_defaults(fn=cmd_fetch)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return args.fn(args) or 0
    except MmtuneError as e:
        log.error(str(e))
        return 2
    except OSError as e:
        # A full disk or quota wherever the library did not name the folder itself: still one line.
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        why = "no space left on device" + (" (disk quota exceeded)" if e.errno == errno.EDQUOT else "")
        log.error(f"{why} while writing {e.filename}" if e.filename else why)
        return 2


if __name__ == "__main__":
    sys.exit(main())
