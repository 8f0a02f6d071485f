"""``mmtune.tiny``: one recipe per family, one set of size names, and the ``mmtune tiny`` command."""

from __future__ import annotations

import inspect
import json
import logging

import pytest

from mmtune import tiny
from mmtune.cli import main
from mmtune.errors import MmtuneError
from mmtune.models.families import all_families, family_for_checkpoint
from mmtune.tiny import TinySizes, make_tiny, recipes


def test_every_family_has_a_recipe_and_every_recipe_a_family():
    assert set(recipes()) == set(all_families())


def test_recipes_take_out_dir_seed_and_sizes_only():
    for fid, fn in recipes().items():
        assert list(inspect.signature(fn).parameters) == ["out_dir", "seed", "sizes"], fid


def test_tiny_sizes_defaults_and_unknown_names():
    assert TinySizes() == TinySizes(hidden=64, layers=2, vision_dim=32, vision_layers=2, audio_dim=32, audio_layers=2)
    with pytest.raises(TypeError):
        TinySizes(vision_depth=2)  # the old name of vision_layers
    with pytest.raises(TypeError):
        TinySizes(image_size=64)  # a recipe constant, not a size
    with pytest.raises(AttributeError):  # frozen
        TinySizes().hidden = 32  # type: ignore[misc]


def test_cli_sizes_reach_the_config(tmp_path):
    out = tmp_path / "q"
    assert main(["tiny", "qwen2_vl", str(out), "--hidden", "32"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["text_config"]["hidden_size"] == 32
    assert cfg["mmtune_family"] == "qwen2_vl"
    assert family_for_checkpoint(str(out)).id == "qwen2_vl"


def test_unknown_family_is_a_clear_error(tmp_path, caplog):
    with pytest.raises(MmtuneError, match="unknown model family 'nope'; families with a tiny recipe: .*qwen2_vl"):
        make_tiny("nope", tmp_path / "n")
    with caplog.at_level(logging.ERROR, logger="mmtune"):
        assert main(["tiny", "nope", str(tmp_path / "n")]) == 2
    assert "unknown model family 'nope'" in caplog.text
    assert not (tmp_path / "n").exists()


def test_a_family_without_a_recipe_says_so(tmp_path, monkeypatch, capsys):
    recipes()  # import every recipe module first
    monkeypatch.delitem(tiny._RECIPES, "llava")
    with pytest.raises(MmtuneError, match="no tiny checkpoint recipe for family 'llava'"):
        make_tiny("llava", tmp_path / "l")
    assert main(["tiny", "--list"]) == 0
    listed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert set(listed) == set(all_families())
    assert "no tiny recipe" in listed["llava"] and "no tiny recipe" not in listed["qwen2_vl"]
