r"""The one atomic writer: a file is either the old one or the whole new one.

Every output the workbench writes (configs, reports, scorecards, exported
apps) goes through :func:`atomic_path`: the content is written to a hidden
temporary file beside the target and moved into place with ``os.replace``,
which is atomic on POSIX and Windows, so a crash, a full disk or Ctrl-C
mid-write leaves the earlier output intact.  Datasets (folders) are swapped
the same way by :func:`workbench.store.write_dataset`.

Examples
--------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> atomic_write_json(d / "a.json", {"x": 1}).read_text()
'{\n  "x": 1\n}'
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``.

    If the block raises, or writes nothing, the target is left as it was and the
    temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"{path}: nothing was written, the old file is kept")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def atomic_write_json(path: str | Path, obj) -> Path:
    """Write ``obj`` as indented JSON atomically (non-JSON values via ``str``)."""
    return atomic_write_text(path, json.dumps(obj, indent=2, default=str))


def fsync_dir(path: str | Path) -> None:
    """Flush a directory entry to disk (a no-op where the OS does not allow it)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
