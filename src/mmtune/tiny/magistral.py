"""Magistral's tiny checkpoint: Mistral-Small-3.1's recipe with a tekken v13 file that has the
``[THINK]`` / ``[/THINK]`` control tokens."""

from __future__ import annotations

from pathlib import Path

from mmtune.tiny import TinySizes, recipe
from mmtune.tiny.mistral_small_3_1 import build
from mmtune.tiny.tekken import V7_SPECIALS

V13_SPECIALS = {**V7_SPECIALS, 34: "[THINK]", 35: "[/THINK]"}


@recipe("magistral")
def magistral(out_dir: Path, seed: int, sizes: TinySizes) -> None:
    build("magistral", out_dir, seed, sizes, "v13", V13_SPECIALS)
