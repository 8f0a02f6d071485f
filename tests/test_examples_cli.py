"""Packaged example configs, `mmtune fetch examples`, `mmtune tiny`."""

from __future__ import annotations

from importlib import resources

from mmtune.cli import main
from mmtune.models.families import all_families, family_for_checkpoint

EXAMPLES = sorted(
    p.name for p in resources.files("mmtune.examples").iterdir() if p.is_dir() and p.name != "__pycache__"
)


def test_every_seed_family_has_an_example():
    seed = {
        "mllama",
        "llama4",
        "pixtral",
        "llava",
        "mistral_small_3_1",
        "magistral",
        "voxtral",
        "gemma3",
        "gemma3n",
        "qwen2_vl",
        "qwen2_5_vl",
        "smolvlm2",
        "lfm2_vl",
    }
    assert seed <= set(EXAMPLES)
    assert seed <= set(all_families())


def test_fetch_examples_copies_them_out(tmp_path, capsys):
    dest = tmp_path / "ex"
    assert main(["fetch", "examples", str(dest)]) == 0
    assert (dest / "quickstart.yaml").exists()
    assert {p.name for p in dest.iterdir() if p.is_dir()} == set(EXAMPLES)
    assert main(["fetch", "examples", str(dest)]) == 2  # never overwrites


def test_tiny_cli_lists_and_writes(tmp_path, capsys):
    assert main(["tiny", "--list"]) == 0
    listed = capsys.readouterr().out
    assert all(fid in listed for fid in all_families())
    assert main(["tiny", "qwen2_vl", str(tmp_path / "q")]) == 0
    assert family_for_checkpoint(str(tmp_path / "q")).id == "qwen2_vl"
    assert main(["tiny", "nope", str(tmp_path / "n")]) == 2
