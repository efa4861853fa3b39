"""Explicit fetch against an HTTP server on loopback that the tests start (Range, drops)."""

from __future__ import annotations

import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from layersynth.assets import fetch as fe
from layersynth.assets import lockfile as ds
from lockfiles import CLIPS, fake_copy, sha, write_lock


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        srv = self.server
        name = self.path.lstrip("/")
        srv.seen.append((name, self.headers.get("Range")))
        data = srv.files.get(name)
        if data is None:
            self.send_error(404)
            return
        start = 0
        if self.headers.get("Range") and srv.honour_range:
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = srv.drop_after.pop(name, None)
        self.wfile.write(body if cut is None else body[:cut])
        if cut is not None:
            self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.seen, srv.drop_after, srv.honour_range = {}, [], {}, True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()




def test_fetch_downloads_verifies_and_leaves_no_partial_files(tmp_path, server):
    server.files.update(CLIPS)
    spec = ds.get_spec("videos", write_lock(tmp_path / "l.json", "videos", CLIPS,
                                            base_url=server.url))
    done = fe.fetch(spec, tmp_path / "root")
    assert sorted(done["fetched"]) == sorted(CLIPS)
    assert ds.verify(spec, tmp_path / "root").sound
    assert not list((tmp_path / "root").rglob("*.part"))
    again = fe.fetch(spec, tmp_path / "root")
    assert sorted(again["kept"]) == sorted(CLIPS) and len(server.seen) == len(CLIPS)


def test_fetch_resumes_with_a_range_request_after_the_connection_drops(tmp_path, server):
    server.files.update(CLIPS)
    server.drop_after["sub/b.mp4"] = 1000
    spec = ds.get_spec("videos", write_lock(tmp_path / "l.json", "videos", CLIPS,
                                            base_url=server.url))
    fe.fetch(spec, tmp_path / "root", only=["sub/b.mp4"])
    assert (tmp_path / "root" / "sub" / "b.mp4").read_bytes() == CLIPS["sub/b.mp4"]
    assert server.seen == [("sub/b.mp4", None), ("sub/b.mp4", "bytes=1000-")]


def test_fetch_continues_a_partial_file_left_by_an_earlier_run(tmp_path, server):
    server.files.update(CLIPS)
    spec = ds.get_spec("videos", write_lock(tmp_path / "l.json", "videos", CLIPS,
                                            base_url=server.url))
    fake_copy(tmp_path / "root", {"a.mp4.part": CLIPS["a.mp4"][:1234]})
    fe.fetch(spec, tmp_path / "root", only=["a.mp4"])
    assert server.seen == [("a.mp4", "bytes=1234-")]
    assert (tmp_path / "root" / "a.mp4").read_bytes() == CLIPS["a.mp4"]


def test_fetch_starts_over_when_the_server_ignores_range(tmp_path, server):
    server.files.update(CLIPS)
    server.honour_range = False
    spec = ds.get_spec("videos", write_lock(tmp_path / "l.json", "videos", CLIPS,
                                            base_url=server.url))
    fake_copy(tmp_path / "root", {"a.mp4.part": b"garbage"})
    fe.fetch(spec, tmp_path / "root", only=["a.mp4"])
    assert (tmp_path / "root" / "a.mp4").read_bytes() == CLIPS["a.mp4"]


def test_fetch_refuses_bytes_that_do_not_match_the_lock(tmp_path, server):
    server.files.update({**CLIPS, "c.mp4": b"xx" * 700})  # right size, wrong content
    spec = ds.get_spec("videos", write_lock(tmp_path / "l.json", "videos", CLIPS,
                                            base_url=server.url))
    with pytest.raises(fe.FetchError, match="sha256"):
        fe.fetch(spec, tmp_path / "root", only=["c.mp4"])
    assert not (tmp_path / "root" / "c.mp4").exists()
    assert not (tmp_path / "root" / "c.mp4.part").exists()


def test_fetch_extracts_listed_members_of_a_verified_archive(tmp_path, server):
    buf = tmp_path / "pkg.zip"
    with zipfile.ZipFile(buf, "w") as zf:
        for rel, data in CLIPS.items():
            zf.writestr(f"pkg/data/{rel}", data)
        zf.writestr("pkg/other.py", "print()")
    blob = buf.read_bytes()
    server.files["pkg.zip"] = blob
    archive = {"url": f"{server.url}/pkg.zip", "path": "pkg.zip", "size": len(blob),
               "sha256": sha(blob), "md5": "unknown",
               "members": {f"pkg/data/{rel}": rel for rel in CLIPS}}
    spec = ds.get_spec("videos", write_lock(tmp_path / "l.json", "videos", CLIPS,
                                            archives=[archive]))
    done = fe.fetch(spec, tmp_path / "root")
    assert sorted(done["fetched"]) == sorted(CLIPS)
    report = ds.verify(spec, tmp_path / "root")
    assert report.sound and not report.extra  # the archive itself was removed


def test_fetch_of_a_gated_dataset_says_where_to_get_it_and_downloads_nothing(tmp_path):
    with pytest.raises(fe.GatedDataset) as info:
        fe.fetch(ds.load_lock()["ytvos"], tmp_path / "root")
    assert "youtube-vos.org" in info.value.instructions
    assert not (tmp_path / "root").exists()
