#!/usr/bin/env python3
"""Set-up and launch in one step, with nothing but python3 (stdlib only).

    python3 dev.py app [ARGS...]    set up on first use, then run Shoebox (the `shoebox` command)
    python3 dev.py test [ARGS...]   set up on first use, then run the whole test suite

Set-up makes ./.venv, installs the project with its dependencies from pyproject.toml (again
whenever pyproject.toml changes), and on Debian installs the few system libraries Qt and OpenCV
load when they are missing and we are allowed to (root).
"""

from __future__ import annotations

import ctypes.util
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("SHOEBOX_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".shoebox-installed"

# shared library -> Debian package, for Qt (xcb/offscreen) and OpenCV
SYSTEM_LIBS = {
    "GL": "libgl1",
    "EGL": "libegl1",
    "xkbcommon": "libxkbcommon0",
    "fontconfig": "libfontconfig1",
    "dbus-1": "libdbus-1-3",
    "glib-2.0": "libglib2.0-0",
}


def _run(cmd: list[str], **kw: object) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)  # type: ignore[call-overload]


def _system_libs() -> None:
    if not sys.platform.startswith("linux"):
        return
    missing = [pkg for lib, pkg in SYSTEM_LIBS.items() if ctypes.util.find_library(lib) is None]
    if not missing:
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        _run(["apt-get", "update", "-qq"], env=env)
        _run(["apt-get", "install", "-y", "-qq", *missing], env=env)
    else:
        print(f"note: system libraries may be missing; install them with: sudo apt-get install {' '.join(missing)}")


def _fingerprint() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def setup() -> None:
    """Create or refresh the virtual environment when pyproject.toml changed since the last install."""
    if PY.exists() and STAMP.exists() and STAMP.read_text().strip() == _fingerprint():
        return
    _system_libs()
    if not PY.exists():
        try:
            _run([sys.executable, "-m", "venv", str(VENV)])
        except subprocess.CalledProcessError:
            if os.name != "nt" and os.geteuid() == 0 and shutil.which("apt-get"):
                _run(["apt-get", "install", "-y", "-qq", "python3-venv"])
                shutil.rmtree(VENV, ignore_errors=True)
                _run([sys.executable, "-m", "venv", str(VENV)])
            else:
                sys.exit("dev.py: cannot create a virtual environment; install python3-venv and try again")
    _run([str(PY), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    # torch/torchvision come from the registry as pip resolves them (see README).
    _run([str(PY), "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[dev]"])
    STAMP.write_text(_fingerprint())


def _compile_sources() -> None:
    """Write the app's bytecode now (a no-op when it is current).

    An editable install leaves app/ uncompiled, and with PYTHONDONTWRITEBYTECODE set (common in
    containers and CI) Python recompiles every module on every launch. The window imports the
    indexing and search modules on worker threads after its first paint; compiling them holds the
    GIL for tens of milliseconds at a time, which measured as a ~100 ms freeze of the UI thread on
    the first indexing batch. compileall writes the .pyc files regardless of that variable.
    """
    subprocess.run([str(PY), "-m", "compileall", "-q", str(ROOT / "app")], check=False, stdout=subprocess.DEVNULL)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("app", "test", "setup"):
        print(__doc__)
        return 2
    setup()
    _compile_sources()
    env = dict(os.environ)
    if argv[0] == "app":
        return subprocess.call([str(BIN / "shoebox"), *argv[1:]], env=env)
    if argv[0] == "test":
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
        env.setdefault("YOLO_OFFLINE", "1")
        return subprocess.call([str(PY), "-m", "pytest", *argv[1:]], cwd=ROOT, env=env)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
