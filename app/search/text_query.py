"""Turning what the user typed into one query vector: prompt template, query arithmetic, label words.

Pure functions over numpy arrays; the encoders are passed in, so tests use fakes.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence

import numpy as np

# CLIP was trained on captions; "a photo of ..." lifts zero-shot accuracy over a bare noun phrase
# (CLIP paper, §3.1.4). Queries that already read like a caption are left alone.
PROMPT_TEMPLATE = "a photo of {}."
_ALREADY_CAPTION = re.compile(r"^(an? )?(photo|picture|image|snapshot|screenshot|drawing|painting)s? of\b", re.I)

POSITIVE_WEIGHT = 1.0
# A negative subtracts half a unit vector: a whole one can swamp a single positive (the difference
# vector then mostly encodes "what separates the two texts"); half steers away and keeps the subject.
NEGATIVE_WEIGHT = 0.5

# Plurals and synonyms that COCO's detector labels (what YOLO emits) would otherwise miss.
_IRREGULAR = {"people": "person", "persons": "person", "men": "person", "women": "person", "children": "person"}
_IRREGULAR |= {"kids": "person", "kid": "person", "man": "person", "woman": "person", "child": "person"}
_IRREGULAR |= {"mice": "mouse", "knives": "knife", "sheep": "sheep", "skis": "skis", "scissors": "scissors"}
_IRREGULAR |= {"bus": "bus", "buses": "bus", "phone": "cell phone", "phones": "cell phone"}
_IRREGULAR |= {"motorbike": "motorcycle", "bike": "bicycle", "bikes": "bicycle", "sofa": "couch", "tvs": "tv"}
_IRREGULAR |= {"television": "tv", "plant": "potted plant", "plants": "potted plant", "puppy": "dog", "kitten": "cat"}
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)


def prompt(text: str) -> str:
    """The text the model embeds for a query typed as ``text``."""
    text = " ".join(text.split())
    return text if _ALREADY_CAPTION.match(text) else PROMPT_TEMPLATE.format(text)


def _singular(word: str) -> str:
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def label_terms(text: str | None) -> frozenset[str]:
    """Words and two-word phrases of ``text`` in the detector's label form ("dogs" -> "dog").

    Two-word phrases catch labels such as "cell phone", "hot dog" or "teddy bear".
    """
    if not text:
        return frozenset()
    words = [w.lower() for w in _WORD.findall(text)]
    terms = {_singular(w) for w in words}
    terms |= {f"{a} {_singular(b)}" for a, b in itertools.pairwise(words)}
    return frozenset(terms)


def label_matches(label: str | None, terms: frozenset[str]) -> bool:
    return bool(label) and label.lower() in terms  # type: ignore[union-attr]


def combine(positives: Sequence[np.ndarray], negatives: Sequence[np.ndarray] = ()) -> np.ndarray:
    """One unit query vector: weighted sum of unit positives minus weighted unit negatives.

    Query arithmetic as in rclip ("on a beach" + an image - "indoors"): every part is normalised
    first, so a long caption does not outweigh an image; the sum is normalised again for cosine search.

    Raises:
        ValueError: no positive part, or the parts cancel out.
    """
    if not positives:
        raise ValueError("a query needs text or an image to look for, not only things to avoid")
    total = sum(POSITIVE_WEIGHT * _unit(p) for p in positives)
    total = total - sum((NEGATIVE_WEIGHT * _unit(n) for n in negatives), np.zeros_like(total))
    norm = float(np.linalg.norm(total))
    if norm < 1e-6:
        raise ValueError("the query's parts cancel out")
    return (total / norm).astype(np.float32)


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32).ravel()
    return v / max(float(np.linalg.norm(v)), 1e-12)


def embed_texts(encode: Callable[[list[str]], np.ndarray], texts: Sequence[str]) -> list[np.ndarray]:
    """Each text through the prompt template and ``encode`` (one batch)."""
    if not texts:
        return []
    return list(np.asarray(encode([prompt(t) for t in texts]), dtype=np.float32))
