"""Words search: photos whose recognised text (OCR) contains the query, tolerant of OCR errors.

Candidates come from the FTS5 trigram index (any shared trigram), so a misread word is still a candidate;
ranking then compares the normalised query (letters and digits, casefolded) with each line and with the
photo's whole text in reading order (for a phrase split over lines) using rapidfuzz's best-substring
alignment. A match must be within ``allowed_errors`` edits of the query, scaled by its length, so a word
that appears nowhere returns nothing instead of the least bad line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

from app.core.models import Box, HitKind, Photo, SearchHit
from app.storage.ocr_repo import OcrRepository, StoredLine, normalize

SPLIT_PENALTY = 2.0
MIN_CUT_READ = 4  # characters of a cut-off read (see _cut_off_read)
TRUNCATED_COVERAGE = 0.7  # a phrase found across lines ranks below the same phrase on one line


def allowed_errors(length: int) -> int:
    """Edits (one substitution, insertion or deletion each) a match of a query this long may need.

    Words of up to five characters must match exactly: with one error allowed they match unrelated
    lines of text-heavy photos ("yodel" in "HOPDELUSION"; the absent-word check of ``bench_ocr.py``).
    """
    if length <= 5:
        return 0
    if length <= 8:
        return 1
    if length <= 14:
        return 2
    return 3


def cutoff(length: int) -> float:
    """Lowest score (0–100) of a match with ``allowed_errors`` edits.

    Scores are rapidfuzz Indel similarities of the query against the best-aligned window of the line: a
    substitution costs two Indel operations, so k edits in a query of n characters score 100·(1 − k/n).
    """
    return 100.0 * (1.0 - allowed_errors(length) / length) - 1e-6 if length else 101.0


@dataclass(frozen=True, slots=True)
class WordMatch:
    photo_id: int
    score: float  # 0–100
    box: Box
    text: str  # the matching line(s) as recognised
    whole: float = 0.0  # similarity to the whole line: among equal scores, "21.00" beats "212-645-2100"


def _line_score(query: str, norm: str) -> tuple[float, int, int]:
    """Score and the aligned span in ``norm`` of the query's best match."""
    if not norm:
        return 0.0, 0, 0
    if len(norm) < len(query):
        # partial_ratio would align the short line inside the query and call "wifi" a perfect "wifipassword".
        return float(fuzz.ratio(query, norm)), 0, len(norm)
    al = fuzz.partial_ratio_alignment(query, norm)
    if al is None:
        return 0.0, 0, 0
    return float(al.score), al.dest_start, al.dest_end


def _union(boxes: Sequence[Box]) -> Box:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def match_photo(query: str, lines: Sequence[StoredLine], tokens: Sequence[str] | None = None) -> WordMatch | None:
    """The best match of a normalised query in one photo's lines, or None below the cut-off.

    ``tokens``: the query's words, normalised, for phrases whose words were read on separate lines.
    """
    if not lines or not query:
        return None
    threshold = cutoff(len(query))
    best: tuple[float, float, StoredLine] | None = None
    for line in lines:
        score, _, _ = _line_score(query, line.norm)
        key = (score, line.confidence)
        if best is None or key > best[:2]:
            best = (score, line.confidence, line)
    assert best is not None
    if best[0] >= threshold:
        line = best[2]
        return WordMatch(line.photo_id, best[0], line.box, line.text, float(fuzz.ratio(query, line.norm)))
    cut = _cut_off_read(query, lines) if len(tokens or [query]) == 1 else None
    if cut is not None:
        return cut
    if len(lines) < 2:
        return None
    split = _phrase_over_lines(query, lines) or _all_tokens(tokens or [], lines)
    if split is None or split[0] < threshold:
        return None
    score, spans = split
    return WordMatch(lines[0].photo_id, score, _union([s.box for s in spans]), " / ".join(s.text for s in spans))


def _cut_off_read(query: str, lines: Sequence[StoredLine]) -> WordMatch | None:
    """A line that is the start or the end of a one-word query: OCR lost the word's first or last letters
    ("lemonade" read "monade", "$199.26" read "99.26"). Scored by how much of the query it covers, so it
    ranks below every regular match; at least 4 characters and 70 % of the query, so that an absent word
    does not match a stray short line."""
    best: StoredLine | None = None
    for line in lines:
        n = len(line.norm)
        long_enough = max(MIN_CUT_READ, TRUNCATED_COVERAGE * len(query)) <= n < len(query)
        edge = query.startswith(line.norm) or query.endswith(line.norm)
        if long_enough and edge and (best is None or n > len(best.norm)):
            best = line
    if best is None:
        return None
    return WordMatch(best.photo_id, 100.0 * len(best.norm) / len(query), best.box, best.text)


def _phrase_over_lines(query: str, lines: Sequence[StoredLine]) -> tuple[float, list[StoredLine]] | None:
    """The query in the photo's text in reading order ("Wi-Fi" / "password: ..." on two lines)."""
    joined = "".join(line.norm for line in lines)
    score, start, end = _line_score(query, joined)
    if score < cutoff(len(query)):
        return None
    spans, pos = [], 0
    for line in lines:
        if pos < end and pos + len(line.norm) > start:
            spans.append(line)
        pos += len(line.norm)
    return score - SPLIT_PENALTY, spans or list(lines)


def _all_tokens(tokens: Sequence[str], lines: Sequence[StoredLine]) -> tuple[float, list[StoredLine]] | None:
    """Every word of a phrase found on its own, in any order (tilted or scattered words lose reading order)."""
    if len(tokens) < 2:
        return None
    found: list[tuple[float, StoredLine]] = []
    for token in tokens:
        best = max(((_line_score(token, ln.norm)[0], ln) for ln in lines), key=lambda x: x[0])
        if best[0] < cutoff(len(token)):
            return None
        found.append(best)
    lengths = [len(t) for t in tokens]
    score = sum(s * n for (s, _), n in zip(found, lengths, strict=True)) / sum(lengths)
    spans = list({id(ln): ln for _, ln in found}.values())
    return score - 2 * SPLIT_PENALTY, spans


def find_words(
    text: str,
    repo: OcrRepository,
    top: int | None = None,
    exclude_photo_ids: frozenset[int] = frozenset(),
) -> list[WordMatch]:
    """Photos whose text matches ``text``, best first (score, then how much of its line the match is)."""
    query = normalize(text)
    if not query:
        return []
    tokens = [t for t in (normalize(w) for w in text.split()) if t]
    by_photo = repo.current_lines_of_photos(repo.candidate_line_ids(query))
    matches = []
    for pid, lines in by_photo.items():
        if pid in exclude_photo_ids:
            continue
        m = match_photo(query, lines, tokens)
        if m is not None:
            matches.append(m)
    matches.sort(key=lambda m: (-m.score, -m.whole, m.photo_id))
    return matches[:top] if top else matches


def to_hits(matches: Sequence[WordMatch], photos: dict[int, Photo]) -> list[SearchHit]:
    """Search hits (kind ``text``, box = the matching line, score 0–1) for matches whose photo is known."""
    return [
        SearchHit(
            m.photo_id,
            photos[m.photo_id].path,
            round(m.score / 100.0, 4),
            HitKind.TEXT,
            box=m.box,
            details={"text": m.text},
        )
        for m in matches
        if m.photo_id in photos
    ]


def merge_word_hits(ranked: Sequence[SearchHit], words: Sequence[SearchHit], top: int | None) -> list[SearchHit]:
    """Words hits go after geometric (exact) hits and before semantic ones; a photo appears once.

    A photo that literally contains the query text is stronger evidence than a CLIP similarity, and CLIP
    cosines and edit-distance scores are not on one scale, so the lists are stacked rather than interleaved.
    """
    exact = [h for h in ranked if h.kind == HitKind.EXACT]
    out = list(exact)
    seen = {h.photo_id for h in out}
    for h in [*words, *ranked]:
        if h.photo_id not in seen:
            seen.add(h.photo_id)
            out.append(h)
    return out[:top] if top else out
