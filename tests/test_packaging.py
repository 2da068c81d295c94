"""The built wheel: every module of the source tree is in it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_ROOTS = {"statsd_proxy": ROOT / "proxy", "statsd_operator": ROOT / "operator"}


def test_wheel_holds_every_module(tmp_path: Path) -> None:
    # A copy, because setuptools reuses a build/ folder left in the tree and
    # could pack files that the configuration would leave out.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for root in PACKAGE_ROOTS.values():
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(root, source / root.name, ignore=ignore)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*command, "-w", str(tmp_path), str(source)], check=True, timeout=300)
    wheel = next(tmp_path.glob("statsd_proxy-*.whl"))

    with zipfile.ZipFile(wheel) as archive:
        packed = {name for name in archive.namelist() if name.endswith(".py")}

    expected = {
        str(path.relative_to(root))
        for package, root in PACKAGE_ROOTS.items()
        for path in (root / package).rglob("*.py")
    }
    assert sorted(expected - packed) == []
