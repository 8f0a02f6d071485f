"""The media trust boundary (data/media/trust.py): what a row may read and fetch."""

from __future__ import annotations

import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from family_checks import tiny_config, write_jsonl
from PIL import Image

from mmtune.conversation import Conversation, MediaPart, MediaRef, Message, TextPart
from mmtune.data.documents import expand_documents
from mmtune.data.media import MediaSettings, decode_media
from mmtune.errors import DataError

S = MediaSettings()


def _png(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), "red").save(path)
    return path


def _refused(match: str):
    return pytest.raises(DataError, match=match)


def test_relative_names_stay_inside_their_folder(tmp_path):
    data = tmp_path / "data"
    _png(data / "ok.png")
    _png(tmp_path / "outside.png")
    assert decode_media(MediaPart("image", MediaRef(path="ok.png", base_dir=str(data))), S).size == (8, 8)
    with _refused(r"^\?: image '\.\./outside\.png' refused: a relative media name must stay inside .*/data$"):
        decode_media(MediaPart("image", MediaRef(path="../outside.png", base_dir=str(data))), S)
    os.symlink(tmp_path / "outside.png", data / "link.png")  # a link inside that points out
    with _refused(r"^\?: image 'link\.png' refused: a relative media name must stay inside"):
        decode_media(MediaPart("image", MediaRef(path="link.png", base_dir=str(data))), S)


def test_documents_follow_the_same_rule(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "secret.md").write_text("not for training")
    conv = Conversation(
        [
            Message(
                "user",
                [
                    MediaPart("document", MediaRef(path="../secret.md", base_dir=str(tmp_path / "data"))),
                    TextPart("Summarize"),
                ],
            ),
            Message("assistant", [TextPart("ok")]),
        ]
    )
    with _refused(r"^\?: document '\.\./secret\.md' refused: a relative media name must stay inside"):
        expand_documents(conv, S)


def test_absolute_paths_only_under_media_roots_when_set(tmp_path):
    img = _png(tmp_path / "pool" / "a.png")
    other = _png(tmp_path / "elsewhere" / "b.png")
    assert decode_media(MediaPart("image", MediaRef(path=str(other))), S).size == (8, 8)  # no roots: allowed
    roots = MediaSettings(media_roots=(str(tmp_path / "pool"),))
    assert decode_media(MediaPart("image", MediaRef(path=str(img))), roots).size == (8, 8)
    with _refused(r"absolute media paths must lie under media_roots \(.*/pool\)$"):
        decode_media(MediaPart("image", MediaRef(path=str(other))), roots)


@pytest.fixture
def loopback_server():
    hits = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    httpd.shutdown()


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),  # cloud metadata service
        ("http://10.0.0.7/a.png", "10.0.0.7"),
        ("HTTP://[::1]/a.png", "::1"),
        ("http://224.0.0.1/a.png", "224.0.0.1"),
    ],
)
def test_private_addresses_are_refused_without_a_request(url, address, tmp_path):
    s = MediaSettings(url_cache_dir=str(tmp_path / "urls"))
    with _refused(rf"resolves to a non-public address \({address.replace('.', '[.]')}\); set `allow_private_urls"):
        decode_media(MediaPart("image", MediaRef(url=url)), s)


def test_loopback_is_refused_unless_allowed(loopback_server, tmp_path):
    base, hits = loopback_server
    s = MediaSettings(url_cache_dir=str(tmp_path / "urls"), url_retries=0)
    with _refused(r"127\.0\.0\.1 resolves to a non-public address"):
        decode_media(MediaPart("image", MediaRef(url=f"{base}/a.png")), s)
    assert hits == []  # refused before any request
    host = socket.gethostname()
    if any(ip.startswith("127.") for *_, (ip, *_) in socket.getaddrinfo(host, None, socket.AF_INET)):
        with _refused("resolves to a non-public address"):
            decode_media(MediaPart("image", MediaRef(url=f"http://{host}/a.png")), s)


def test_a_csv_files_cell_cannot_escape_media_dir(tiny_ckpt, tmp_path):
    """The defect behind the rule: a `files` cell of `../../x` read a file outside media_dir."""
    from mmtune.config import parse_config
    from mmtune.preprocess.validate import validate

    _png(tmp_path / "media" / "ok.png")
    _png(tmp_path / "x.png")
    (tmp_path / "t.csv").write_text("prompt,completion,files\nColor?,red,ok.png\nColor?,red,../x.png\n")
    dummy = write_jsonl(tmp_path / "d.jsonl", [{"messages": []}])
    cfg = tiny_config(tiny_ckpt("qwen2_vl"), dummy, tmp_path).model_dump(mode="json")
    cfg["datasets"] = [
        {"path": str(tmp_path / "t.csv"), "type": "prompt_completion", "media_dir": str(tmp_path / "media")}
    ]
    report = validate(parse_config(cfg), workers=1)
    assert [(p["row"], p["error"].split(":")[0]) for p in report.problems] == [(1, "image '../x.png' refused")]
    assert report.rows_ok == 1
    assert json.dumps(report.to_dict())  # the report stays serialisable
