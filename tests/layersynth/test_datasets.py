"""datasets.lock, verify, user locks and fetch (against an HTTP server on loopback)."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from layersynth import datasets as ds

REPO = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------- helpers


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_lock(path: Path, name: str, files: dict[str, bytes], *, base_url: str | None = None,
               access: str = "free", archives: list | None = None, scope=("**",)) -> Path:
    entries = [{"path": p, "size": len(b), "sha256": sha(b), "md5": "unknown",
                **({"url": f"{base_url}/{p}"} if base_url else {})} for p, b in files.items()]
    spec = {"title": "fake", "version": "1", "licence": "CC0", "access": access,
            "get": "ask the authors", "scope": list(scope), "files": entries,
            "archives": archives or []}
    path.write_text(json.dumps({"lock_version": 1, "datasets": {name: spec}}))
    return path


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


CLIPS = {"a.mp4": b"A" * 3000, "sub/b.mp4": bytes(range(256)) * 20, "c.mp4": b"cc" * 700}


def fake_copy(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


# ----------------------------------------------------------------------------- the shipped lock


def test_root_lock_and_packaged_lock_are_identical():
    assert (REPO / "datasets.lock").read_bytes() == ds.shipped_lock_path().read_bytes()


def test_shipped_lock_names_pass_parts_ytvos_and_videos_with_sizes():
    specs = ds.load_lock()
    assert set(specs) == {"pass", "ytvos", "videos"}
    parts = [f for f in specs["pass"].files if re.fullmatch(r"PASS\.\d\.tar", f.path)]
    assert len(parts) == 10 and all(f.size > 10**10 and f.url for f in parts)
    assert specs["ytvos"].access == "gated" and "youtube-vos.org" in specs["ytvos"].get
    assert specs["videos"].archives and all(f.sha256 for f in specs["videos"].files)


def test_shipped_lock_checksums_are_hex_digests_or_marked_unknown():
    raw = json.loads(ds.shipped_lock_path().read_text())
    for spec in raw["datasets"].values():
        for f in spec["files"] + spec["archives"]:
            assert f["sha256"] == "unknown" or re.fullmatch(r"[0-9a-f]{64}", f["sha256"])
            assert f["md5"] == "unknown" or re.fullmatch(r"[0-9a-f]{32}", f["md5"])


def test_a_lock_path_that_escapes_the_root_is_refused(tmp_path):
    lock = write_lock(tmp_path / "l.json", "x", {"../evil": b"1"})
    with pytest.raises(ds.LockError, match="unsafe path"):
        ds.load_lock(lock)


# ----------------------------------------------------------------------------- verify


def test_verify_reports_a_missing_a_corrupt_and_an_extra_file(tmp_path):
    spec = ds.get_spec("videos", write_lock(tmp_path / "l.json", "videos", CLIPS))
    root = fake_copy(tmp_path / "copy", CLIPS)
    (root / "a.mp4").unlink()
    (root / "c.mp4").write_bytes(b"cc" * 699 + b"cd")  # same size, one byte differs
    (root / "notes.txt").write_text("mine")
    (root / ".layersynth-textures.idx").write_text("our cache is not 'extra'")
    report = ds.verify(spec, root)
    assert report.missing == ["a.mp4"]
    assert [p for p, _ in report.corrupt] == ["c.mp4"] and "sha256" in report.corrupt[0][1]
    assert report.extra == ["notes.txt"]
    assert report.ok == ["sub/b.mp4"] and not report.sound


def test_verify_of_an_intact_copy_is_sound_and_sizes_only_leaves_files_unverified(tmp_path):
    spec = ds.get_spec("videos", write_lock(tmp_path / "l.json", "videos", CLIPS))
    root = fake_copy(tmp_path / "copy", CLIPS)
    assert ds.verify(spec, root).sound
    quick = ds.verify(spec, root, hashes=False)
    assert quick.sound and sorted(quick.unverified) == sorted(CLIPS) and not quick.ok


def test_verify_catches_a_truncated_file_by_its_size(tmp_path):
    spec = ds.get_spec("videos", write_lock(tmp_path / "l.json", "videos", CLIPS))
    root = fake_copy(tmp_path / "copy", CLIPS)
    (root / "a.mp4").write_bytes(b"A" * 10)
    report = ds.verify(spec, root, hashes=False)
    assert report.corrupt == [("a.mp4", "size 10 != 3000")]


def test_user_lock_records_a_copy_and_later_verify_detects_a_change(tmp_path):
    spec = ds.load_lock()["pass"]  # its published files are absent: the user's copy is images
    root = fake_copy(tmp_path / "imgs", {"x/1.jpg": b"one", "x/2.jpg": b"two"})
    path = ds.make_user_lock(spec, root)
    assert path.name == ds.USER_LOCK_NAME
    assert ds.verify(spec, root).sound
    (root / "x" / "2.jpg").write_bytes(b"tw0")
    report = ds.verify(spec, root)
    assert report.lock == str(path) and [p for p, _ in report.corrupt] == ["x/2.jpg"]


def test_a_user_lock_of_another_dataset_is_refused(tmp_path):
    specs = ds.load_lock()
    root = fake_copy(tmp_path / "d", {"a.png": b"1"})
    ds.make_user_lock(specs["videos"], root)
    with pytest.raises(ds.LockError, match="not 'ytvos'"):
        ds.verify(specs["ytvos"], root)


def test_ytvos_verify_derives_expected_annotations_from_meta_json(tmp_path):
    spec = ds.load_lock()["ytvos"]
    meta = {"videos": {"v1": {"objects": {"1": {"category": "cat", "frames": ["00000", "00005"]},
                                          "2": {"category": "dog", "frames": ["00005"]}}}}}
    root = fake_copy(tmp_path / "train", {"meta.json": json.dumps(meta).encode(),
                                         "Annotations/v1/00000.png": b"png",
                                         "Annotations/v1/00010.png": b"png",
                                         "JPEGImages/v1/00000.jpg": b"jpg"})
    report = ds.verify(spec, root)
    assert report.missing == ["Annotations/v1/00005.png"]
    assert report.extra == ["Annotations/v1/00010.png"]  # JPEGImages is outside the scope
    assert "meta.json" in report.unverified


# ----------------------------------------------------------------------------- fetch


def test_fetch_downloads_verifies_and_leaves_no_partial_files(tmp_path, server):
    server.files.update(CLIPS)
    spec = ds.get_spec("videos", write_lock(tmp_path / "l.json", "videos", CLIPS,
                                            base_url=server.url))
    done = ds.fetch(spec, tmp_path / "root")
    assert sorted(done["fetched"]) == sorted(CLIPS)
    assert ds.verify(spec, tmp_path / "root").sound
    assert not list((tmp_path / "root").rglob("*.part"))
    again = ds.fetch(spec, tmp_path / "root")
    assert sorted(again["kept"]) == sorted(CLIPS) and len(server.seen) == len(CLIPS)


def test_fetch_resumes_with_a_range_request_after_the_connection_drops(tmp_path, server):
    server.files.update(CLIPS)
    server.drop_after["sub/b.mp4"] = 1000
    spec = ds.get_spec("videos", write_lock(tmp_path / "l.json", "videos", CLIPS,
                                            base_url=server.url))
    ds.fetch(spec, tmp_path / "root", only=["sub/b.mp4"])
    assert (tmp_path / "root" / "sub" / "b.mp4").read_bytes() == CLIPS["sub/b.mp4"]
    assert server.seen == [("sub/b.mp4", None), ("sub/b.mp4", "bytes=1000-")]


def test_fetch_continues_a_partial_file_left_by_an_earlier_run(tmp_path, server):
    server.files.update(CLIPS)
    spec = ds.get_spec("videos", write_lock(tmp_path / "l.json", "videos", CLIPS,
                                            base_url=server.url))
    fake_copy(tmp_path / "root", {"a.mp4.part": CLIPS["a.mp4"][:1234]})
    ds.fetch(spec, tmp_path / "root", only=["a.mp4"])
    assert server.seen == [("a.mp4", "bytes=1234-")]
    assert (tmp_path / "root" / "a.mp4").read_bytes() == CLIPS["a.mp4"]


def test_fetch_starts_over_when_the_server_ignores_range(tmp_path, server):
    server.files.update(CLIPS)
    server.honour_range = False
    spec = ds.get_spec("videos", write_lock(tmp_path / "l.json", "videos", CLIPS,
                                            base_url=server.url))
    fake_copy(tmp_path / "root", {"a.mp4.part": b"garbage"})
    ds.fetch(spec, tmp_path / "root", only=["a.mp4"])
    assert (tmp_path / "root" / "a.mp4").read_bytes() == CLIPS["a.mp4"]


def test_fetch_refuses_bytes_that_do_not_match_the_lock(tmp_path, server):
    server.files.update({**CLIPS, "c.mp4": b"xx" * 700})  # right size, wrong content
    spec = ds.get_spec("videos", write_lock(tmp_path / "l.json", "videos", CLIPS,
                                            base_url=server.url))
    with pytest.raises(ds.FetchError, match="sha256"):
        ds.fetch(spec, tmp_path / "root", only=["c.mp4"])
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
    done = ds.fetch(spec, tmp_path / "root")
    assert sorted(done["fetched"]) == sorted(CLIPS)
    report = ds.verify(spec, tmp_path / "root")
    assert report.sound and not report.extra  # the archive itself was removed


def test_fetch_of_a_gated_dataset_says_where_to_get_it_and_downloads_nothing(tmp_path):
    with pytest.raises(ds.GatedDataset) as info:
        ds.fetch(ds.load_lock()["ytvos"], tmp_path / "root")
    assert "youtube-vos.org" in info.value.instructions
    assert not (tmp_path / "root").exists()
