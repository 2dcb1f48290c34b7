"""The tag pass: automatic tags per photo, made from what indexing already stored (no image is decoded).

* **Detector tags**: the labels of the photo's detector boxes with their counts ("2 persons, 1 dog"),
  score = the best box's confidence. Remade whenever the photo's region pass ran with another key.
* **Zero-shot tags**: words of a shipped vocabulary (``tag_vocabulary.txt``) whose CLIP text embedding
  stands out for the photo's whole-photo embedding. Not a fixed top-k: a photo of nothing in the
  vocabulary gets no zero-shot tag, a busy one several. Two offsets of CLIP cosines are removed first:

  1. *per photo*: some photos sit closer to every text than others, so each tag's cosine is taken
     relative to the photo's cosine with neutral prompts ("a photo.", "an image.", ...): the margin
     ``m = cos(photo, tag) - cos(photo, neutral)``;
  2. *per tag*: some texts sit closer to every photo (hubness: "a photo of a screenshot." may match
     everything a little), so each tag's margin is turned into a z-score over this library's photos,
     ``z = (m - mean_tag) / std_tag``. With few photos the per-tag spread is shrunk towards the pooled
     within-tag spread (a prior worth ``PRIOR_PHOTOS`` photos) and the mean, lightly, towards the
     vocabulary-wide mean (``MEAN_PRIOR``), so a small library still works.

  A tag is kept when ``z >= Z_MIN`` and ``m > 0`` (closer to the tag than to a generic photo), at most
  ``MAX_ZEROSHOT`` per photo, score = z. The statistics are saved with the tags' key and refreshed
  (re-tagging every photo) when the library has grown by half since, so tags do not drift one by one.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from app.core.models import Detection
from app.storage.tags_repo import DETECTOR, ZEROSHOT, TagsRepository
from app.storage.vector_store import VectorStore

log = logging.getLogger(__name__)

Z_MIN = 2.5
MAX_ZEROSHOT = 8
PRIOR_PHOTOS = 50  # prior weight (in photos) of the pooled spread
MEAN_PRIOR = 5  # prior weight (in photos) of the vocabulary-wide mean
REFRESH_GROWTH = 1.5  # re-calibrate when the photos of a model exceed 1.5x (+20) those calibrated on
CALIBRATION_VERSION = "z2"
NEUTRAL_PROMPTS = ("a photo.", "a picture.", "an image.", "a photo of something.", "a snapshot.")
TAG_PROMPT = "a photo of {}."
_CHUNK = 4096

# A few nouns the detector (COCO) uses whose plural is not a plain "s".
_PLURALS = {"person": "persons", "mouse": "mice", "knife": "knives", "sheep": "sheep", "skis": "skis"}
_PLURALS |= {"scissors": "scissors", "bus": "buses", "glass": "glasses", "wine glass": "wine glasses"}


def normalize_tag(text: str) -> str:
    """The stored form of a tag: lower case, single spaces."""
    return " ".join(str(text).lower().split())


def load_vocabulary(text: str | None = None) -> tuple[str, ...]:
    """The shipped zero-shot vocabulary (or the one in ``text``): unique normalised tags, file order."""
    if text is None:
        text = resources.files("app.indexing").joinpath("tag_vocabulary.txt").read_text(encoding="utf-8")
    words = (normalize_tag(line.split("#", 1)[0]) for line in text.splitlines())
    return tuple(dict.fromkeys(w for w in words if w))


def vocabulary_id(words: Sequence[str]) -> str:
    return hashlib.sha1("\n".join(words).encode()).hexdigest()[:10]


def plural(label: str, count: int) -> str:
    if count == 1:
        return label
    if label in _PLURALS:
        return _PLURALS[label]
    return label + ("es" if label.endswith(("s", "x", "ch", "sh")) else "s")


def describe(counts: Sequence[tuple[str, int]]) -> str:
    """ "2 persons, 1 dog" from (label, count) pairs."""
    return ", ".join(f"{n} {plural(t, n)}" for t, n in counts)


def label_counts(detections: Sequence[Detection]) -> list[tuple[str, int, float]]:
    """(label, boxes, best confidence) of a photo's detections."""
    out: dict[str, tuple[int, float]] = {}
    for d in detections:
        n, c = out.get(d.label, (0, 0.0))
        out[d.label] = (n + 1, max(c, float(d.confidence)))
    return [(label, n, c) for label, (n, c) in out.items()]


def detector_tags(labels: Sequence[tuple[str, int, float]]) -> list[tuple[str, float, int]]:
    """(tag, score, count) from a photo's (label, boxes, best confidence)."""
    merged: dict[str, tuple[float, int]] = {}
    for label, n, conf in labels:
        tag = normalize_tag(label)
        if tag:
            s, c = merged.get(tag, (0.0, 0))
            merged[tag] = (max(s, round(conf, 4)), c + n)
    return [(t, s, c) for t, (s, c) in sorted(merged.items(), key=lambda kv: (-kv[1][1], kv[0]))]


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def margins(photo_vecs: np.ndarray, tag_vecs: np.ndarray, neutral_vecs: np.ndarray) -> np.ndarray:
    """(photos, tags) cosine margins over the photos' cosine with the neutral prompts' mean direction."""
    p = _unit(photo_vecs)
    neutral = _unit(_unit(neutral_vecs).mean(axis=0))
    return p @ _unit(tag_vecs).T - (p @ neutral)[:, None]


@dataclass(frozen=True, slots=True)
class Calibration:
    """Per-tag mean and spread of the margins over a library's photos (shrunk towards the global ones)."""

    n: int
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, m: np.ndarray, mean_prior: int = MEAN_PRIOR, var_prior: int = PRIOR_PHOTOS) -> Calibration:
        """From all photos' margins ``m`` (photos, tags).

        The per-tag mean is what removes a tag's offset, so it is trusted early (a prior of only
        ``mean_prior`` photos at the vocabulary-wide mean); the spread needs more photos, so it is shrunk
        towards the pooled within-tag spread with a prior of ``var_prior`` photos.
        """
        m = np.asarray(m, np.float64)
        n = len(m)
        if n == 0:
            raise ValueError("no photos to calibrate on")
        mu, var = m.mean(axis=0), m.var(axis=0)
        wm, wv = n / (n + mean_prior), n / (n + var_prior)
        mean = wm * mu + (1 - wm) * float(mu.mean())
        pooled = float(var.mean()) if n > 1 else float(m.var()) or 1e-4
        std = np.sqrt(np.maximum(wv * var + (1 - wv) * pooled, 1e-8))
        return cls(n, mean.astype(np.float32), std.astype(np.float32))

    def to_json(self) -> dict:
        return {
            "n": self.n,
            "mean": [round(float(v), 6) for v in self.mean],
            "std": [round(float(v), 6) for v in self.std],
        }

    @classmethod
    def from_json(cls, d: dict) -> Calibration:
        return cls(int(d["n"]), np.asarray(d["mean"], np.float32), np.asarray(d["std"], np.float32))


def pick(
    m: np.ndarray, cal: Calibration, words: Sequence[str], z_min: float = Z_MIN, most: int = MAX_ZEROSHOT
) -> list[list[tuple[str, float, int]]]:
    """The zero-shot tags of each photo: [(tag, z, 1)] strongest first (see the module's docstring)."""
    z = (np.asarray(m, np.float32) - cal.mean) / cal.std
    out: list[list[tuple[str, float, int]]] = []
    for zi, mi in zip(z, m, strict=True):
        ok = np.flatnonzero((zi >= z_min) & (mi > 0))
        ok = ok[np.argsort(-zi[ok], kind="stable")][:most]
        out.append([(words[j], round(float(zi[j]), 3), 1) for j in ok.tolist()])
    return out


class TagVocabulary:
    """The vocabulary's and the neutral prompts' text vectors for one model, cached on disk beside the
    vector indexes (the text tower then loads only once per model)."""

    def __init__(self, words: Sequence[str], cache_dir: Path) -> None:
        self.words, self.cache_dir = tuple(words), cache_dir
        self.id = vocabulary_id(self.words)

    def vectors(self, model: str, encode: Callable[[list[str]], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        slug = hashlib.sha1(model.encode()).hexdigest()[:12]
        path = self.cache_dir / f"tags-{slug}-{self.id}.npy"
        texts = [TAG_PROMPT.format(w) for w in self.words] + list(NEUTRAL_PROMPTS)
        vecs = None
        if path.exists():
            try:
                vecs = np.load(path)
            except (OSError, ValueError):
                vecs = None
            if vecs is not None and len(vecs) != len(texts):
                vecs = None
        if vecs is None:
            vecs = _unit(np.asarray(encode(texts), np.float32))
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, vecs)
            tmp.replace(path)
        return vecs[: len(self.words)], vecs[len(self.words) :]


def run_detector_tags(repo: TagsRepository) -> int:
    """Detector tags, from the stored regions, for photos whose region pass did not write them (indexed before
    tags existed, or regions written without them); returns photos tagged."""
    due = repo.photos_due_detector()
    for i in range(0, len(due), _CHUNK):
        part = due[i : i + _CHUNK]
        labels = repo.object_labels([pid for pid, _ in part])
        repo.write_auto(DETECTOR, ((pid, key, detector_tags(labels.get(pid, []))) for pid, key in part))
    return len(due)


def zeroshot_key(model: str, vocab: TagVocabulary, cal_n: int) -> str:
    return f"{model}|{vocab.id}|{CALIBRATION_VERSION}:{cal_n}"


def run_zeroshot_tags(
    repo: TagsRepository,
    vectors: VectorStore,
    model: str,
    vocab: TagVocabulary,
    encode: Callable[[list[str]], np.ndarray] | None,
) -> int:
    """Zero-shot tags for the photos of ``model`` that are due (new, re-embedded, or the calibration was
    refreshed); returns photos tagged. Without a text encoder for ``model`` nothing is done."""
    index = vectors.get(model)
    if index is None or encode is None:
        return 0
    all_ids = repo.photos_of_model(model)
    if not all_ids:
        return 0
    base_key = f"{model}|{vocab.id}|{CALIBRATION_VERSION}"
    saved = repo.calibration(base_key)
    cal = Calibration.from_json(saved) if saved else None
    tag_vecs, neutral_vecs = vocab.vectors(model, encode)

    def photo_margins(ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        vecs = index.vectors_of(vectors.catalog.photo_regions(np.asarray(ids, np.int64)))
        ok = np.isfinite(vecs).all(axis=1)
        return np.asarray(ids, np.int64)[ok], margins(vecs[ok], tag_vecs, neutral_vecs)

    if cal is None or len(all_ids) > REFRESH_GROWTH * cal.n + 20:
        parts = [photo_margins(all_ids[i : i + _CHUNK])[1] for i in range(0, len(all_ids), _CHUNK)]
        cal = Calibration.fit(np.concatenate(parts))
        repo.save_calibration(base_key, cal.to_json())
    key = zeroshot_key(model, vocab, cal.n)
    due = repo.photos_due_zeroshot(model, key)
    for i in range(0, len(due), _CHUNK):
        ids, m = photo_margins(due[i : i + _CHUNK])
        picked = pick(m, cal, vocab.words)
        repo.write_auto(ZEROSHOT, ((int(pid), key, tags) for pid, tags in zip(ids.tolist(), picked, strict=True)))
    return len(due)
