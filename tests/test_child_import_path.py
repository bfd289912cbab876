"""The daemon's crawl children import arsip's own packages, whatever lies in its working
directory (arsip's top-level packages have common names: config, storage, crawler)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from daemon.children import crawl_command


def test_crawl_child_ignores_modules_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "config.py").write_text("raise SystemExit('the user config.py was imported')\n")
    (tmp_path / "storage").mkdir()
    (tmp_path / "storage" / "__init__.py").write_text("raise SystemExit('user storage')\n")
    cmd = crawl_command("nosuchsite", 1)
    # the same interpreter and flags, asked to import what a crawl imports
    probe = cmd[: cmd.index("-m")] + ["-c", "import config, storage.engine, arsip.cli; "
                                      "print(config.__file__)"]
    out = subprocess.run(probe, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert str(tmp_path) not in out.stdout
    # and the plain `python -m` form would have taken the user's file: the test can fail
    plain = [cmd[0], "-c", "import sys; sys.path.insert(0, ''); import config"]
    shadowed = subprocess.run(plain, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert "the user config.py was imported" in shadowed.stderr
