"""Running a ``RowProcessor`` over many tasks: in this process, or in spawned worker processes.

Workers pay off only for large jobs: starting a process that imports torch and loads the
processor costs seconds (see docs/benchmarks.md), so small jobs stay in one process.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from tqdm.auto import tqdm

from mmtune.config import Config
from mmtune.data.intake import RowTask
from mmtune.errors import DataError, MmtuneError
from mmtune.preprocess.rows import RowProcessor
from mmtune.preprocess.settings import PrepSettings

_WORKER: RowProcessor | None = None


def _exit_with_parent(parent: int) -> None:
    """Poll the parent process; when it is gone (killed with -9, say), end this worker instead of
    waiting forever on a task queue nobody will fill, holding a processor in memory."""
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="mmtune-parent-watch", daemon=True).start()


def _init_worker(settings: PrepSettings, threads: int, parent: int) -> None:
    global _WORKER
    import torch

    _exit_with_parent(parent)
    torch.set_num_threads(threads)
    _WORKER = RowProcessor(settings)


def _run_task(task: RowTask) -> dict | DataError:
    assert _WORKER is not None
    return _WORKER(task)


def default_workers(cfg: Config, n_rows: int) -> int:
    """Worker processes for ``n_rows`` rows: the config's choice, else 1 for small jobs
    (starting a process that imports torch and loads the processor costs 5-10 s), else up to 4."""
    return cfg.dataset_processes or (1 if n_rows < 2000 else min(4, os.cpu_count() or 1))


def process_rows(
    tasks: list[RowTask], settings: PrepSettings, workers: int = 1, processor: Any = None, desc: str = "preprocess"
) -> Iterator[dict | DataError]:
    """``RowProcessor`` over every task, in order, with a progress bar; in ``workers`` spawned
    processes when more than one (each loads the processor once). Shared by preprocessing and
    ``mmtune validate``."""
    if workers > 1:
        # An executor, not mp.Pool: a worker that dies (or fails to start) raises here instead
        # of being respawned forever.
        ctx = mp.get_context("spawn")
        try:
            with ProcessPoolExecutor(
                workers, mp_context=ctx, initializer=_init_worker, initargs=(settings, 1, os.getpid())
            ) as ex:
                results: Iterator = ex.map(_run_task, tasks, chunksize=8)
                yield from tqdm(results, total=len(tasks), desc=desc, unit="row", leave=False)
        except BrokenProcessPool:
            raise MmtuneError(
                "a preprocessing worker process died. If you call mmtune from a script, guard the entry point "
                "with `if __name__ == '__main__':` (worker processes re-import it); or set `dataset_processes: 1`"
            ) from None
    else:
        proc = RowProcessor(settings, processor)
        yield from tqdm(map(proc, tasks), total=len(tasks), desc=desc, unit="row", leave=False)
