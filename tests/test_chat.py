"""`mmtune chat` in a real terminal (a pty) and `mmtune predict`'s --system / --base / --model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from family_checks import one_media_conversation, run_training, write_two_images

from mmtune.cli import main
from mmtune.conversation import Message, TextPart
from mmtune.outputs.predict import Predictor

pexpect = pytest.importorskip("pexpect")

FAMILY = "qwen2_vl"
MMTUNE = str(Path(sys.executable).with_name("mmtune"))


@pytest.fixture(scope="module")
def trained(tiny_ckpt, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chat")
    a, _ = write_two_images(tmp)
    # enough steps at a high rate that the tiny model answers "red" (an empty answer would prove nothing)
    rows = [one_media_conversation("image", a, "What color is it?", "red")] * 2
    result = run_training(tiny_ckpt(FAMILY), rows, tmp, max_steps=16, learning_rate=2e-2, saves_per_epoch=0)
    return result.output_dir, tmp / a


def test_chat_in_a_terminal_streams_answers_with_history(trained, tmp_path):
    out, image = trained
    pred = Predictor(out)
    first = pred.generate("What color is it?", images=[str(image)], max_new_tokens=4)
    user = pred.conversation("What color is it?", images=[str(image)]).messages[-1]
    history = [user, Message("assistant", [TextPart(first)])]
    second = pred.answer(pred.conversation("And now?", history=history), max_new_tokens=4)
    assert first == "red" and second

    env = {"TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1", "PATH": str(Path(sys.executable).parent)}
    child = pexpect.spawn(
        MMTUNE, ["chat", str(out), "--max-new-tokens", "4"], cwd=str(tmp_path), env=env, encoding="utf-8", timeout=120
    )
    try:
        child.expect_exact("you> ")
        child.sendline("/audio beep.wav")
        child.expect_exact("this model (qwen2_vl) takes no audio; it takes: image, video")
        child.sendline("/image nowhere.png")
        child.expect_exact("no such file: nowhere.png")
        child.sendline(f"/image {image}")
        child.expect_exact("attached image a.png to your next message")
        child.expect_exact("you> ")
        child.sendline("What color is it?")
        child.expect_exact("model> ")
        child.expect_exact("you> ")
        # the streamed answer is the one predict gives for the same image and question
        assert child.before.strip() == first
        child.sendline("And now?")  # a second turn: the first one is the history
        child.expect_exact("model> ")
        child.expect_exact("you> ")
        assert child.before.strip() == second
        child.sendline("/reset")
        child.expect_exact("conversation cleared")
        child.sendline("/quit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0


def test_predict_system_base_and_plain_checkpoint(trained, tiny_ckpt, capsys):
    out, image = trained
    args = ["--image", str(image), "--prompt", "What color is it?", "--max-new-tokens", "4"]
    pred = Predictor(out)
    with_system = pred.generate("What color is it?", images=[str(image)], max_new_tokens=4, system="Be terse.")
    assert (
        pred.inputs(pred.conversation("q", system="Be terse."))["input_ids"].shape[1]
        > pred.inputs(pred.conversation("q"))["input_ids"].shape[1]
    )  # the system message reaches the prompt
    capsys.readouterr()
    assert main(["predict", str(out), *args, "--system", "Be terse."]) == 0
    assert capsys.readouterr().out == with_system + "\n"  # only the answer on stdout

    # --base: the run's base model, prompted through the run's preprocessing (before/after comparisons)
    base = Predictor.of_base(out)
    assert base.settings == pred.settings and base.model.__class__.__name__ == "Qwen2VLForConditionalGeneration"
    before = base.generate("What color is it?", images=[str(image)], max_new_tokens=4)
    assert before != pred.generate("What color is it?", images=[str(image)], max_new_tokens=4)  # "red"
    assert main(["predict", str(out), "--base", *args]) == 0
    assert capsys.readouterr().out == before + "\n"

    # --model: a plain checkpoint with no run card, its family read from config.json
    assert main(["predict", "--model", str(tiny_ckpt(FAMILY)), *args]) == 0
    assert capsys.readouterr().out == before + "\n"  # the same weights and template as the run's base


def test_predict_and_chat_refuse_a_folder_that_is_not_an_output(tmp_path, caplog):
    for cmd in ("predict", "chat"):
        extra = ["--prompt", "hi"] if cmd == "predict" else []
        assert main([cmd, str(tmp_path), *extra]) == 2
        assert caplog.records[-1].getMessage() == f"{tmp_path} is not an mmtune output folder (no mmtune_run.json)"
    assert main(["predict", "--prompt", "hi"]) == 2
    assert caplog.records[-1].getMessage() == (
        "usage: mmtune predict OUTPUT_DIR [--base], or mmtune predict --model CHECKPOINT"
    )
