"""The queue between the watchers (any thread, no database) and the single writer that drains it.

File-system events are coalesced by path and debounced: nothing is handed out while events keep
arriving (a quiet period), unless the oldest change has waited ``max_wait_s`` (a long copy must not
hold back what already landed). A file whose size or mtime still moves when its turn comes is put
back for another quiet period instead of being indexed half-written. Root state changes and jobs
(callables the writer must run, e.g. applying new excludes) are handed out at once.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

Stat = tuple[int, int] | None  # (size, mtime_ns), None when the file is gone


def stat_of(path: str) -> Stat:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


@dataclass(slots=True)
class ChangeSet:
    """What the writer should look at: files and folders (whole subtrees) that may have changed."""

    files: set[str] = field(default_factory=set)
    dirs: set[str] = field(default_factory=set)
    moves: dict[str, str] = field(default_factory=dict)  # destination -> source (files and folders)
    roots_online: set[str] = field(default_factory=set)
    roots_offline: set[str] = field(default_factory=set)
    jobs: list[tuple[Callable[[], Any], Future]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.files or self.dirs or self.roots_online or self.roots_offline or self.jobs)


@dataclass(slots=True)
class _Entry:
    is_dir: bool
    first: float
    last: float
    stat: Stat = None
    retries: int = 0


class ChangeQueue:
    """Thread-safe; every method may be called from any thread."""

    def __init__(
        self,
        quiet_s: float = 1.0,
        max_wait_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        stat: Callable[[str], Stat] = stat_of,
    ) -> None:
        self.quiet_s, self.max_wait_s = quiet_s, max_wait_s
        self._clock, self._stat = clock, stat
        self._cond = threading.Condition()
        self._entries: dict[str, _Entry] = {}
        self._moves: dict[str, str] = {}
        self._roots: dict[str, bool] = {}
        self._jobs: list[tuple[Callable[[], Any], Future]] = []
        self._last_event = 0.0
        self._interrupted = False
        self.events = 0  # raw events received (for status and benchmarks)
        self.retried = 0  # files put back because they were still being written

    # Producers

    def file_changed(self, path: str) -> None:
        st = self._stat(path)  # outside the lock: a slow disk must not block the writer
        with self._cond:
            self._touch(path, False, st)

    def dir_changed(self, path: str) -> None:
        with self._cond:
            self._touch(path, True, None)

    def moved(self, src: str, dest: str, is_dir: bool) -> None:
        st = None if is_dir else self._stat(dest)
        with self._cond:
            self._touch(src, is_dir, None)
            self._touch(dest, is_dir, st)
            self._moves[dest] = self._moves.pop(src, src)  # a→b→c is one move a→c

    def root_changed(self, root: str, online: bool) -> None:
        with self._cond:
            self._roots[root] = online
            self._cond.notify_all()

    def submit(self, fn: Callable[[], Any]) -> Future:
        """Run ``fn`` on the writer thread; the future carries its result or exception."""
        fut: Future = Future()
        with self._cond:
            self._jobs.append((fn, fut))
            self._cond.notify_all()
        return fut

    def _touch(self, path: str, is_dir: bool, st: Stat) -> None:
        now = self._clock()
        self.events += 1
        self._last_event = now
        e = self._entries.get(path)
        if e is None:
            self._entries[path] = _Entry(is_dir, now, now, st)
        else:
            e.last, e.is_dir, e.stat = now, e.is_dir or is_dir, st
        self._cond.notify_all()

    # The writer

    def __len__(self) -> int:
        with self._cond:
            return len(self._entries) + len(self._jobs) + len(self._roots)

    def take(self, force: bool = False) -> ChangeSet:
        """Everything that is ready now (``force``: everything, settled or not); may be empty."""
        with self._cond:
            out = ChangeSet(roots_online={r for r, on in self._roots.items() if on})
            out.roots_offline = {r for r, on in self._roots.items() if not on}
            out.jobs, self._jobs, self._roots = self._jobs, [], {}
            candidates = self._due(force)
        # stat outside the lock: producers keep going while the writer checks a thousand files
        settled: list[str] = []
        for path, e in candidates:
            if not force and not e.is_dir:
                st = self._stat(path)
                if st != e.stat:
                    with self._cond:
                        e.stat, e.last, e.retries = st, self._clock(), e.retries + 1
                        self.retried += 1
                    continue
            settled.append(path)
        with self._cond:
            for path in settled:
                e = self._entries.get(path)
                if e is None or (not force and self._clock() - e.last < self.quiet_s):
                    continue  # an event came in meanwhile: wait for the next quiet period
                del self._entries[path]
                (out.dirs if e.is_dir else out.files).add(path)
            taken = out.files | out.dirs
            for dest in [d for d in self._moves if d in taken]:
                out.moves[dest] = self._moves.pop(dest)
        return out

    def _due(self, force: bool) -> list[tuple[str, _Entry]]:
        if not self._entries:
            return []
        now = self._clock()
        if not force and now - self._last_event < self.quiet_s:
            oldest = min(e.first for e in self._entries.values())
            if now - oldest < self.max_wait_s:
                return []  # still busy: let the burst finish
        return [(p, e) for p, e in self._entries.items() if force or now - e.last >= self.quiet_s]

    def wait(self, timeout: float | None) -> ChangeSet:
        """Block until something is ready, ``timeout`` passes or :meth:`interrupt`; returns what is ready."""
        deadline = None if timeout is None else self._clock() + timeout
        while True:
            with self._cond:
                if self._interrupted:
                    self._interrupted = False
                    return ChangeSet()
                if self._jobs or self._roots:
                    break
                now = self._clock()
                left = None if deadline is None else deadline - now
                if left is not None and left <= 0:
                    break
                if self._entries:
                    # wake when the oldest path could be quiet; a take() decides the rest
                    soonest = max(0.02, min(e.last for e in self._entries.values()) + self.quiet_s - now)
                    soonest = max(soonest, self._last_event + self.quiet_s - now)
                    soonest = min(
                        soonest, max(0.02, min(e.first for e in self._entries.values()) + self.max_wait_s - now)
                    )
                    if self._due(False):
                        break
                    self._cond.wait(soonest if left is None else min(left, soonest))
                else:
                    self._cond.wait(left)
                continue
        return self.take()

    def interrupt(self) -> None:
        """Make a blocked :meth:`wait` return now (stop, or new work outside the queue)."""
        with self._cond:
            self._interrupted = True
            self._cond.notify_all()
