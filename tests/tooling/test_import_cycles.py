"""bin/import_cycles.py: CI's check that no import circle exists among the project's modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bin" / "import_cycles.py"


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def run(cwd: Path, *packages: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *packages], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_finds_a_circle_hidden_by_an_import_inside_a_function(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "shop/__init__.py": "",
            "shop/outbox.py": "from shop import relay\n",
            "shop/relay.py": "def send():\n    from shop.outbox import publish\n    return publish\n",
            "shop/health.py": "from shop import relay\n",
        },
    )
    result = run(tmp_path, "shop")
    assert result.returncode == 1
    assert "shop.outbox -> shop.relay -> shop.outbox" in result.stdout
    assert "1 import circle(s)" in result.stdout


def test_finds_a_circle_between_two_root_packages(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "core/__init__.py": "",
            "core/urls.py": "import shop.views\n",
            "shop/__init__.py": "",
            "shop/views.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from core import urls\n",
        },
    )
    result = run(tmp_path, "core", "shop")
    assert result.returncode == 1
    assert "core.urls -> shop.views -> core.urls" in result.stdout


def test_passes_a_package_without_circles(tmp_path: Path) -> None:
    write(tmp_path, {"shop/__init__.py": "from shop.outbox import publish\n", "shop/outbox.py": "publish = 1\n"})
    result = run(tmp_path, "shop")
    assert result.returncode == 0, result.stdout
    assert "0 import circle(s)" in result.stdout


def test_the_project_has_no_import_circle() -> None:
    result = run(REPO)  # the root packages of .importlinter
    assert result.returncode == 0, result.stdout
