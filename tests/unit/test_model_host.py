"""The model process: same answers as in-process models, survivable crashes, no orphans."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.core.errors import ModelProcessError, ModelUnavailableError
from app.ml.host import ModelHost, ModelSpec
from tests.conftest import make_photo

MODELS = Path("/nonexistent-models")
TINY = {"clip_model": "shoebox-tiny", "clip_pretrained": "none", "detector": "yolo11n.yaml"}
ROOT = Path(__file__).resolve().parents[2]
SPECS = {
    "image": ModelSpec("clip", {"model_name": "shoebox-tiny", "pretrained": "none", "models_dir": MODELS}),
    "text": ModelSpec(
        "clip", {"model_name": "shoebox-tiny", "pretrained": "none", "models_dir": MODELS, "text_only": True}
    ),
    "detector": ModelSpec(
        "detector",
        {"weights": "yolo11n.yaml", "models_dir": MODELS, "confidence": 0.0, "max_boxes": 5, "image_size": 160},
    ),
}


def _images(n: int) -> list[Image.Image]:
    rng = np.random.default_rng(7)
    sizes = [(300, 200), (180, 240), (97, 61)]
    out = [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for w, h in sizes * n][:n]
    out[-1] = out[-1].convert("L")  # other modes cross the pipe as they are
    return out


def _gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def host():
    h = ModelHost(SPECS)
    yield h
    h.close()
    assert multiprocessing.active_children() == []


def test_host_gives_the_same_answers_as_in_process_models(host: ModelHost) -> None:
    images = _images(5)
    encoder, text, detector = host.proxy("image"), host.proxy("text"), host.proxy("detector")
    assert (encoder.model_id, detector.model_id) == ("shoebox-tiny/none", "yolo11n.yaml")
    assert encoder.status().available and encoder.status().random_init

    vectors = encoder.encode_images(images)
    assert vectors.shape == (5, 64) and vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors, SPECS["image"].build().encode_images(images))
    assert encoder.forward_seconds > 0

    texts = text.encode_texts(["a dog", "a red car"])
    np.testing.assert_array_equal(texts, SPECS["text"].build().encode_texts(["a dog", "a red car"]))

    found = detector.detect(images)
    assert any(found), "confidence=0 lets random boxes through"
    assert found == SPECS["detector"].build().detect(images)
    assert encoder.encode_images([]).shape == (0, 64)


def test_a_query_image_does_not_wait_for_an_indexing_batch_and_shares_its_model() -> None:
    import threading

    image_spec = SPECS["image"]
    h = ModelHost({"image": image_spec, "query": ModelSpec("clip", image_spec.kwargs, shares="image")}, warm=False)
    try:
        indexer, query = h.proxy("image"), h.proxy("query")
        indexer.encode_images(_images(1))  # loads the model
        batch = [im.convert("RGB") for im in _images(3)] * 96  # 9 forward chunks of 32
        done: dict[str, float] = {}

        def index_batch() -> None:
            indexer.encode_images(batch)
            done["batch"] = time.monotonic()

        worker = threading.Thread(target=index_batch)
        worker.start()
        time.sleep(0.15)  # the batch is in the child now
        assert "batch" not in done, "the batch must still be running for this test to mean anything"
        vec = query.encode_images(_images(1))
        done["query"] = time.monotonic()
        worker.join(120)
        assert done["query"] < done["batch"], "the query was answered between two chunks of the batch"
        np.testing.assert_array_equal(vec, image_spec.build().encode_images(_images(1)))
        # One model object in the child: the query channel's total forward time includes the indexer's.
        query.encode_images(_images(1))
        assert query.forward_seconds > indexer.forward_seconds > 0
    finally:
        h.close()


def test_a_model_error_in_the_child_is_a_model_error_here(host: ModelHost) -> None:
    with pytest.raises(ModelUnavailableError, match=r"images only|texts only"):
        host.request("text", "encode_images", None, _images(1))
    assert host.alive  # one bad call does not end the process


def test_killing_the_child_gives_a_clear_error_and_no_more_calls() -> None:
    h = ModelHost({"image": SPECS["image"]}, warm=False)
    reasons: list[str] = []
    h.on_exit(reasons.append)
    enc = h.proxy("image")
    assert enc.status().available
    pid = h.pid
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(ModelProcessError, match=r"model process stopped .*SIGKILL"):
        enc.encode_images(_images(1))
    assert reasons and "SIGKILL" in reasons[0]
    assert not h.alive and not enc.status().available and "SIGKILL" in enc.status().message
    with pytest.raises(ModelProcessError):
        enc.encode_images(_images(1))
    h.close()
    assert _gone(pid) and h.pid is None


def test_a_child_that_stops_answering_is_ended_with_a_clear_error() -> None:
    # The first forward builds the model in the child: far longer than this limit, so it reads as a hang.
    h = ModelHost({"image": SPECS["image"]}, warm=False, reply_timeout_s=0.01)
    reasons: list[str] = []
    h.on_exit(reasons.append)
    enc = h.proxy("image")
    h.start()
    pid = h.pid
    with pytest.raises(ModelProcessError, match=r"stopped answering: no reply in 0.01 s"):
        enc.encode_images(_images(1))
    assert reasons and "stopped answering" in reasons[0]
    assert _gone(pid), "a hung child is killed, not left running"
    assert not h.alive and not enc.status().available
    h.close()


_ORPHAN = """
import os, sys
from pathlib import Path
from app.ml.host import ModelHost, ModelSpec

if __name__ == "__main__":
    h = ModelHost({"image": ModelSpec("clip", {"model_name": "shoebox-tiny", "pretrained": "none"})}, warm=False)
    h.start()
    print(h.pid, flush=True)
    os._exit(0)  # as if the window crashed: no close(), no atexit
"""


def test_the_child_exits_when_the_parent_dies(tmp_path: Path) -> None:
    script = tmp_path / "orphan.py"
    script.write_text(_ORPHAN)
    out = subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert _gone(int(out.stdout.split()[0])), "the model process outlived its parent"


def test_library_with_host_indexes_searches_and_survives_a_killed_child(tmp_path: Path) -> None:
    from app.services import Library

    folder = tmp_path / "photos"
    for i in range(40):
        make_photo(folder / f"p{i:02d}.jpg", seed=i, size=(320, 240))
    lib = Library.open(tmp_path / "lib", create=True, overrides=TINY, model_host=True)
    try:
        lib.use_text_reader(None)
        first = lib.index([folder], regions=False)
        assert first.indexed == 40
        pid = lib.models_process
        assert pid is not None
        assert lib.search_text("a dog", top=3, all=True).hits  # text goes through the host too

        for i in range(40, 100):
            make_photo(folder / f"p{i:02d}.jpg", seed=i, size=(320, 240))
        killed = []

        def kill_once(p) -> None:
            if p.phase == "fast" and p.done and not killed:
                os.kill(pid, signal.SIGKILL)
                killed.append(p.done)

        stats = lib.index([folder], on_progress=kill_once, regions=False)
        assert killed and _gone(pid)
        assert stats.indexed == 60, "photos after the crash are indexed without models"
        assert any("model process stopped" in n for n in stats.notes)
        assert not lib.model_status()["clip"].available
        with pytest.raises(ModelUnavailableError):
            lib.search_text("a dog")
        assert lib.status().photos == 100
        assert lib.models_process is None
    finally:
        lib.close()


def test_closing_the_library_stops_the_model_process(tmp_path: Path) -> None:
    from app.services import Library

    lib = Library.open(tmp_path / "lib", create=True, overrides=TINY, model_host=True)
    assert lib.model_status()["clip"].available
    pid = lib.models_process
    assert pid is not None
    lib.close()
    assert _gone(pid, within=6)
