"""Where model weights are found on disk, and the messages that say what to put where when they are not.

Everything here works on paths only, except where it is handed the ``open_clip`` module to read
its pretrained-tag registry (which imports torch).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.errors import ModelUnavailableError
from app.ml.runtime import CONFIGS_DIR, import_open_clip

log = logging.getLogger(__name__)

RANDOM_WARNING = "RANDOM WEIGHTS: results are meaningless (tests and benchmarks only)"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
# open_clip's own preference when a folder holds several checkpoints.
_PREFERRED = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth",
    "model.safetensors",
    "pytorch_model.bin",
)
_HF_WEIGHTS = "open_clip_pytorch_model.bin"
_HF_SAFE_WEIGHTS = "open_clip_model.safetensors"
_OPEN_CLIP_URL_CACHE = Path("~/.cache/clip").expanduser()  # open_clip's default for URL downloads


def checkpoint_in(folder: Path) -> Path | None:
    """The weights file in ``folder``: a preferred name first, else safetensors, else the first by name."""
    if not folder.is_dir():
        return None
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    for name in _PREFERRED:
        if (folder / name) in files:
            return folder / name
    if len(files) > 1:
        log.warning("Several weights files in %s; using %s", folder, files[0].name)
    files.sort(key=lambda p: p.suffix != ".safetensors")
    return files[0] if files else None


def clip_config_known(model_name: str) -> bool:
    """Whether open_clip (or our ``configs/``) has an architecture of that name, without importing it."""
    if model_name.startswith(("hf-hub:", "local-dir:")):
        return True  # resolved by open_clip itself at load time
    name = model_name.replace("/", "-") + ".json"
    if (CONFIGS_DIR / name).is_file():
        return True
    spec = importlib.util.find_spec("open_clip")  # locates the package without running it
    folders = spec.submodule_search_locations if spec is not None else None
    return any((Path(folder) / "model_configs" / name).is_file() for folder in folders or ())


def _is_path(value: str) -> bool:
    return "/" in value or os.sep in value or value.lower().endswith(WEIGHT_SUFFIXES)


@dataclass(frozen=True)
class ClipWeights:
    """Resolution of one (model, pretrained) pair to a local checkpoint file."""

    model_name: str
    pretrained: str
    models_dir: Path

    @property
    def random_init(self) -> bool:
        return self.pretrained.strip().lower() in ("", "none")

    @property
    def is_file_spec(self) -> bool:
        return not self.random_init and _is_path(self.pretrained)

    @property
    def tag_id(self) -> str:
        """The pretrained part of the model id: ``none``, a file name, or the normalised tag."""
        if self.random_init:
            return "none"
        if self.is_file_spec:
            return Path(self.pretrained).name
        return self.pretrained.strip().lower().replace("-", "_")  # the way open_clip normalises tags

    @property
    def folder(self) -> Path:
        """Where the user may drop the weights for this model and tag."""
        return self.models_dir / "clip" / self.model_name.replace("/", "-") / self.tag_id

    @property
    def cache_dir(self) -> Path:
        return self.models_dir / "clip" / "hf-cache"

    def missing_message(self) -> str:
        if self.is_file_spec:
            return f"CLIP weights file not found: {self.pretrained}"
        return (
            f"CLIP weights missing: put {_HF_SAFE_WEIGHTS} (or {_HF_WEIGHTS}) for "
            f"{self.model_name}/{self.tag_id} in {self.folder}{os.sep}"
        )

    def hint(self, open_clip: Any = None) -> str:
        """What to do about missing weights; names the download source when the registry is at hand."""
        text = self.missing_message()
        cfg = self._tag_cfg(open_clip) if open_clip is not None else {}
        source = cfg.get("url")
        if cfg.get("hf_hub"):
            source = f"https://huggingface.co/{cfg['hf_hub'].rstrip('/')}"
        if source:
            text += f" (download it from {source})"
        return text + "; or let Shoebox download it while online."

    def find_local(self, open_clip: Any = None) -> Path | None:
        """The checkpoint on disk, without any network access, or None.

        ``pretrained`` given as a file path is used as is; a tag is looked up in the model folder,
        then in the download caches (ours, then open_clip's defaults). The caches need the tag
        registry, so they are only consulted (importing open_clip) when they hold open_clip downloads.
        """
        if self.random_init:
            return None
        if self.is_file_spec:
            path = Path(self.pretrained).expanduser()
            return path if path.is_file() else None
        found = checkpoint_in(self.folder)
        if found is not None:
            return found
        if not self._caches_look_used():
            return None
        if open_clip is None:
            open_clip = import_open_clip()
        return self._find_cached(self._tag_cfg(open_clip))

    def _caches_look_used(self) -> bool:
        from huggingface_hub import constants  # light: no torch, honours HF_HOME / HF_HUB_CACHE

        hf_default = Path(constants.HF_HUB_CACHE)
        for cache in (self.cache_dir, hf_default):
            if any(cache.glob("models--*/snapshots/*/open_clip_*")):
                return True
        return any(any(c.glob("*.pt")) for c in (self.cache_dir, _OPEN_CLIP_URL_CACHE))

    def _tag_cfg(self, open_clip: Any) -> dict[str, Any]:
        return dict(open_clip.pretrained.get_pretrained_cfg(self.model_name, self.tag_id) or {})

    def _find_cached(self, cfg: dict[str, Any]) -> Path | None:
        if cfg.get("hf_hub"):
            from huggingface_hub import try_to_load_from_cache

            repo, filename = os.path.split(cfg["hf_hub"])
            filename = filename or _HF_WEIGHTS
            names = [_HF_SAFE_WEIGHTS] if filename == _HF_WEIGHTS else []
            if filename.endswith((".bin", ".pth")):
                names.append(filename[:-4] + ".safetensors")
            names.append(filename)
            for cache in (self.cache_dir, None):  # ours, then the user's default HF cache
                for name in names:
                    hit = try_to_load_from_cache(repo, name, cache_dir=cache)
                    if isinstance(hit, str) and os.path.isfile(hit):
                        return Path(hit)
        if cfg.get("url"):
            name = os.path.basename(cfg["url"])
            for cache in (self.cache_dir, _OPEN_CLIP_URL_CACHE):
                if (cache / name).is_file():
                    return cache / name
        return None

    def preprocess_overrides(self, open_clip: Any) -> dict[str, Any]:
        """Keyword arguments for ``create_model_and_transforms`` that a tag would have set.

        open_clip applies a tag's normalisation and activation only when it resolves the tag itself;
        we hand it a file path instead, so we pass them explicitly.
        """
        cfg = self._tag_cfg(open_clip)
        keys = {"mean": "image_mean", "std": "image_std"}
        keys |= {"interpolation": "image_interpolation", "resize_mode": "image_resize_mode"}
        kwargs: dict[str, Any] = {arg: cfg[key] for key, arg in keys.items() if cfg.get(key)}
        if cfg.get("quick_gelu"):
            kwargs["force_quick_gelu"] = True
        return kwargs

    def download(self, open_clip: Any) -> Path:
        """Download the tag's weights into :attr:`cache_dir` with open_clip's own downloader."""
        cfg = self._tag_cfg(open_clip)
        if not cfg:
            known = ", ".join(open_clip.pretrained.list_pretrained_tags_by_model(self.model_name)) or "none"
            raise ModelUnavailableError(
                f"Unknown pretrained tag {self.pretrained!r} for CLIP {self.model_name} (known: {known})",
                self.hint(),
            )
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        try:
            target = open_clip.pretrained.download_pretrained(cfg, cache_dir=str(self.cache_dir))
        except Exception as exc:  # network, HTTP and checksum errors all mean the same to the user
            raise ModelUnavailableError(
                f"Could not download CLIP weights for {self.model_name}/{self.tag_id}: {exc}",
                self.hint(open_clip),
            ) from exc
        if not target or not Path(target).is_file():
            raise ModelUnavailableError(self.missing_message(), self.hint(open_clip))
        return Path(target)
