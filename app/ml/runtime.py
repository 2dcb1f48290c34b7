"""Process-wide torch setup shared by every model (imports torch lazily)."""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from types import ModuleType

from app.core.paths import LibraryPaths, default_library_dir

_lock = threading.Lock()
_prepared = False
_default_threads: int | None = None
_configs_registered = False
_yolo_offline_ours = False  # True when YOLO_OFFLINE=1 is our default rather than the user's choice
CONFIGS_DIR = Path(__file__).with_name("configs")


def prepare_torch() -> None:
    """Import torch and set it up for inference; safe to call many times, from any thread.

    Must run before ultralytics is imported: ultralytics sets ``OMP_NUM_THREADS=1`` when it is unset,
    and torch imported after that would run single-threaded. Recording torch's own default here lets
    :func:`restore_threads` undo ultralytics' later ``torch.set_num_threads`` calls.
    """
    global _prepared, _default_threads
    if _prepared:
        return
    with _lock:
        if _prepared:
            return
        import torch

        # Random-init weights produce denormal floats that are many times slower on x86.
        torch.set_flush_denormal(True)
        _default_threads = torch.get_num_threads()
        _prepared = True


def restore_threads() -> None:
    """Put torch's intra-op thread count back to the default seen by :func:`prepare_torch`.

    ultralytics' ``select_device`` sets it to ``cpu_count - 1`` (1 on a 2-core machine), which would
    halve the speed of every other model in the process.
    """
    if _default_threads is None:
        return
    import torch

    if torch.get_num_threads() != _default_threads:
        torch.set_num_threads(_default_threads)


def import_ultralytics() -> ModuleType:
    """Import ultralytics without network checks and without changing the process' thread settings."""
    global _yolo_offline_ours
    # Offline unless the user asked otherwise: no update checks, telemetry or asset downloads.
    if "YOLO_OFFLINE" not in os.environ:
        os.environ["YOLO_OFFLINE"] = "1"
        _yolo_offline_ours = True
    prepare_torch()
    had_omp = "OMP_NUM_THREADS" in os.environ
    from PIL import Image

    pil_open = Image.open
    # ultralytics logs to stdout (a first run even announces its new settings file); stdout belongs to
    # the CLI's --json output, so its handler is bound to stderr while it is created at import.
    with redirect_stdout(sys.stderr):
        import ultralytics
        from ultralytics.utils import LOGGER

    for handler in LOGGER.handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            handler.setStream(sys.stderr)
    if not had_omp:
        # Its "1" would otherwise leak into every child process we start.
        os.environ.pop("OMP_NUM_THREADS", None)
    # ultralytics >= 8.4 replaces PIL's Image.open for the whole process: on any file Pillow cannot
    # identify (every corrupt photo) it pip-installs pi-heif when online, and raises ImportError instead
    # of UnidentifiedImageError when not, so a corrupt file stopped being reported as one. Shoebox
    # decodes its photos itself; the detector gets pixels, never paths.
    Image.open = pil_open
    return ultralytics


@contextmanager
def seeded(seed: int = 0) -> Iterator[None]:
    """Make random-init weights the same in every process, without touching the global RNG.

    The CLI indexes in one process and searches in another; with different random weights their
    vectors would not be comparable even though both say ``<model>/none``.
    """
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def yolo_offline_is_ours() -> bool:
    """Whether ``YOLO_OFFLINE=1`` was set by :func:`import_ultralytics`, not by the user."""
    return _yolo_offline_ours


def import_open_clip() -> ModuleType:
    """Import open_clip with Shoebox's own model configs (e.g. ``shoebox-tiny``) registered."""
    global _configs_registered
    prepare_torch()
    import open_clip

    with _lock:
        if not _configs_registered:
            open_clip.add_model_config(CONFIGS_DIR)
            _configs_registered = True
    return open_clip


def resolve_models_dir(models_dir: Path | None) -> Path:
    """The folder holding model weights: the given one, else the default library's ``models``."""
    if models_dir is not None:
        return Path(models_dir)
    return LibraryPaths(default_library_dir()).models
