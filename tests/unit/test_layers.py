"""The architecture rules of DESIGN.md §2, checked on every test run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_import_linter_contracts_are_kept():
    out = subprocess.run([str(BIN / "lint-imports")], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_is_clean():
    out = subprocess.run(
        [str(BIN / "ruff"), "check", "app", "tests", "benchmarks", "dev.py"], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_cli_and_facade_do_not_import_heavy_libraries():
    code = (
        "import sys, app.cli, app.services, app.ml.clip, app.ml.detector, app.ml.ocr\n"
        "heavy = [m for m in ('torch', 'open_clip', 'ultralytics', 'PySide6', 'rapidocr_onnxruntime', 'onnxruntime')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
