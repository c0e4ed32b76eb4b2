"""Process settings for the command line (``workbench.threads``), each in a fresh interpreter."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest


def _run(code: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120, env=env)
    return out.stdout.strip()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
@pytest.mark.parametrize("arrow_first", [False, True])
@pytest.mark.parametrize("one_heap", [False, True])
def test_one_heap_gives_arrow_the_c_librarys_malloc(one_heap, arrow_first):
    """With ``one_heap`` Arrow allocates from ``malloc`` (so numpy reuses what it frees),
    whether pyarrow was imported before or after; without it Arrow keeps its own pool."""
    before = _run("import pyarrow as pa; print(pa.default_memory_pool().backend_name)")
    got = _run(("import pyarrow\n" if arrow_first else "")
               + "from workbench.threads import reuse_freed_memory\n"
               + f"ok = reuse_freed_memory(one_heap={one_heap})\n"
               + "import pyarrow as pa\nprint(ok, pa.default_memory_pool().backend_name)")
    assert got == f"True {'system' if one_heap else before}"
    assert before != "system"  # (else this test would not tell the two apart)


def test_a_pool_the_user_chose_is_kept():
    env = dict(os.environ, ARROW_DEFAULT_MEMORY_POOL="mimalloc")
    out = subprocess.run([sys.executable, "-c",
                          "import pyarrow as pa\nfrom workbench.threads import reuse_freed_memory\n"
                          "reuse_freed_memory(one_heap=True)\n"
                          "print(pa.default_memory_pool().backend_name)"],
                         capture_output=True, text=True, check=True, timeout=120, env=env)
    assert out.stdout.strip() == "mimalloc"
