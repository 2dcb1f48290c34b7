"""Models in a child process: the window's process never imports torch, and a model crash cannot kill it.

Immich runs its machine learning as a separate service for the same two reasons. Here the service is a
``multiprocessing`` child (spawn context: no fork of a process with Qt and a dozen threads; works in a
PyInstaller bundle once ``multiprocessing.freeze_support()`` runs first) that owns torch, open_clip and
ultralytics. The parent holds proxies that implement the pipeline's narrow protocols
(``ImageEncoder``, ``TextEncoder``, ``Detector`` in ``app/core/protocols.py``), so indexing and search
code do not change.

One pipe per model ("channel"), served by its own thread in the child: a text query from the search box
does not queue behind an indexing batch. A channel may serve another channel's model (``ModelSpec.shares``):
a dropped image's embedding goes through its own pipe to the indexer's image model and runs as an urgent
forward beside the indexing chunk in flight, instead of after a whole region batch of ~100 crops, without a
second copy of the weights (random-init ViT-B/32, 300 photos, region pass running: drop to results 2.66 s
median before, see docs/find-it.md). Images cross as raw pixel bytes (``send_bytes`` of
``Image.tobytes()``, no pickling of pixels: the pipe is written straight from the buffer with the GIL
released) and are rebuilt with ``Image.frombytes``, so the child sees exactly the parent's pixels and
returns exactly the vectors an in-process model would.

The child exits when the parent does (it waits on the parent's sentinel; every pipe also reads EOF) and
on :meth:`ModelHost.close`. When the child dies, every call raises :class:`ModelProcessError` and the
proxies report themselves unavailable: the library turns semantic features off and keeps working.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
from PIL import Image

from app.core.errors import ModelProcessError, ModelUnavailableError
from app.core.models import Detection, ModelStatus
from app.ml.host_child import serve

log = logging.getLogger(__name__)

CHILD_NICE = 10  # the window must win the CPU over model forwards on a 2-core laptop
_STOP_TIMEOUT_S = 5.0
# A forward that has not answered in this long is a hung child (a deadlock in a native library, a
# driver stuck): without a limit the indexer would say "indexing" forever. Generous, because the first
# forward also loads the weights (ViT-L from a slow disk) and a CPU batch of a big model takes tens of
# seconds. "call" operations (download with progress, explicit load) have no limit.
REPLY_TIMEOUT_S = 600.0
_TIMED_OPS = frozenset({"encode_images", "encode_texts", "detect"})


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """How to build one model in the child: ``kind`` names the class, ``kwargs`` its arguments."""

    kind: str  # "clip" (app.ml.clip.ClipEncoder) or "detector" (app.ml.detector.ObjectDetector)
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    shares: str | None = None  # serve this channel's model object (its spec builds it), as urgent forwards

    def build(self) -> Any:
        """The real model object (cheap: nothing is loaded until its first forward)."""
        if self.kind == "clip":
            from app.ml.clip import ClipEncoder

            return ClipEncoder(**self.kwargs)
        if self.kind == "detector":
            from app.ml.detector import ObjectDetector

            return ObjectDetector(**self.kwargs)
        raise ValueError(f"unknown model kind {self.kind!r}")


# The parent


class ModelHost:
    """Starts and owns the child; hands out proxies. Thread-safe.

    Args:
        specs: channel name -> how to build its model in the child.
        warm: import torch and friends in the child as soon as it starts.
        nice: niceness added to the child (POSIX), so model forwards yield the CPU to the window.
        reply_timeout_s: a forward with no answer in this long ends the child as hung.
    """

    def __init__(
        self,
        specs: Mapping[str, ModelSpec],
        warm: bool = True,
        nice: int = CHILD_NICE,
        reply_timeout_s: float = REPLY_TIMEOUT_S,
    ) -> None:
        self.specs = dict(specs)
        self.warm, self.nice, self.reply_timeout_s = warm, nice, reply_timeout_s
        self._lock = threading.Lock()
        self._process: Any = None
        self._conns: dict[str, Connection] = {}
        self._error: str | None = None
        self._closed = False
        self._on_exit: list[Callable[[str], None]] = []
        self._locks = {name: threading.Lock() for name in self.specs}  # one request at a time per pipe
        self.started_s: float | None = None  # seconds Process.start() took in this process

    # Lifecycle

    def start(self) -> None:
        """Start the child if it is not running yet (idempotent; the models load on first use).

        Raises:
            ModelProcessError: the host was closed, or the child died earlier.
        """
        with self._lock:
            if self._error is not None:
                raise ModelProcessError(self._error)
            if self._closed:
                raise ModelProcessError("the model process was stopped (the library is closed)")
            if self._process is not None:
                return
            ctx = multiprocessing.get_context("spawn")
            ends = {name: ctx.Pipe(duplex=True) for name in self.specs}
            process = ctx.Process(
                target=serve,
                args=({n: child for n, (_p, child) in ends.items()}, self.specs, self.warm, self.nice),
                name="shoebox-models",
                daemon=True,  # multiprocessing's atexit also ends it, should the parent exit normally
            )
            t0 = time.perf_counter()
            process.start()
            self.started_s = time.perf_counter() - t0
            for _parent, child in ends.values():
                child.close()  # only the child holds these now: its death reads as EOF here
            self._conns = {n: parent for n, (parent, _c) in ends.items()}
            self._process = process

    @property
    def alive(self) -> bool:
        return self._error is None and not self._closed

    @property
    def error(self) -> str | None:
        """Why the child is gone (None while it runs or has not started)."""
        return self._error

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def on_exit(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(reason)`` once, from the thread that notices the child died."""
        self._on_exit.append(callback)

    def close(self, timeout: float = _STOP_TIMEOUT_S) -> None:
        """Stop the child: close the pipes (it exits on EOF), then terminate or kill if it lingers."""
        with self._lock:
            self._closed = True
            process, conns, self._process, self._conns = self._process, self._conns, None, {}
        for conn in conns.values():
            conn.close()
        if process is None:
            return
        process.join(timeout)
        if process.is_alive():
            process.terminate()
            process.join(1.0)
        if process.is_alive():
            process.kill()
            process.join(1.0)
        process.close()

    def _died(self, exc: BaseException, hung_s: float | None = None) -> ModelProcessError:
        """Note that the child is gone (first caller only runs the callbacks) and build the error.

        ``hung_s``: the child did not answer in that many seconds; it is killed here.
        """
        with self._lock:
            first = self._error is None and not self._closed
            if first:
                process = self._process
                code = None
                if process is not None:
                    if hung_s is not None and process.is_alive():
                        process.kill()
                    process.join(1.0)
                    code = process.exitcode
                self._error = _exit_reason(code, hung_s)
            reason = self._error or "the model process was stopped (the library is closed)"
        if first:
            log.warning("%s", reason)
            for cb in self._on_exit:
                try:
                    cb(reason)
                except Exception:
                    log.exception("model host exit callback failed")
        return ModelProcessError(reason)

    # Calls

    def request(self, channel: str, op: str, args: Any = None, images: Sequence[Image.Image] = ()) -> Any:
        """Run ``op`` on ``channel``'s model in the child; returns (result, forward_seconds)."""
        self.start()
        conn = self._conns.get(channel)
        if conn is None:
            raise self._died(EOFError())
        with self._locks[channel]:
            try:
                conn.send((op, args, [(im.mode, im.size) for im in images]))
                for im in images:
                    conn.send_bytes(im.tobytes())
                if op in _TIMED_OPS and not conn.poll(self.reply_timeout_s):
                    raise self._died(TimeoutError(), hung_s=self.reply_timeout_s)
                reply = conn.recv()
            except (EOFError, OSError) as exc:
                raise self._died(exc) from exc
        kind = reply[0]
        if kind == "ok":
            return reply[1], reply[2]
        if kind == "unavailable":
            raise ModelUnavailableError(reply[1], reply[2])
        raise ModelUnavailableError(f"the model process failed: {reply[1]}")

    def proxy(self, channel: str) -> Any:
        """The parent-side object for ``channel``: an image encoder, a text encoder or a detector."""
        spec = self.specs[channel]
        if spec.kind == "detector":
            return DetectorProxy(self, channel)
        if spec.kwargs.get("text_only"):
            return TextEncoderProxy(self, channel)
        return ImageEncoderProxy(self, channel)


def _exit_reason(code: int | None, hung_s: float | None = None) -> str:
    if hung_s is not None:
        how = f"it stopped answering: no reply in {hung_s:g} s"
    elif code is not None and code < 0:
        try:
            how = f"killed by {signal.Signals(-code).name}"
        except ValueError:
            how = f"killed by signal {-code}"
    elif code is not None:
        how = f"exit code {code}"
    else:
        how = "it stopped answering"
    return f"the model process stopped ({how}): semantic search and object detection are off until Shoebox is restarted"


class _Proxy:
    """Common part: the model id comes from a local, never-loaded model object (no torch needed)."""

    def __init__(self, host: ModelHost, channel: str) -> None:
        self._host, self._channel = host, channel
        self._local = host.specs[channel].build()
        self.model_id: str = self._local.model_id
        self.forward_seconds = 0.0
        self._status: ModelStatus | None = None

    @property
    def host(self) -> ModelHost:
        return self._host

    def _call(self, op: str, args: Any = None, images: Sequence[Image.Image] = ()) -> Any:
        result, seconds = self._host.request(self._channel, op, args, images)
        self.forward_seconds = float(seconds)
        return result

    def status(self) -> ModelStatus:
        """Asked of the child once (it may need open_clip to find cached weights), then remembered."""
        name = "detector" if self._host.specs[self._channel].kind == "detector" else "clip"
        if not self._host.alive:
            return ModelStatus(name, self.model_id, False, False, self._host.error or "the model process is stopped")
        if self._status is None:
            try:
                self._status = self._call("call", ("status", ()))
            except ModelProcessError as exc:
                return ModelStatus(name, self.model_id, False, False, str(exc))
        return self._status

    def hint(self) -> str:
        if not self._host.alive:
            return self._host.error or ""
        return self._call("call", ("hint", ()))

    def download(self) -> Any:
        self._status = None
        return self._call("call", ("download", ()))

    def load(self) -> None:
        self._call("call", ("load", ()))

    def release(self) -> None:
        self._call("call", ("release", ()))


class ImageEncoderProxy(_Proxy):
    """``ImageEncoder`` whose forwards run in the model process."""

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self._call("encode_images", None, list(images))


class TextEncoderProxy(_Proxy):
    """``TextEncoder`` whose forwards run in the model process (the child keeps the LRU of recent texts)."""

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self._call("encode_texts", list(texts))


class DetectorProxy(_Proxy):
    """``Detector`` whose forwards run in the model process."""

    def detect(self, images: Sequence[Image.Image]) -> list[list[Detection]]:
        found = self._call("detect", None, list(images))
        return [[Detection(tuple(box), label, conf) for box, label, conf in dets] for dets in found]
