"""Fixtures every test module of the Python binding shares."""

from __future__ import annotations

from pathlib import Path

import pytest

CHECKED_DIR = Path(__file__).resolve().parents[3] / "target" / "bindings-python" / "checked"


@pytest.fixture(scope="module", autouse=True)
def _write_count(request):
    """After a module's tests, writes its CHECKED counts (lines "reference N", "consistency N")
    to target/bindings-python/checked/<module>.txt, which bindings/python/test.sh sums."""
    yield
    checked = getattr(request.module, "CHECKED", None)
    if checked is not None:
        CHECKED_DIR.mkdir(parents=True, exist_ok=True)
        name = request.module.__name__.rsplit(".", 1)[-1]
        (CHECKED_DIR / f"{name}.txt").write_text("".join(f"{k} {v}\n" for k, v in checked.items()))


@pytest.fixture(scope="module")
def one_thread():
    """iaemu (and LibTorch) on 1 thread for a module's tests: one-point predictions are as fast
    on an idle machine and far faster on a loaded one, and the thread count changes LibTorch's
    numbers in the last digits (about 1e-8 relative), so every comparison in the module runs at
    the same count. Restored to the default (process-wide) afterwards, for the tests that
    follow."""
    import iaemu  # as the test modules set it up (library path, sys.path)

    iaemu.set_num_threads(1)
    yield
    iaemu.set_num_threads(0)
