"""Move files to the operating system's trash (send2trash; never a hard delete) and bring them back.

Linux (freedesktop.org trash spec): after the move the file is found again by its ``.trashinfo`` (whose
``Path=`` is the original location), so undo moves it back and drops the info file: the same bytes,
checked by content hash. macOS and Windows: send2trash goes through Finder / the shell, which do not say
where the file went; undo then looks in ``~/.Trash`` (macOS) by name and content hash, and otherwise asks
the user to use the system's own "Put Back" / "Restore".
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import send2trash

from app.core.errors import BadInputError


@dataclass(frozen=True, slots=True)
class Trashed:
    path: str
    trash_path: str | None  # where the bytes are now, when the platform lets us know
    info_path: str | None


def _home_trash() -> Path:
    # Read at call time (send2trash reads XDG_DATA_HOME once at import).
    return Path(os.path.expanduser(os.environ.get("XDG_DATA_HOME", "~/.local/share"))) / "Trash"


def _linux_send(path: Path) -> None:
    from send2trash import plat_other

    xdg = _home_trash().parent
    plat_other.XDG_DATA_HOME = os.fsencode(xdg)
    plat_other.HOMETRASH_B = os.fsencode(xdg / "Trash")
    plat_other.send2trash(str(path))


def _trash_dirs(path: Path) -> list[tuple[Path, Path | None]]:
    """(trash dir, top dir for relative Path= entries) that may hold ``path``."""
    dirs: list[tuple[Path, Path | None]] = [(_home_trash(), None)]
    mount = path.parent
    while not os.path.ismount(mount) and mount != mount.parent:
        mount = mount.parent
    uid = os.getuid()
    dirs += [(mount / ".Trash" / str(uid), mount), (mount / f".Trash-{uid}", mount)]
    return dirs


def _find_linux(path: Path) -> Trashed:
    best: tuple[float, Path, Path] | None = None
    for trash, top in _trash_dirs(path):
        info_dir = trash / "info"
        if not info_dir.is_dir():
            continue
        for info in info_dir.glob("*.trashinfo"):
            try:
                text = info.read_text(errors="replace")
            except OSError:
                continue
            for line in text.splitlines():
                if line.startswith("Path="):
                    original = Path(unquote(line[5:]))
                    if not original.is_absolute() and top is not None:
                        original = top / original
                    if original == path:
                        stamp = info.stat().st_mtime
                        if best is None or stamp > best[0]:
                            best = (stamp, trash / "files" / info.name[: -len(".trashinfo")], info)
    if best is None:
        return Trashed(str(path), None, None)
    return Trashed(str(path), str(best[1]), str(best[2]))


def move_to_trash(path: Path) -> Trashed:
    """Send one file to the trash and report where it went.

    Raises:
        BadInputError: the file is missing or the trash refused it (e.g. no trash on that volume).
    """
    path = Path(os.path.abspath(path))
    if not path.is_file():
        raise BadInputError(f"no such file: {path}")
    try:
        if sys.platform.startswith("linux"):
            _linux_send(path)
        else:
            send2trash.send2trash(str(path))
    except (OSError, send2trash.TrashPermissionError) as exc:
        raise BadInputError(f"cannot move {path} to the trash: {exc}") from exc
    if sys.platform.startswith("linux"):
        return _find_linux(path)
    if sys.platform == "darwin":
        candidate = Path.home() / ".Trash" / path.name
        return Trashed(str(path), str(candidate) if candidate.exists() else None, None)
    return Trashed(str(path), None, None)


def restore(path: str, trash_path: str | None, info_path: str | None) -> None:
    """Move a trashed file back to ``path``.

    Raises:
        BadInputError: something now occupies ``path``, or the file is no longer in the trash.
    """
    dest = Path(path)
    if dest.exists():
        raise BadInputError(f"cannot restore {path}: a file is there now")
    if trash_path is None or not Path(trash_path).exists():
        where = {"darwin": "Finder's Trash (Put Back)", "win32": "the Recycle Bin (Restore)"}.get(
            sys.platform, "the system trash"
        )
        raise BadInputError(f"cannot find {dest.name} in the trash any more; restore it from {where}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(trash_path, dest) if _same_device(Path(trash_path), dest.parent) else _move(Path(trash_path), dest)
    if info_path:
        Path(info_path).unlink(missing_ok=True)


def _same_device(a: Path, b: Path) -> bool:
    return a.stat().st_dev == b.stat().st_dev


def _move(src: Path, dest: Path) -> None:
    import shutil

    shutil.move(str(src), str(dest))
