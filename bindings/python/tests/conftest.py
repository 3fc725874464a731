"""Fixtures every test module of the Python binding shares."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CHECKED_DIR = ROOT / "target" / "bindings-python" / "checked"


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


@pytest.fixture(scope="session")
def c_layout(tmp_path_factory):
    """The C compiler's struct sizes and field offsets, as bindings/layout.c prints them without
    arguments ("IaCorrOptions.sizeof 56", "IaCorrOptions.box_size 0", ...): a dict of
    "T.sizeof"/"T.field" to int, for the ctypes mirrors' layout tests (test_iaemu.py: all ten
    structs; test_expect.py: the three of tables). The library is that of IAEMU_TEST_LIBDIR, as
    in the test modules."""
    libdir = ROOT / os.environ.get("IAEMU_TEST_LIBDIR", "target/release")
    exe = tmp_path_factory.mktemp("layout") / "layout"
    subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", f"-I{ROOT / 'include'}",
                    str(ROOT / "bindings" / "layout.c"), f"-L{libdir}", "-liaemu",
                    f"-Wl,-rpath,{libdir}", "-o", str(exe)], check=True)
    lines = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.splitlines()
    layout = {}
    for line in lines:
        key, value = line.split()
        assert key not in layout, f"bindings/layout.c prints {key} twice"
        layout[key] = int(value)
    return layout


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


@pytest.fixture(scope="session")
def table_mock(tmp_path_factory):
    """For the samplers' table tests (test_cobaya.py, test_cosmosis.py): the table of the
    60 Mpc/h synthetic universe on the 32 grid, seed 1 (the universe of bindings/reference.sh),
    with the 20 default bins, built on 2 threads (about 8 s on 2 cores), and a mock data vector
    simulated on the same halos at (mu_cen, mu_sat) = (0.5, 0.2), the other five at the -20
    point (examples/make_mock.py, 16 realisations, seed 1). The table's expectation is the mean
    over realisations of that simulation, so the mock scatters around it by its variance.
    Returns (table path, mock path, mock arrays)."""
    import importlib.util

    import iaemu  # as the test modules set it up (library path, sys.path)

    d = tmp_path_factory.mktemp("table-mock")
    spec = importlib.util.spec_from_file_location(
        "make_mock", Path(__file__).resolve().parents[1] / "examples" / "make_mock.py")
    make_mock = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_mock)
    with iaemu.Halos.synthetic(box_size=60, grid=32, seed=1, threads=2) as halos:
        with iaemu.Table.build(halos, threads=2) as table:
            table.save(d / "table.npz")
    arrays = make_mock.make_mock(d / "mock.npz", dict(mu_cen=0.5, mu_sat=0.2), box_size=60.0, grid=32,
                                 halo_seed=1, seed=1, n_realizations=16, threads=2)
    return d / "table.npz", d / "mock.npz", arrays
