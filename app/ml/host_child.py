"""The model process' side of :mod:`app.ml.host`: one serving thread per channel, models built on first use.

Runs only in the spawned child (``ModelHost.start`` names :func:`serve` as its target).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Mapping
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from app.core.errors import ModelUnavailableError

if TYPE_CHECKING:
    from app.ml.host import ModelSpec

log = logging.getLogger(__name__)


def serve(conns: dict[str, Connection], specs: dict[str, ModelSpec], warm: bool, nice: int) -> None:
    """The child's main: one thread per channel; exit as soon as the parent is gone."""
    if nice and hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(nice)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in a terminal is the parent's to handle
    models = _Models(specs)
    threads = [
        threading.Thread(target=_serve_channel, args=(conn, name, models), name=f"host-{name}", daemon=True)
        for name, conn in conns.items()
    ]
    for t in threads:
        t.start()
    if warm:
        threading.Thread(target=_warm, args=(specs,), name="host-warm", daemon=True).start()
    parent = multiprocessing.parent_process()
    while any(t.is_alive() for t in threads):  # every channel reads EOF once the parent closes it
        if parent is not None and wait([parent.sentinel], timeout=0.5):
            break  # the parent died without closing anything (killed, crashed)
    os._exit(0)  # daemon threads may be inside a forward; nothing of theirs needs saving


# torch, open_clip and ultralytics imported (or models built) from two threads at once crash the
# child (SIGSEGV seen with the warm-up importing ultralytics while a channel built CLIP): one at a time.
_LOADING = threading.Lock()


def _warm(specs: dict[str, ModelSpec]) -> None:
    """Import the libraries while the parent is still scanning: the first batch then waits less."""
    from app.ml.runtime import import_open_clip, import_ultralytics

    with _LOADING:
        try:
            kinds = {s.kind for s in specs.values()}
            if "clip" in kinds:
                import_open_clip()
            if "detector" in kinds:
                import_ultralytics()
        except Exception:  # the first real call reports it properly
            log.debug("model host warm-up failed", exc_info=True)


class _Models:
    """The child's model objects, built on first use; a channel that ``shares`` gets its owner's object."""

    def __init__(self, specs: Mapping[str, ModelSpec]) -> None:
        self.specs = specs
        self._built: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, channel: str) -> Any:
        owner = self.specs[channel].shares or channel
        with self._lock:
            if owner not in self._built:
                self._built[owner] = self.specs[owner].build()
            return self._built[owner]


def _serve_channel(conn: Connection, channel: str, models: _Models) -> None:
    model: Any = None
    loaded = False
    while True:
        try:
            op, args, frames = conn.recv()
            images = [Image.frombytes(mode, size, conn.recv_bytes()) for mode, size in frames]
        except (EOFError, OSError):
            return  # the parent closed the channel or went away
        try:
            if model is None:
                model = models.get(channel)
            if op != "call" and not loaded:
                with _LOADING:
                    model.load()
                loaded = True
            if op == "encode_images" and models.specs[channel].shares:  # a query image: no queueing
                result: Any = np.asarray(model.encode_images(images, urgent=True), np.float32)
            elif op == "encode_images":
                result = np.asarray(model.encode_images(images), np.float32)
            elif op == "encode_texts":
                result = np.asarray(model.encode_texts(args), np.float32)
            elif op == "detect":
                result = [[(d.box, d.label, d.confidence) for d in dets] for dets in model.detect(images)]
            elif op == "call" and args[0] == "status":  # cheap, and must not wait for the warm-up
                result = model.status()
            elif op == "call":  # hint, download, load, release: may import open_clip or ultralytics
                name, call_args = args
                with _LOADING:
                    result = getattr(model, name)(*call_args)
            else:
                raise ValueError(f"unknown operation {op!r}")
            reply: tuple = ("ok", result, getattr(model, "forward_seconds", 0.0))
        except ModelUnavailableError as exc:
            reply = ("unavailable", str(exc), exc.hint)
        except Exception as exc:
            log.debug("model host call failed", exc_info=True)
            reply = ("error", f"{type(exc).__name__}: {exc}", "")
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return
