"""Library settings: a typed dataclass saved as JSON in the library folder.

Precedence, lowest first: defaults, ``settings.json``, environment (``SHOEBOX_CLIP_MODEL``,
``SHOEBOX_CLIP_PRETRAINED``, ``SHOEBOX_DETECTOR``), then explicit overrides (CLI flags).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from app.core.errors import LibraryError

SETTINGS_VERSION = 1

DEFAULT_EXCLUDES = (
    "@eaDir",
    ".git",
    "node_modules",
    "System Volume Information",
    "$RECYCLE.BIN",
    "__pycache__",
)

_ENV = {
    "clip_model": "SHOEBOX_CLIP_MODEL",
    "clip_pretrained": "SHOEBOX_CLIP_PRETRAINED",
    "detector": "SHOEBOX_DETECTOR",
}


@dataclass(frozen=True, slots=True)
class Settings:
    """Every option, declared once with its default."""

    clip_model: str = "ViT-B-32"
    clip_pretrained: str = "laion2b_s34b_b79k"  # "none" = random init (tests and benchmarks only)
    detector: str = "yolo11n.pt"  # a .pt file name/path, or a .yaml for a random-init model
    detector_confidence: float = 0.25
    detector_max_boxes: int = 10
    detector_image_size: int = 640
    work_image_size: int = 1024  # long side of the one decoded image everything is computed from
    thumbnail_size: int = 320
    clip_batch: int = 16
    decode_threads: int = 2
    max_image_pixels: int = 178_000_000  # decompression-bomb guard (Pillow refuses more anyway)
    ocr: bool = True  # read text in photos (bundled PP-OCRv4 models) in the background pass
    ocr_det_side: int = 1024  # longest side of the OCR detector input: the working image at its own scale
    ocr_rec_model: str = ""  # another PaddleOCR recognition model (.onnx) for other scripts; "" = bundled
    ocr_rec_keys: str = ""  # its character list (.txt)
    spool_limit_mb: int = 4096  # decoded images kept for the region pass; beyond it they are re-decoded
    excludes: tuple[str, ...] = DEFAULT_EXCLUDES
    extra_extensions: tuple[str, ...] = field(default_factory=tuple)
    poll_interval_s: float = 30.0  # live folders: seconds between polls of network/FUSE folders
    poll_folders: tuple[str, ...] = ()  # live folders: poll these even if their file system sends events
    # Per library folder (its resolved path): glob patterns of files/folders left out of the index.
    folder_excludes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    schema_version: int = SETTINGS_VERSION

    @property
    def clip_enabled(self) -> bool:
        return bool(self.clip_model)

    def folder_patterns(self, folder: str) -> tuple[str, ...]:
        """The exclude patterns of one library folder (empty when it has none)."""
        return tuple(self.folder_excludes.get(folder, ()))

    def with_overrides(self, **overrides: object) -> Settings:
        """A copy with the given options replaced; ``None`` values are ignored."""
        clean = {k: v for k, v in overrides.items() if v is not None}
        return replace(self, **clean) if clean else self


def load_settings(path: Path, env: dict[str, str] | None = None) -> Settings:
    """Defaults, then the JSON file if it exists, then the environment."""
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    if path.exists():
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise LibraryError(f"cannot read settings file {path}: {exc}") from exc
        if not isinstance(raw, dict):
            raise LibraryError(f"settings file {path} does not hold a JSON object")
        known = {f.name: f for f in fields(Settings)}
        for key, value in raw.items():
            if key in known and key != "schema_version":
                values[key] = tuple(value) if isinstance(value, list) else value
    for key, var in _ENV.items():
        if env.get(var):
            values[key] = env[var]
    return Settings(**values)  # type: ignore[arg-type]


def save_settings(settings: Settings, path: Path) -> None:
    """Write atomically so a crash never leaves half a settings file."""
    data = asdict(settings)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
