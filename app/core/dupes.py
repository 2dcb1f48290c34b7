"""Types of the duplicate finder, shared by search, services, CLI and UI."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class DupeTier(StrEnum):
    IDENTICAL = "identical"  # same bytes
    SAME = "same"  # the same picture after an edit (resize, re-encode, colour, mirror, rotation, border, crop...)
    SIMILAR = "similar"  # another shot of the same moment; never suggested for deletion


@dataclass(frozen=True, slots=True)
class DupePair:
    """Why two photos of a group matched: the evidence behind the tier."""

    a: str  # paths
    b: str
    tier: DupeTier
    distance: int | None = None  # pHash Hamming distance (of the matched variant)
    # which hash variant matched: "phash", "phash_mirror", "phash_crop4", ...; or "turned 17.0°" (no pHash)
    transform: str | None = None
    correlation: float | None = None  # pixel correlation after undoing the transform
    inliers: int | None = None  # geometric verification (crops)
    cosine: float | None = None  # CLIP, only with real weights
    note: str | None = None  # tier similar: why it is not the same picture ("another shot: ...")

    @property
    def reason(self) -> str:
        if self.tier == DupeTier.IDENTICAL:
            return "identical bytes"
        parts = []
        if self.transform and self.distance is not None:
            parts.append(f"pHash {self.distance} bits apart as {self.transform}")
        elif self.transform:  # found by shared visual words: the transform says how ("turned 17.0°")
            parts.append(self.transform)
        if self.correlation is not None:
            parts.append(f"pixel correlation {self.correlation:.2f}")
        if self.inliers:
            parts.append(f"{self.inliers} geometric inliers")
        if self.cosine is not None:
            parts.append(f"CLIP cosine {self.cosine:.3f}")
        note = self.note
        if note and self.transform and note.startswith(self.transform):  # a keypoint pair's note repeats it
            note = note[len(self.transform) :].lstrip(": ") or None
        if note:
            parts.append(note)
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class DupePhoto:
    path: str
    photo_id: int
    width: int | None
    height: int | None
    size: int
    format: str | None = None
    taken_at: str | None = None
    protected: bool = False
    keep: bool = False


@dataclass(frozen=True, slots=True)
class DupeGroup:
    """Photos that are copies (or, tier similar, shots) of one picture; ``photos[0]`` is the keeper."""

    tier: DupeTier
    photos: list[DupePhoto]
    reason: str  # why this keeper
    pairs: list[DupePair] = field(default_factory=list)

    @property
    def keeper(self) -> DupePhoto | None:
        return next((p for p in self.photos if p.keep), None)
