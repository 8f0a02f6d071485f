"""The output folder before a run starts: what to resume from, and never a silent overwrite.

Checked before preprocessing or loading a model, so a wrong path costs seconds, not a run.

A checkpoint counts only once it is complete. The Trainer writes a ``checkpoint-N`` folder file by
file (weights, optimizer, scheduler, RNG states, ``trainer_state.json`` last); a run killed or out
of disk space midway leaves a folder that looks like a checkpoint. So after the Trainer finished a
checkpoint, mmtune's ``CheckpointMarker`` callback flushes its files to disk and writes
``mmtune_checkpoint.json`` beside them, listing every file and its size:

- ``resume: latest`` takes the newest checkpoint whose marker lists files that are all there with
  their sizes; newer folders without one are skipped with a warning (a later save of that step
  overwrites them).
- An explicit path with a marker must hold every file it lists (a size that changed is only a
  warning: a checkpoint asked for by name may have been edited on purpose).
- An explicit path without a marker is a checkpoint written by plain transformers (or by mmtune
  before markers existed): it is accepted, with a warning, when its ``trainer_state.json`` (the
  Trainer's last file) is there and reads as JSON, and refused otherwise. ``latest`` never picks
  such a folder on its own: nothing tells it from a save that stopped after ``trainer_state.json``
  but before its marker.

``out_of_space`` tells a full disk from other errors while saving, so that the run stops with one
line naming the folder instead of a traceback.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
from pathlib import Path

from mmtune.config import Config
from mmtune.errors import ConfigError

log = logging.getLogger("mmtune")

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
# Files a finished mmtune run leaves; their presence means the folder holds a run.
_RUN_FILES = ("mmtune_run.json", "train_metrics.json")
MARKER = "mmtune_checkpoint.json"
_TRAINER_STATE = "trainer_state.json"


def checkpoints(out_dir: Path) -> list[Path]:
    """``checkpoint-N`` folders of ``out_dir``, oldest first, complete or not."""
    if not out_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in out_dir.iterdir() if p.is_dir() and (m := _CHECKPOINT.match(p.name))]
    return [p for _, p in sorted(found)]


def _files(folder: Path) -> dict[str, int]:
    """Every file under ``folder`` (relative name -> size), the marker itself excepted."""
    return {
        str(p.relative_to(folder)): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MARKER and ".tmp-" not in p.name
    }


def mark_complete(folder: Path, step: int) -> None:
    """Flush every file of a finished checkpoint to disk, then write its marker (itself flushed and
    renamed into place, so a marker is never half-written). A full disk raises here, before the
    checkpoint is marked, because some filesystems (network ones, quotas) only report it on flush."""
    files = _files(folder)
    for name in files:
        fd = os.open(folder / name, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    tmp = folder / f"{MARKER}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"step": step, "files": files}, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / MARKER)


def incomplete_reason(folder: Path, sizes: bool = True) -> str | None:
    """Why ``folder`` is not a complete mmtune checkpoint, or None when it is (``sizes``: a file
    whose size changed since it was saved counts too)."""
    marker = folder / MARKER
    if not marker.is_file():
        return "no completion marker: the run stopped while saving it"
    try:
        listed = json.loads(marker.read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return f"its {MARKER} cannot be read"
    for name, size in listed.items():
        p = folder / name
        if not p.is_file():
            return f"{name} is missing"
        if sizes and p.stat().st_size != size:
            return f"{name} is {p.stat().st_size:,} bytes, not the {size:,} it had when saved"
    return None


def _latest_complete(out: Path) -> str:
    found = checkpoints(out)
    if not found:
        raise ConfigError(f"resume_from_checkpoint: true, but {out} has no checkpoint-N folder to resume from")
    skipped: list[str] = []
    for ckpt in reversed(found):
        why = incomplete_reason(ckpt)
        if why is None:
            if skipped:
                log.warning("skipping incomplete %s; resuming from %s", "; ".join(skipped), ckpt.name)
            return str(ckpt)
        skipped.append(f"{ckpt.name} ({why})")
    raise ConfigError(
        f"resume_from_checkpoint: true, but {out} has no complete checkpoint: {'; '.join(reversed(skipped))}. "
        "A checkpoint written by plain transformers has no marker: give it as `--resume PATH` to use it"
    )


def _explicit(path: Path) -> str:
    if not path.exists():
        raise ConfigError(f"resume_from_checkpoint {path} does not exist")
    if (path / MARKER).exists():
        why = incomplete_reason(path, sizes=False)
        if why:
            raise ConfigError(f"resume_from_checkpoint {path} is an incomplete checkpoint: {why}")
        changed = incomplete_reason(path)
        if changed:  # asked for by name: a file edited on purpose is the user's call
            log.warning("%s changed since it was saved (%s); resuming from it", path, changed)
        return str(path)
    state = path / _TRAINER_STATE
    try:
        json.loads(state.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"resume_from_checkpoint {path} is not a complete checkpoint folder (no {_TRAINER_STATE}, which the "
            "Trainer writes last: the run stopped while saving it, or it is not a checkpoint)"
        ) from None
    except (OSError, ValueError):
        raise ConfigError(
            f"resume_from_checkpoint {path} is an incomplete checkpoint: its {_TRAINER_STATE} is cut off"
        ) from None
    log.warning("%s has no mmtune completion marker (written by plain transformers?); resuming from it", path)
    return str(path)


def _free_bytes(folder: Path) -> int:
    """Room left for an unprivileged writer on the filesystem of ``folder`` (or its nearest parent)."""
    for p in (folder, *folder.parents):
        try:
            st = os.statvfs(p)
            return st.f_bavail * st.f_frsize
        except OSError:
            continue
    return 1 << 62


def out_of_space(e: BaseException, folder: Path | None) -> str | None:
    """Why ``e`` is a full disk ("no space left on device", naming a quota when it is one), or None.

    Python's own writes raise ``OSError`` ENOSPC / EDQUOT, but ``torch.save`` raises a bare
    ``RuntimeError`` of its C++ stream ("iostream error", no errno) and safetensors a
    ``SafetensorError`` naming the OS error. So the texts of ``e``'s chain count, and, when
    ``folder`` (what was being written) is given, a filesystem there with under 1 MiB left: check
    before freeing any space. Never that last test for an error outside a save, which a nearly full
    disk would otherwise hide.
    """
    chain: list[BaseException] = []
    x: BaseException | None = e
    while x is not None and x not in chain:
        chain.append(x)
        x = x.__cause__ or x.__context__
    codes = {c.errno for c in chain if isinstance(c, OSError)}
    text = " ".join(str(c) for c in chain)
    if errno.EDQUOT in codes or any(t in text for t in ("Disk quota exceeded", "os error 122")):
        return "no space left on device (disk quota exceeded)"
    if errno.ENOSPC in codes or any(t in text for t in ("No space left on device", "StorageFull", "os error 28")):
        return "no space left on device"
    if folder is not None and _free_bytes(folder) < 1 << 20:
        return "no space left on device"
    return None


def prepare_output_dir(cfg: Config) -> str | None:
    """The checkpoint to resume from (or None), after checking ``output_dir`` can take this run."""
    out = Path(cfg.output_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output_dir {out} is a file, not a folder")
    resume = cfg.resume_from_checkpoint
    if resume is True:
        return _latest_complete(out)
    if resume:
        return _explicit(Path(resume))
    old = checkpoints(out)
    held = [f for f in _RUN_FILES if (out / f).exists()]
    if old or held:
        if not cfg.overwrite_output_dir:
            what = f"{len(old)} checkpoint folder(s)" if old else "a finished run"
            raise ConfigError(
                f"output_dir {out} already holds {what}; resume it (`resume_from_checkpoint: true` or "
                "`mmtune train CONFIG --resume`), choose another output_dir, or set `overwrite_output_dir: true`"
            )
        for p in old:
            shutil.rmtree(p)
        log.warning("overwriting the run in %s (overwrite_output_dir: true)", out)
    return None
