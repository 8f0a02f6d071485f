"""Shared fixtures: tiny checkpoints are built once per test session and reused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# Small models on 2 cores run 20-60x faster on one thread (see shared notes).
torch.set_num_threads(1)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory):
    """``tiny_ckpt("qwen2_vl")`` -> path of a tiny checkpoint made by ``mmtune tiny``'s recipe."""
    from mmtune.tiny import make_tiny

    made: dict[str, Path] = {}
    root = tmp_path_factory.mktemp("tiny")

    def make(family_id: str) -> Path:
        if family_id not in made:
            out = root / family_id
            make_tiny(family_id, out)
            made[family_id] = out
        return made[family_id]

    return make
