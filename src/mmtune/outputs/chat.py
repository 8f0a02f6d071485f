"""``mmtune chat``: talk to a trained output in the terminal, with images, audio and video.

Every turn goes through ``Predictor`` (outputs/predict.py), so the prompt is decoded and encoded
exactly as the training rows were (the run card's template, system-message policy and media
settings). The whole conversation is sent again at each turn: the model sees the history the
way a multi-turn training row shows it. Tokens are printed as they are generated.

A mistake at the prompt (a missing file, a modality the model has no encoder for, media the
decoder refuses) costs one line and the conversation goes on; nothing here ends in a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from transformers import TextStreamer

from mmtune.conversation import Conversation, MediaPart, MediaRef, Message, TextPart
from mmtune.errors import MmtuneError
from mmtune.outputs.predict import Predictor

HELP = (
    "commands: /image PATH, /audio PATH, /video PATH (attach to your next message), "
    "/system TEXT (empty: none), /reset (forget the conversation), /quit"
)
_MEDIA = {"/image": "image", "/audio": "audio", "/video": "video"}
PROMPT = "you> "
ANSWER = "model> "


class _Streamer(TextStreamer):
    """transformers' TextStreamer, writing to the session's stream (a pty, a test's buffer)."""

    def __init__(self, tokenizer: Any, out: TextIO):
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self.out = out

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        self.out.write(text + ("\n" if stream_end else ""))
        self.out.flush()


class ChatSession:
    """The state of one chat: system message, history, media waiting for the next user message."""

    def __init__(
        self, predictor: Predictor, system: str | None = None, max_new_tokens: int = 256, out: TextIO = sys.stdout
    ):
        self.predictor = predictor
        self.system = system
        self.max_new_tokens = max_new_tokens
        self.out = out
        self.history: list[Message] = []
        self.pending: list[MediaPart] = []

    def say(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def handle(self, line: str) -> bool:
        """Act on one input line; False when the chat should end."""
        line = line.strip()
        if not line:
            return True
        if not line.startswith("/"):
            self.ask(line)
            return True
        cmd, _, arg = line.partition(" ")
        arg = arg.strip()
        if cmd in ("/quit", "/exit"):
            return False
        if cmd in _MEDIA:
            self.attach(_MEDIA[cmd], arg)
        elif cmd == "/system":
            self.system = arg or None
            self.say(f"system message set: {arg}" if arg else "system message cleared")
        elif cmd == "/reset":
            self.history, self.pending = [], []
            self.say("conversation cleared" + (" (the system message stays)" if self.system else ""))
        elif cmd == "/help":
            self.say(HELP)
        else:
            self.say(f"unknown command {cmd}; {HELP}")
        return True

    def attach(self, kind: str, arg: str) -> None:
        family = self.predictor.family
        if kind not in family.modalities:
            takes = ", ".join(sorted(family.modalities))
            self.say(f"this model ({family.id}) takes no {kind}; it takes: {takes}")
            return
        if not arg:
            self.say(f"usage: /{kind} PATH")
            return
        path = Path(arg).expanduser()
        if not path.is_file():
            self.say(f"no such file: {arg}")
            return
        self.pending.append(MediaPart(kind, MediaRef(path=str(path.resolve()))))
        self.say(f"attached {kind} {path.name} to your next message")

    def ask(self, text: str) -> str | None:
        """Send a user message (with the attached media) and stream the answer; None when refused."""
        user = Message("user", [*self.pending, TextPart(text)])
        head = [Message("system", [TextPart(self.system)])] if self.system else []
        conv = Conversation([*head, *self.history, user])
        self.out.write(ANSWER)
        self.out.flush()
        try:
            reply = self.predictor.answer(
                conv, self.max_new_tokens, streamer=_Streamer(self.predictor.tokenizer, self.out)
            )
        except MmtuneError as e:  # a DataError from decoding (an unreadable image, a video too long, ...)
            self.say(f"\nnot sent: {e}")
            self.pending = []
            return None
        self.history += [user, Message("assistant", [TextPart(reply)])]
        self.pending = []
        return reply


def chat(
    predictor: Predictor,
    system: str | None = None,
    max_new_tokens: int = 256,
    read: Callable[[str], str] = input,
    out: TextIO = sys.stdout,
) -> int:
    """The interactive loop: read lines until /quit or end of input; returns the exit status."""
    try:
        import readline  # noqa: F401 - line editing and history for input(), where the platform has it
    except ImportError:
        pass
    session = ChatSession(predictor, system, max_new_tokens, out)
    session.say(f"chatting with {predictor.family.id} ({', '.join(sorted(predictor.family.modalities))}); {HELP}")
    while True:
        try:
            line = read(PROMPT)
        except (EOFError, KeyboardInterrupt):
            session.say("")
            return 0
        if not session.handle(line):
            return 0
