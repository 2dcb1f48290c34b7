"""app.ml: lazy imports, random-init models for tests, weights resolution and its messages."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.core.errors import ModelUnavailableError
from app.core.models import Detection
from app.ml import weights
from app.ml.clip import ClipEncoder
from app.ml.detector import ObjectDetector

ROOT = Path(__file__).resolve().parents[2]


def _images(n: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    sizes = [(120, 90), (64, 64), (200, 150), (90, 160), (33, 47)]
    out = []
    for i in range(n):
        w, h = sizes[i % len(sizes)]
        out.append(Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)))
    return out


@pytest.fixture(autouse=True)
def isolated_caches(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Weights a developer has in their own caches must not change what these tests see."""
    from huggingface_hub import constants

    empty = tmp_path_factory.mktemp("empty-cache")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(empty))
    monkeypatch.setattr(weights, "_OPEN_CLIP_URL_CACHE", empty)


@pytest.fixture(scope="module")
def tiny() -> ClipEncoder:
    return ClipEncoder("shoebox-tiny", "none", models_dir=Path("/nonexistent-models"), batch_size=16)


@pytest.fixture(scope="module")
def yolo() -> ObjectDetector:
    return ObjectDetector("yolo11n.yaml", Path("/nonexistent-models"), confidence=0.0, max_boxes=5, image_size=160)


def test_importing_app_ml_and_asking_status_does_not_import_torch(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "import app.ml, app.ml.runtime, app.ml.weights\n"
        "from app.ml.clip import ClipEncoder\n"
        "from app.ml.detector import ObjectDetector\n"
        "m = Path(sys.argv[1])\n"
        "print(ClipEncoder(models_dir=m).status().available, ClipEncoder('ViT-B-32', 'none').status().available)\n"
        "print(ObjectDetector(models_dir=m).status().available, ObjectDetector('yolo11n.yaml').status().available)\n"
        "heavy = [n for n in ('torch', 'open_clip', 'ultralytics', 'torchvision') if n in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    env = {**os.environ, "HOME": str(tmp_path), "HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": str(ROOT)}
    env.pop("HF_HUB_CACHE", None)
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "models")], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "True", "False", "True"]


def test_ultralytics_never_writes_to_stdout(tmp_path: Path) -> None:
    """stdout carries the CLI's --json output; a fresh ultralytics install announces its settings there."""
    code = (
        "from PIL import Image\n"
        "from app.ml.detector import ObjectDetector\n"
        "ObjectDetector('yolo11n.yaml', image_size=64).detect([Image.new('RGB', (40, 30))])\n"
        "from ultralytics.utils import LOGGER\n"
        "LOGGER.warning('late warning')\n"
    )
    env = {**os.environ, "YOLO_CONFIG_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "late warning" in proc.stderr


def test_model_ids() -> None:
    assert ClipEncoder().model_id == "ViT-B-32/laion2b_s34b_b79k"
    assert ClipEncoder("ViT-B-32", "").model_id == "ViT-B-32/none"
    assert ClipEncoder("ViT-B-32", "/w/my-clip.safetensors").model_id == "ViT-B-32/my-clip.safetensors"
    assert ObjectDetector().model_id == "yolo11n.pt"
    assert ObjectDetector("/x/y/yolo11s.pt").model_id == "yolo11s.pt"


def test_random_encoder_gives_normalised_deterministic_vectors(tiny: ClipEncoder) -> None:
    status = tiny.status()
    assert status.available and status.random_init
    images = _images(5)
    first = tiny.encode_images(images)
    assert first.shape == (5, tiny.dim) == (5, 64)
    assert first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(tiny.encode_images(images), first)
    assert not np.allclose(first[0], first[1])
    assert tiny.images_encoded >= 10 and tiny.forward_seconds > 0

    texts = tiny.encode_texts(["a dog", "a red car", "a dog"])
    assert texts.shape == (3, 64) and texts.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(texts[0], texts[2], atol=1e-6)
    assert not np.allclose(texts[0], texts[1])
    assert tiny.encode_images([]).shape == (0, 64)
    assert tiny.encode_texts([]).shape == (0, 64)


def test_random_weights_are_the_same_in_every_encoder(tiny: ClipEncoder) -> None:
    """Index in one process, search in another: random-init vectors must still be comparable."""
    other = ClipEncoder("shoebox-tiny", "none", batch_size=2)  # also checks chunking gives the same vectors
    images = _images(5)
    np.testing.assert_allclose(other.encode_images(images), tiny.encode_images(images), atol=1e-5)
    np.testing.assert_allclose(other.encode_texts(["x"]), tiny.encode_texts(["x"]), atol=1e-5)


def test_concurrent_first_use_loads_once_and_release_reloads() -> None:
    enc = ClipEncoder("shoebox-tiny", "none")
    results: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: results.append(enc.encode_images(_images(3)))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(np.array_equal(r, results[0]) for r in results)
    enc.release()
    assert not enc.loaded
    np.testing.assert_allclose(enc.encode_images(_images(3)), results[0], atol=1e-6)


def test_a_query_image_is_embedded_while_an_indexing_forward_is_in_flight(tiny: ClipEncoder) -> None:
    expected = tiny.encode_images(_images(1))
    answers: dict[str, np.ndarray] = {}
    with tiny._infer_lock:  # an indexing chunk's forward holds it for its whole duration
        urgent = threading.Thread(target=lambda: answers.update(urgent=tiny.encode_images(_images(1), urgent=True)))
        queued = threading.Thread(target=lambda: answers.update(queued=tiny.encode_images(_images(1))))
        urgent.start()
        queued.start()
        urgent.join(30)
        assert "urgent" in answers and "queued" not in answers, "only the query image went ahead"
    queued.join(30)
    np.testing.assert_allclose(answers["urgent"], expected, atol=1e-6)
    np.testing.assert_allclose(answers["queued"], expected, atol=1e-6)


def test_a_corrupt_photo_is_still_reported_as_one_once_the_detector_is_imported() -> None:
    from app.imaging.decode import DecodeError, decode_bytes
    from app.ml.runtime import import_ultralytics

    import_ultralytics()
    with pytest.raises(DecodeError, match="not an image"):
        decode_bytes(b"this is not an image")  # no pip install of a HEIF plugin, no ImportError


def test_missing_pretrained_weights_say_what_to_put_where(tmp_path: Path) -> None:
    enc = ClipEncoder("ViT-B-32", "laion2b_s34b_b79k", models_dir=tmp_path)
    status = enc.status()
    folder = tmp_path / "clip" / "ViT-B-32" / "laion2b_s34b_b79k"
    assert not status.available and not status.random_init
    assert "open_clip_pytorch_model.bin" in status.message and str(folder) in status.message
    started = time.perf_counter()
    with pytest.raises(ModelUnavailableError) as err:
        enc.load()
    assert time.perf_counter() - started < 5  # no network retries behind the user's back
    assert str(folder) in err.value.hint and "huggingface.co/laion/" in err.value.hint
    assert not ClipEncoder("ViT-B-32", str(tmp_path / "nope.bin")).status().available
    assert not ClipEncoder("ViT-Nope", "none").status().available


def _save_tiny_weights(path: Path) -> ClipEncoder:
    """Weights that differ from the seeded random init; returns an encoder that loads them."""
    import open_clip
    import torch

    from app.ml.runtime import import_open_clip

    import_open_clip()
    torch.manual_seed(1234)
    model = open_clip.create_model("shoebox-tiny", pretrained=None)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return ClipEncoder("shoebox-tiny", str(path))


def test_weights_from_models_folder_and_from_a_file(tmp_path: Path, tiny: ClipEncoder) -> None:
    file_enc = _save_tiny_weights(tmp_path / "elsewhere" / "tiny.pt")
    assert file_enc.status().available and file_enc.model_id == "shoebox-tiny/tiny.pt"
    from_file = file_enc.encode_images(_images(3))
    assert not np.allclose(from_file, tiny.encode_images(_images(3)), atol=1e-3)

    folder = tmp_path / "models" / "clip" / "shoebox-tiny" / "mytag"
    folder.mkdir(parents=True)
    (folder / "open_clip_pytorch_model.bin").write_bytes((tmp_path / "elsewhere" / "tiny.pt").read_bytes())
    enc = ClipEncoder("shoebox-tiny", "mytag", models_dir=tmp_path / "models")
    status = enc.status()
    assert status.available and not status.random_init and str(folder) in status.message
    np.testing.assert_allclose(enc.encode_images(_images(3)), from_file, atol=1e-5)


def test_weights_in_the_download_cache_are_found(tmp_path: Path) -> None:
    repo = tmp_path / "clip" / "hf-cache" / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    snapshot = repo / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "open_clip_model.safetensors").write_bytes(b"stub")
    status = ClipEncoder(models_dir=tmp_path).status()
    assert status.available and "open_clip_model.safetensors" in status.message


def test_corrupt_weights_file_is_a_model_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not weights")
    with pytest.raises(ModelUnavailableError):
        ClipEncoder("shoebox-tiny", str(bad)).load()


def test_random_detector_returns_boxes_inside_each_image(yolo: ObjectDetector) -> None:
    import torch

    status = yolo.status()
    assert status.available and status.random_init and status.model_id == "yolo11n.yaml"
    threads = torch.get_num_threads()
    omp = os.environ.get("OMP_NUM_THREADS")
    images = _images(5)
    images[1] = images[1].convert("L")  # non-RGB input is converted, not rejected
    found = yolo.detect(images)
    assert len(found) == 5 and yolo.images_detected >= 5 and yolo.forward_seconds > 0
    assert any(found), "confidence=0 should let some random boxes through"
    for dets, im in zip(found, images, strict=True):
        assert len(dets) <= 5
        assert [d.confidence for d in dets] == sorted((d.confidence for d in dets), reverse=True)
        for d in dets:
            assert isinstance(d, Detection) and isinstance(d.label, str)
            x0, y0, x1, y1 = d.box
            assert 0 <= x0 <= x1 <= im.width and 0 <= y0 <= y1 <= im.height
    # ultralytics lowers torch's threads and sets OMP_NUM_THREADS=1; neither may leak out.
    assert torch.get_num_threads() == threads
    assert os.environ.get("OMP_NUM_THREADS") == omp
    assert yolo.detect([]) == []


def test_random_detector_is_deterministic(yolo: ObjectDetector) -> None:
    other = ObjectDetector("yolo11n.yaml", confidence=0.0, max_boxes=5, image_size=160)
    images = _images(2)
    assert other.detect(images) == yolo.detect(images)


def test_missing_detector_weights_say_what_to_put_where(tmp_path: Path) -> None:
    det = ObjectDetector("yolo11n.pt", models_dir=tmp_path)
    status = det.status()
    assert not status.available
    assert "yolo11n.pt" in status.message and str(tmp_path / "detector") in status.message
    with pytest.raises(ModelUnavailableError) as err:
        det.load()
    assert str(tmp_path / "detector") in err.value.hint
    (tmp_path / "detector").mkdir()
    (tmp_path / "detector" / "yolo11n.pt").write_bytes(b"stub")
    assert det.status().available


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_image_only_encoder_matches_the_full_model(tmp_path: Path, tiny: ClipEncoder, suffix: str) -> None:
    full = _save_tiny_weights(tmp_path / "tiny.pt")
    path = tmp_path / f"tiny{suffix}"
    if suffix == ".safetensors":
        import torch
        from safetensors.torch import save_file

        save_file(torch.load(tmp_path / "tiny.pt", weights_only=True), str(path))
    image_only = ClipEncoder("shoebox-tiny", str(path), image_only=True)
    np.testing.assert_allclose(image_only.encode_images(_images(4)), full.encode_images(_images(4)), atol=1e-5)
    random_only = ClipEncoder("shoebox-tiny", "none", image_only=True)
    np.testing.assert_array_equal(random_only.encode_images(_images(4)), tiny.encode_images(_images(4)))
    with pytest.raises(ModelUnavailableError, match="images only"):
        image_only.encode_texts(["a dog"])
