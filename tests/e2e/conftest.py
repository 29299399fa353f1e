from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def codex_root(tmp_path: Path) -> Iterator[Path]:
    """Where the Codex CLI keeps its home and works: in memory where the machine has /dev/shm. Before
    Codex reads its prompt it creates and migrates five SQLite databases (about 65 fsyncs, seen with
    strace), and a CI run once timed out before that point; on a disk still busy writing back what
    the suite wrote (the desktop suite builds the executable), every one of those fsyncs waits."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 32 << 20):  # ~2 MB a run
        yield tmp_path
        return
    root = Path(tempfile.mkdtemp(prefix="api-router-codex-", dir=shm))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)

