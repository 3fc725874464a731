"""Tests of the Python binding's tables and expected correlations (iaemu.Table: ia_table_*,
ia_expect_*) against the Rust command line.

The reference comes from bindings/reference-expect.sh (`iaemu halos synth --box 50 --grid 16`,
`iaemu tabulate --edges 0.1,0.5,2,8 --threads 2`, `iaemu expect --parts --jacobian` of the two
points of reference.sh), written once per module into target/bindings-python/expect-ref. The
binding and the command line run the same code on the same table, so every number is compared
bitwise (NaN equal to NaN); a sum of parts, to 1e-12 relative.

Run: .venv-bindings/bin/python -m pytest -q bindings/python/tests/test_expect.py (or bash
bindings/python/test.sh). Environment as tests/test_iaemu.py.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
LIBDIR = ROOT / os.environ.get("IAEMU_TEST_LIBDIR", "target/release")
OUT = ROOT / "target" / "bindings-python"
os.environ.setdefault("IAEMU_LIB", str(LIBDIR / "libiaemu.so"))
sys.path.insert(0, str(ROOT / "bindings" / "python"))

import iaemu  # noqa: E402
from iaemu import _lib  # noqa: E402

P0 = [0.8, 0.8, 12.02, 0.26, 11.38, 13.31, 1.06]
P1 = [0.3, -0.2, 12.5, 0.4, 12.0, 13.6, 1.0]
STATS = ("xi", "omega", "eta")

# Numbers compared with the command line's results, and in other consistency checks.
CHECKED = {"reference": 0, "consistency": 0}


def same(actual, expected, what="", cli=False, rtol=0.0):
    """Bitwise (rtol 0) or relative comparison, NaN equal to NaN; counts the numbers compared.
    cli: `expected` comes from the command line."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    if rtol == 0:
        np.testing.assert_array_equal(actual, expected, err_msg=what)
    else:
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=1e-300, equal_nan=True, err_msg=what)
    CHECKED["reference" if cli else "consistency"] += actual.size


def arr(x):
    """A JSON array as float64 (null, which is how JSON writes NaN, as NaN)."""
    return np.array(x, dtype=np.float64)


class Ref:
    def __init__(self, d: Path):
        self.dir = d
        self.json = json.loads((d / "expect.json").read_text())
        self.options = json.loads((d / "expect_options.json").read_text())
        self.counts = {k: int(v) for k, v in (l.split() for l in (d / "expect_counts.txt").read_text().splitlines())}

    def path(self, name):
        return self.dir / name

    @staticmethod
    def mean(j):
        """(n, 3, n_bins) from the JSON's xi, omega, eta, each (n, n_bins)."""
        return np.stack([arr(j[s]) for s in STATS], axis=1)


@pytest.fixture(scope="module")
def ref():
    d = OUT / "expect-ref"
    subprocess.run(["bash", str(ROOT / "bindings" / "reference-expect.sh"), str(LIBDIR), str(d)], cwd=ROOT,
                   check=True)
    return Ref(d)


@pytest.fixture(scope="module")
def table(ref):
    with iaemu.Table(ref.path("table.npz")) as t:
        yield t


PARAMS = np.array([P0, P1])


# ---- the C structs ---------------------------------------------------------------------------

def test_struct_layouts_and_constants_match_the_c_compiler(c_layout):
    """The ctypes mirrors of IaTableOptions, IaExpectOptions and IaTableInfo have the C
    compiler's size and field offsets (bindings/layout.c, through conftest.c_layout), and the
    IA_PART_* constants the values the C preprocessor gives them from include/iaemu.h."""
    tables = (_lib.IaTableOptions, _lib.IaExpectOptions, _lib.IaTableInfo)
    c = {k: v for k, v in c_layout.items() if k.split(".")[0] in {T.__name__ for T in tables}}
    py = {}
    for T in tables:
        py[f"{T.__name__}.sizeof"] = ctypes.sizeof(T)
        py.update({f"{T.__name__}.{f}": getattr(T, f).offset for f, _ in T._fields_})
    assert py == c
    CHECKED["consistency"] += len(c)
    # The header's macros as the compiler sees them: "#define NAME VALUE" lines.
    macros = subprocess.run(["cc", "-dM", "-E", "-x", "c", str(ROOT / "include" / "iaemu.h")], check=True,
                            capture_output=True, text=True).stdout
    defines = {w[1]: w[2] for w in (line.split(None, 2) for line in macros.splitlines())
               if len(w) == 3 and w[0] == "#define"}
    names = ("IA_N_PARTS", "IA_PART_CEN_CEN_2H", "IA_PART_CEN_SAT_1H", "IA_PART_CEN_SAT_2H",
             "IA_PART_SAT_SAT_1H", "IA_PART_SAT_SAT_2H")
    assert {n: getattr(iaemu, n) for n in names} == {n: int(defines[n]) for n in names}
    CHECKED["consistency"] += len(names)
    assert iaemu.PART_NAMES == iaemu.Parts._fields
    assert [iaemu.PART_NAMES.index(n) for n in ("cen_cen_2h", "sat_sat_2h")] == [
        iaemu.IA_PART_CEN_CEN_2H, iaemu.IA_PART_SAT_SAT_2H]


# ---- the table and its numbers against the command line -------------------------------------


def test_table_info(ref, table):
    info = table.info
    c = ref.counts
    assert info.n_bins == c["n_bins"] == 3 == table.n_bins == info["n_bins"]
    assert info.n_hosts == c["n_hosts"] == ref.json["table"]["n_hosts"]
    assert info.n_subhalos == c["n_subhalos"]
    assert info.satellites == ref.json["table"]["satellites"] == "subhalos"
    CHECKED["reference"] += 4
    assert info.box_size == (50.0, 50.0, 50.0) and info.size_bytes > 0
    assert dict(info)["n_hosts"] == info.n_hosts and "size_bytes" in info.keys()
    same(table.r_edges, ref.json["r_edges"], what="r_edges", cli=True)
    same(table.r_mid, ref.json["r_mid"], what="r_mid", cli=True, rtol=1e-15)
    assert table.path == str(ref.path("table.npz"))
    assert f"{info.n_hosts} hosts, subhalos satellites, 3 bins" in repr(table)


def test_expect_matches_cli(ref, table):
    e = table.expect(PARAMS)
    assert isinstance(e, iaemu.Expectation)
    assert e.mean.shape == (2, 3, 3) and e.n_galaxies.shape == (2,)
    same(e.mean, Ref.mean(ref.json), what="expected xi, omega, eta", cli=True)
    same(e.n_galaxies, ref.json["n_galaxies"], what="n_galaxies", cli=True)
    assert np.isfinite(e.mean).all() and (e.n_galaxies > 2).all()
    # One 1-D point is a batch of one, and gives that point's row of the batch.
    one = table.expect(PARAMS[1])
    assert one.mean.shape == (1, 3, 3) and one.n_galaxies.shape == (1,)
    same(one.mean[0], e.mean[1], what="one point alone")
    # The thread count does not change the evaluation.
    same(table.expect(PARAMS, threads=1).mean, e.mean, what="one thread")


def test_parts_match_cli(ref, table):
    p = table.parts(PARAMS)
    assert isinstance(p, iaemu.Parts) and p._fields == iaemu.PART_NAMES
    for name in iaemu.PART_NAMES:
        part = getattr(p, name)
        assert part.shape == (2, 3, 3), name
        same(part, Ref.mean(ref.json["parts"][name]), what=f"part {name}", cli=True)
    # The xi parts add up to 1 + xi, the omega and eta parts to omega and eta.
    mean = table.expect(PARAMS).mean
    total = sum(getattr(p, name) for name in iaemu.PART_NAMES)
    same(total[:, 0], 1 + mean[:, 0], what="xi parts sum to 1 + xi", rtol=1e-12)
    np.testing.assert_allclose(total[:, 1:], mean[:, 1:], rtol=1e-12, atol=1e-15 * np.abs(mean[:, 1:]).max())
    CHECKED["consistency"] += total[:, 1:].size


def test_jacobian_matches_cli(ref, table):
    j = table.jacobian(PARAMS)
    assert j.shape == (2, 3, 3, 7)
    same(j, arr(ref.json["jacobian"]), what="jacobian", cli=True)
    # mu_cen and mu_sat do not move xi (alignments only); they do move omega and eta.
    assert (j[:, 0, :, :2] == 0).all() and (j[:, 1:, :, :2] != 0).any()
    same(table.jacobian(PARAMS[0])[0], j[0], what="one point alone")


def test_options_match_cli(ref, table):
    kw = dict(xi_normalization="n_n_minus_1", satellites_times_centrals=True)
    e = table.expect(PARAMS, **kw)
    same(e.mean, Ref.mean(ref.options), what="expect with options", cli=True)
    same(e.n_galaxies, ref.options["n_galaxies"], what="n_galaxies with options", cli=True)
    assert not np.array_equal(e.mean, table.expect(PARAMS).mean)
    # The C constant is accepted as well as its name; the parts and the Jacobian take the options.
    same(table.expect(PARAMS, xi_normalization=iaemu.IA_XI_N_N_MINUS_1, satellites_times_centrals=True).mean,
         e.mean, what="constant")
    p = table.parts(PARAMS, **kw)
    same(sum(p)[:, 0], 1 + e.mean[:, 0], what="xi parts with options", rtol=1e-12)
    assert table.jacobian(PARAMS, **kw).shape == (2, 3, 3, 7)


def test_build_save_and_load(ref, table, tmp_path):
    """Table.build on the same halos, edges and thread count gives the command line's table:
    the same numbers, bitwise; and so does its copy saved and read back."""
    with iaemu.Halos.load(ref.path("expect-halos.npz")) as halos:
        built = iaemu.Table.build(halos, r_edges=ref.json["r_edges"], threads=2)
    # The table lives on its own once the halos are closed.
    assert built.path is None and built.info == table.info
    same(built.expect(PARAMS).mean, Ref.mean(ref.json), what="built table: expect", cli=True)
    same(built.jacobian(PARAMS), arr(ref.json["jacobian"]), what="built table: jacobian", cli=True)
    same(built.parts(PARAMS).sat_sat_1h, Ref.mean(ref.json["parts"]["sat_sat_1h"]), what="built table: part",
         cli=True)
    built.save(tmp_path / "copy.npz")
    with iaemu.Table(tmp_path / "copy.npz") as back:
        assert back.info == table.info
        same(back.r_edges, table.r_edges, what="saved r_edges")
        same(back.expect(PARAMS).mean, table.expect(PARAMS).mean, what="saved and read back")
        same(back.jacobian(PARAMS), table.jacobian(PARAMS), what="saved and read back: jacobian")
    built.close()
    # Other options reach the library: NFW satellites, a coarser mass binning.
    with iaemu.Halos.load(ref.path("expect-halos.npz")) as halos:
        with iaemu.Table.build(halos, r_edges=[0.5, 2, 8], satellites="nfw", mass_bin_dex=0.5,
                               draws_per_mass_bin=1 << 12, tracers_two_halo=1, seed=3, threads=2) as nfw:
            assert nfw.info.satellites == "nfw" and nfw.n_bins == 2
            assert np.isfinite(nfw.expect(P0).mean).all()
        with pytest.raises(iaemu.InvalidArgumentError) as e:
            iaemu.Table.build(halos, r_edges=[0.1, 0.5, 2, 8], mass_bin_dex=5.0)
        assert "ia_table_build" in e.value.message and e.value.message == iaemu.last_error_message()
        with pytest.raises(iaemu.InvalidArgumentError, match="ia_table_build"):
            iaemu.Table.build(halos, r_edges=[2.0, 0.5])
        with pytest.raises(ValueError) as e:
            iaemu.Table.build(halos, satellites="orbiting")
        assert not isinstance(e.value, iaemu.IAEmuError)  # caught in Python, before C
        with pytest.raises(ValueError):
            iaemu.Table.build(halos, seed=-1)
    with pytest.raises(TypeError):
        iaemu.Table.build(str(ref.path("expect-halos.npz")))
    with pytest.raises(iaemu.InvalidArgumentError, match="Halos is closed"):
        iaemu.Table.build(halos)


# ---- errors ------------------------------------------------------------------------------------


def test_expect_errors(table):
    bad = np.array([0.8, np.nan, 12.02, 0.26, 11.38, 13.31, 1.06])
    for call, function in ((table.expect, "ia_expect_batch"), (table.jacobian, "ia_expect_jacobian"),
                           (table.parts, "ia_expect_parts")):
        with pytest.raises(iaemu.InvalidArgumentError) as e:
            call(np.stack([P0, bad]))
        assert isinstance(e.value, ValueError) and e.value.status == -1
        assert e.value.message == iaemu.last_error_message() and str(e.value) == e.value.message
        assert function in e.value.message and "row 1" in e.value.message, e.value.message
        assert "mu_sat" in e.value.message and "NaN" in e.value.message, e.value.message
    # Outside the model's range, too few galaxies, too many satellites: refused by the library.
    for wrong, why in (([1.5, 0.8, 12.02, 0.26, 11.38, 13.31, 1.06], "mu_cen"),
                       ([0.8, 0.8, 12.02, -0.1, 11.38, 13.31, 1.06], "sigma_logM"),
                       ([0.8, 0.8, 16.0, 0.26, 11.38, 16.0, 1.06], "at least 2"),
                       ([0.8, 0.8, 12.02, 0.26, 11.38, 9.0, 1.06], "satellites")):
        with pytest.raises(iaemu.InvalidArgumentError) as e:
            table.expect(wrong)
        assert "ia_expect_batch" in e.value.message and why in e.value.message, e.value.message
    # Shapes and option values wrong in Python: plain ValueError / TypeError, before C.
    for wrong in (np.zeros((2, 6)), np.zeros((0, 7)), np.zeros((2, 7, 1)), "x"):
        with pytest.raises(ValueError) as e:
            table.expect(wrong)
        assert not isinstance(e.value, iaemu.IAEmuError)
    with pytest.raises(ValueError, match="normalization"):
        table.expect(P0, xi_normalization="n_cubed")
    with pytest.raises(ValueError):
        table.expect(P0, threads=-1)
    with pytest.raises(TypeError):
        table.jacobian(P0, threads=1.5)
    with pytest.raises(iaemu.InvalidArgumentError, match="ia_expect_parts"):
        table.parts(P0, xi_normalization=7)  # an unknown C constant: refused by the library
    with pytest.raises(iaemu.InvalidArgumentError, match="ia_expect_batch"):
        table.expect(P0, threads=5000)


def test_table_file_errors(ref, table, tmp_path):
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"not a table " * 100)
    truncated = tmp_path / "truncated.npz"
    data = ref.path("table.npz").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    for path in (corrupt, truncated, ref.path("expect-halos.npz")):  # the last: an .npz, not a table
        with pytest.raises(iaemu.InvalidArgumentError) as e:
            iaemu.Table(path)
        assert e.value.status == -1 and e.value.message == iaemu.last_error_message()
        assert "ia_table_load" in e.value.message and str(path) in e.value.message
        assert "not an iaemu table" in e.value.message, e.value.message
    with pytest.raises(iaemu.IaIOError) as e:
        iaemu.Table(tmp_path / "no-such-table.npz")
    assert isinstance(e.value, OSError) and e.value.status == -2 and "no-such-table" in e.value.message
    with pytest.raises(ValueError):
        iaemu.Table(None)
    with pytest.raises(iaemu.InvalidArgumentError, match="ia_table_save"):
        table.save(tmp_path / "table.txt")  # not .npz
    with pytest.raises(iaemu.IaIOError, match="ia_table_save"):
        table.save(tmp_path / "no" / "such" / "folder" / "table.npz")


# ---- handles and threads -------------------------------------------------------------------------


def test_close(ref):
    t = iaemu.Table(ref.path("table.npz"))
    assert not t.closed
    t.close()
    t.close()  # idempotent
    assert t.closed and repr(t) == "<iaemu.Table (closed)>"
    for use in (lambda: t.expect(P0), lambda: t.jacobian(P0), lambda: t.parts(P0), lambda: t.info,
                lambda: t.r_edges, lambda: t.save(ref.dir / "never.npz")):
        with pytest.raises(iaemu.InvalidArgumentError, match="Table is closed"):
            use()
    with iaemu.Table(ref.path("table.npz")) as t2:
        assert t2.n_bins == 3
    assert t2.closed
    # Dropped without close(): freed by the garbage collector.
    for _ in range(3):
        iaemu.Table(ref.path("table.npz")).expect(P0)


def test_threads_share_one_table(ref, table):
    expected_mean = Ref.mean(ref.json)
    expected_jac = arr(ref.json["jacobian"])
    results, errors = [None] * 4, []
    barrier = threading.Barrier(4)

    def work(k):
        try:
            barrier.wait()
            results[k] = [(table.expect(PARAMS).mean, table.jacobian(PARAMS)) for _ in range(3)]
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for out in results:
        for mean, jac in out:
            same(mean, expected_mean, what="concurrent expect")
            same(jac, expected_jac, what="concurrent jacobian")
