"""Tests of the Python binding against the real library and the Rust command line's results.

The reference numbers come from bindings/reference.sh (the `iaemu` command line on fixed inputs),
written once per session into target/bindings-python/ref. The library is deterministic, so the
numbers are compared with a relative tolerance of 1e-9 (plus 1e-300 absolute, for exact zeros).

Run: .venv-bindings/bin/python -m pytest -q bindings/python/tests   (or bash bindings/python/test.sh)
Environment: IAEMU_TEST_LIBDIR (default target/release, relative to the repository root) holds
iaemu and libiaemu.so; IAEMU_LIB, when set, names the library the binding loads.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
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

# ---- comparison with a count of the numbers checked ------------------------------------------

# Numbers compared with the command line's reference files, and in other consistency checks
# (binding against binding: thread counts, file round trips, concurrency).
CHECKED = {"reference": 0, "consistency": 0}


def same_f32(actual, expected, what=""):
    """Two evaluations of the float32 network in other batch shapes: equal to float32 rounding,
    which is relative to the largest value of each curve (omega and eta cross zero), under 1e-4
    of it (F32_ROUNDING in tests/emulator.rs)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, what
    scale = np.abs(expected).max(axis=-1, keepdims=True)
    worst = (np.abs(actual - expected) / scale).max()
    assert worst <= 1e-4, f"{what}: differs by {worst:.2e} of the curve's largest value"


def same(actual, expected, rtol=1e-9, atol=1e-300, what="", cli=False):
    """Tight comparison (NaN equals NaN); counts the numbers compared. cli: `expected` comes
    from the command line (bindings/reference.sh)."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)
    CHECKED["reference" if cli else "consistency"] += actual.size


# ---- the C structs --------------------------------------------------------------------------


def test_struct_layouts_match_the_c_compiler(c_layout):
    """The ctypes mirrors of the ten structs bindings/layout.c prints (conftest.c_layout) have
    the C compiler's size and field offsets."""
    structs = {name: getattr(_lib, name) for name in {key.split(".")[0] for key in c_layout}}
    for name, T in structs.items():
        py = {f"{name}.sizeof": ctypes.sizeof(T)}
        py.update({f"{name}.{f}": getattr(T, f).offset for f, _ in T._fields_})
        c = {k: v for k, v in c_layout.items() if k.split(".")[0] == name}
        assert py == c, name
        CHECKED["consistency"] += len(c)
    assert len(structs) == 10, sorted(structs)

# ---- reference data --------------------------------------------------------------------------


class Ref:
    def __init__(self, d: Path):
        self.dir = d

    def txt(self, name, shape=None):
        a = np.loadtxt(self.dir / name)
        return a if shape is None else a.reshape(shape)

    def json(self, name):
        return json.loads((self.dir / name).read_text())

    def counts(self):
        return {k: int(v) for k, v in (l.split() for l in (self.dir / "counts.txt").read_text().splitlines())}

    def path(self, name):
        return self.dir / name


@pytest.fixture(scope="session")
def ref():
    d = OUT / "ref"
    subprocess.run(["bash", str(ROOT / "bindings" / "reference.sh"), str(LIBDIR), str(d)], cwd=ROOT, check=True)
    return Ref(d)


@pytest.fixture(scope="module")
def emu():
    with iaemu.Emulator() as e:
        yield e


@pytest.fixture(scope="module")
def halos(ref):
    with iaemu.Halos.load(ref.path("halos.hdf5")) as h:
        yield h


# ---- the library -----------------------------------------------------------------------------


def test_version_and_names(ref):
    header = (ROOT / "include" / "iaemu.h").read_text()
    assert iaemu.version() == re.search(r'#define IAEMU_VERSION "([^"]+)"', header).group(1)
    assert iaemu.N_PARAMS == 7 == len(iaemu.PARAM_NAMES)
    assert list(iaemu.PARAM_NAMES) == ref.json("predict.json")["param_names"]
    assert Path(iaemu.LIB_PATH).resolve() == Path(os.environ["IAEMU_LIB"]).resolve()


def test_library_lookup():
    """IAEMU_LIB wins and a wrong one is a clear ImportError; without it, the project's build."""
    code = "import sys; sys.path.insert(0, sys.argv[1]); import iaemu; print(iaemu.LIB_PATH)"
    pkg = str(ROOT / "bindings" / "python")
    env = {k: v for k, v in os.environ.items() if k != "IAEMU_LIB"}
    bad = subprocess.run([sys.executable, "-c", code, pkg], env=dict(env, IAEMU_LIB="/no/such/libiaemu.so"),
                         capture_output=True, text=True)
    assert bad.returncode != 0
    assert "ImportError: iaemu: cannot load libiaemu.so" in bad.stderr and "/no/such/libiaemu.so" in bad.stderr
    assert "IAEMU_LIB" in bad.stderr
    build = ROOT / "target" / "release" / "libiaemu.so"
    found = subprocess.run([sys.executable, "-c", code, pkg], env=env, capture_output=True, text=True)
    if build.exists():
        assert found.returncode == 0, found.stderr
        assert found.stdout.strip() == str(build)
    else:
        assert str(build) in found.stderr


def test_last_error_and_threads():
    with pytest.raises(iaemu.InvalidArgumentError) as e:
        iaemu.correlate(np.zeros((4, 3)), box_size=-1.0)
    assert e.value.message and e.value.message == iaemu.last_error_message()
    assert e.value.status == -1 and str(e.value) == e.value.message
    iaemu.set_num_threads(1)
    assert iaemu.last_error_message() == ""
    iaemu.set_num_threads(0)
    with pytest.raises(ValueError):
        iaemu.set_num_threads(-1)
    with pytest.raises(TypeError):
        iaemu.set_num_threads(1.5)


def test_exception_classes():
    assert issubclass(iaemu.InvalidArgumentError, (iaemu.IAEmuError, ValueError))
    assert issubclass(iaemu.IaIOError, iaemu.IAEmuError) and issubclass(iaemu.IaIOError, OSError)
    for cls in (iaemu.OutOfDomainError, iaemu.UnsupportedError, iaemu.InternalError):
        assert issubclass(cls, iaemu.IAEmuError)
    assert issubclass(iaemu.OutOfMemoryError, iaemu.IAEmuError) and issubclass(iaemu.OutOfMemoryError, MemoryError)
    assert iaemu.OutOfMemoryError.status == -6
    with pytest.raises(iaemu.IaIOError) as e:
        iaemu.Halos.load(OUT / "no-such-file.hdf5")
    assert isinstance(e.value, OSError) and e.value.status == -2
    assert "no-such-file" in e.value.message and e.value.message == iaemu.last_error_message()


# ---- halos and galaxies ----------------------------------------------------------------------


def test_halos(ref, halos, tmp_path):
    counts = ref.counts()
    info = halos.info
    assert info["n_halos"] == counts["n_halos"] and info["n_hosts"] == counts["n_hosts"]
    CHECKED["reference"] += 2
    assert info["n_halos"] == info["n_hosts"] + info["n_subhalos"] == len(halos)
    same(info["box_size"], [60.0, 60.0, 60.0], what="box_size")
    mvir = halos.column("halo_mvir")
    assert mvir.dtype == np.float64 and mvir.shape == (info["n_halos"],)
    same([mvir.min(), mvir.max()], [info["mvir_min"], info["mvir_max"]], what="mvir range")
    upid = halos.column("halo_upid")
    assert upid.dtype == np.int64 and (upid == -1).sum() == info["n_hosts"]
    ids = halos.column("halo_id")
    assert len(np.unique(ids)) == info["n_halos"]
    # The same universe made by the binding equals the command line's file, column by column;
    # and it survives a round trip through .npz.
    with iaemu.Halos.synthetic(box_size=60, grid=32, seed=1, threads=2) as mine:
        assert mine.info == info | {"rows_read": mine.info["rows_read"]}
        mine.save(tmp_path / "u.npz")
        with iaemu.Halos.load(tmp_path / "u.npz") as back:
            for name in ("halo_x", "halo_vz", "halo_mvir", "halo_rvir", "halo_axisA_x", "halo_rs",
                         "halo_b_to_a", "halo_c_to_a"):
                same(mine.column(name), halos.column(name), rtol=0, what=name)
                same(back.column(name), halos.column(name), rtol=0, what=name)
            for name in ("halo_id", "halo_upid", "halo_hostid"):
                assert np.array_equal(back.column(name), halos.column(name)), name
    # The shape: axis ratios, NaN where unknown, else 0 < c/a <= b/a <= 1.
    b, c = halos.column("halo_b_to_a"), halos.column("halo_c_to_a")
    assert b.dtype == np.float64 and b.shape == c.shape == (info["n_halos"],)
    known = ~np.isnan(b) & ~np.isnan(c)
    assert ((0 < c[known]) & (c[known] <= b[known] + 1e-6) & (b[known] <= 1)).all()
    with pytest.raises(iaemu.InvalidArgumentError, match="no halo column"):
        halos.column("halo_nope")
    with pytest.raises(TypeError, match="unknown option"):
        iaemu.Halos.synthetic(boxsize=60)


def test_halos_load_options(ref, tmp_path):
    with iaemu.Halos.load(ref.path("halos.hdf5"), redshift=0.5, force=True) as h:
        assert h.info["redshift"] == 0.5


def test_populate(ref, halos):
    counts = ref.counts()
    with halos.populate(P0, seed=1) as g:
        assert g.count == counts["n_galaxies"] == len(g)
        central = g.is_central
        assert central.dtype == bool and central.sum() == counts["n_centrals"]
        CHECKED["reference"] += 2
        cli = np.load(ref.path("galaxies.npy"))
        same(g.positions, cli[:, :3], what="positions", cli=True)
        same(g.orientations, cli[:, 3:], what="orientations", cli=True)
        v = g.velocities
        assert v.shape == (g.count, 3) and np.isfinite(v).all()
        host = g.host_id
        assert host.dtype == np.int64 and np.isin(host, halos.column("halo_id")).all()
    with pytest.raises(ValueError, match="7 values"):
        halos.populate(P0[:6])


def test_correlate(ref, halos):
    with halos.populate(P0, seed=1) as g:
        pos, ori = g.positions, g.orientations
    r = iaemu.correlate(pos, ori, box_size=60.0)
    cli = ref.json("correlate.json")
    same(r.stacked, ref.txt("correlate.txt", (3, 20)), what="xi, omega, eta", cli=True)
    same(r.r_edges, ref.txt("r_edges.txt"), what="r_edges", cli=True)
    same(r.r_mid, cli["r_mid"], what="r_mid", cli=True)
    assert r.pairs.dtype == np.uint64 and np.array_equal(r.pairs, np.array(cli["pairs"], dtype=np.uint64))
    CHECKED["reference"] += r.pairs.size
    same(r.weighted_pairs, r.pairs.astype(float), rtol=0, what="weighted pairs")
    assert r.xi_var is None and r.covariance is None
    # Unit weights and a (3,) box give the same numbers; a jackknife adds variances.
    same(iaemu.correlate(pos, ori, np.ones(len(pos)), box_size=[60, 60, 60]).stacked, r.stacked, rtol=0)
    j = iaemu.correlate(pos, ori, box_size=60.0, jackknife_side=2, covariance=True, threads=1)
    same(j.stacked, r.stacked, what="with jackknife")  # summed per sub-volume: to rounding
    assert j.xi_var.shape == (20,) and j.covariance.shape == (60, 60)
    # Without orientations only xi is measured.
    x = iaemu.correlate(pos, box_size=60.0)
    same(x.xi, r.xi, rtol=0)
    assert np.isnan(x.omega).all() and np.isnan(x.eta).all()
    # Custom edges and the other normalisation.
    e = np.geomspace(0.5, 10, 6)
    c = iaemu.correlate(pos, ori, box_size=60.0, r_edges=e, normalization="n_n_minus_1")
    same(c.r_edges, e, rtol=0)
    assert c.xi.shape == (5,)
    # Cross-correlation of the centrals with all galaxies, and its checks.
    with halos.populate(P0, seed=1) as g:
        cen = g.is_central
    xc = iaemu.cross_correlate(pos[cen], ori[cen], None, pos, ori, None, box_size=60.0)
    assert xc.xi.shape == (20,) and xc.pairs.sum() > 0
    with pytest.raises(ValueError, match="positions2"):
        iaemu.cross_correlate(pos, box_size=60.0)
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        iaemu.correlate(pos[:, :2], box_size=60.0)
    with pytest.raises(ValueError, match="orientations"):
        iaemu.correlate(pos, ori[:-1], box_size=60.0)
    with pytest.raises(iaemu.InvalidArgumentError) as err:
        iaemu.correlate(pos, ori, box_size=60.0, r_edges=[1.0, 0.5, 2.0])
    assert err.value.message == iaemu.last_error_message() and "ia_correlate" in err.value.message


def test_simulate(ref, halos):
    s = iaemu.simulate(halos, P0, n_realizations=2, seed=1)
    same(s.mean, ref.txt("simulate_mean.txt", (3, 20)), what="simulate mean", cli=True)
    same(s.var, ref.txt("simulate_var.txt", (3, 20)), what="simulate var", cli=True)
    same(s.r_edges, ref.txt("r_edges.txt"), rtol=0, what="default edges", cli=True)
    # Thread count does not change the result; options are passed through.
    same(iaemu.simulate(halos, P0, 2, 1, threads=1).mean, s.mean, rtol=0)
    e = np.geomspace(0.5, 10, 6)
    n = iaemu.simulate(halos, P0, 2, 1, r_edges=e, satellites="nfw", satellites_times_centrals=True)
    assert n.mean.shape == (3, 5) and np.array_equal(n.r_edges, e)
    with pytest.raises(TypeError, match="unknown option"):
        iaemu.simulate(halos, P0, 2, 1, realizations=3)


# ---- emulator --------------------------------------------------------------------------------


def test_emulator_info(ref, emu):
    info = emu.info
    assert info.n_params == 7 and info.n_statistics == 3 and info.n_bins == 20 == info["n_bins"]
    assert info.domain_min.shape == (7,) and (info.domain_min < info.domain_max).all()
    # the built-in model's size as its file's metadata records it (bindings/reference.sh)
    assert info.n_weights == ref.counts()["n_weights"] and info.log_xi and info.epochs > 0
    assert dict(info)["n_bins"] == 20 and "domain_max" in info.keys()
    same(emu.r_edges, ref.txt("r_edges.txt"), what="emulator r_edges", cli=True)
    assert emu.device == ("cuda" if info.on_cuda else "cpu")
    assert emu.allow_extrapolation is False


def test_predict(ref, emu):
    params = ref.txt("params.txt", (2, 7))
    same(params, [P0, P1], rtol=0)
    p = emu.predict(params, mc_passes=20, seed=42)
    shape = (2, 3, 20)
    same(p.mean, ref.txt("predict_mean.txt", shape), what="mean", cli=True)
    same(p.aleatoric_var, ref.txt("predict_aleatoric_var.txt", shape), what="aleatoric", cli=True)
    same(p.epistemic_var, ref.txt("predict_epistemic_var.txt", shape), what="epistemic", cli=True)
    assert p.flags.dtype == np.uint32 and list(p.flags) == ref.json("predict.json")["flags"]
    CHECKED["reference"] += 2
    # The Jacobian and its mean; a one-pass prediction equals that mean to float32 rounding
    # only (the Jacobian's pass runs 60 copies of each row: other kernels, float32 sums).
    j = emu.jacobian(params)
    same(j.mean, ref.txt("predict_plain_mean.txt", shape), what="jacobian mean", cli=True)
    same(j.jacobian, ref.txt("jacobian.txt", (2, 3, 20, 7)), what="jacobian", cli=True)
    assert j.flags.dtype == np.uint32 and list(j.flags) == [0, 0]
    plain = emu.predict(params, mc_passes=1)
    same_f32(plain.mean, j.mean, what="one-pass mean (float32)")
    assert (plain.epistemic_var == 0).all()
    # One 1-D point gives n = 1; the first point alone gives the first row (to float32
    # rounding: LibTorch's kernels depend on the batch size).
    one = emu.predict(params[0], mc_passes=1)
    assert one.mean.shape == (1, 3, 20) and one.flags.shape == (1,)
    same_f32(one.mean[0], plain.mean[0], what="one point alone (float32)")
    assert emu.jacobian(P0).jacobian.shape == (1, 3, 20, 7)


def test_predict_errors(emu):
    bad = np.array([0.8, np.nan, 12.02, 0.26, 11.38, 13.31, 1.06])
    with pytest.raises(iaemu.InvalidArgumentError) as e:
        emu.predict(bad)
    assert isinstance(e.value, ValueError) and e.value.status == -1
    assert e.value.message == iaemu.last_error_message()
    assert "ia_predict_batch" in e.value.message and "mu_sat" in e.value.message and "NaN" in e.value.message
    with pytest.raises(iaemu.InvalidArgumentError, match="mu_sat"):
        emu.jacobian(bad)
    far = np.array(P0)
    far[2] = 16.0
    with pytest.raises(iaemu.OutOfDomainError) as e:
        emu.predict(np.stack([P0, far]))
    assert list(e.value.flags) == [0, 1 << 2] and "logMmin" in e.value.message
    assert e.value.status == -3
    emu.allow_extrapolation = True
    try:
        assert emu.allow_extrapolation is True
        assert list(emu.predict(far, mc_passes=2).flags) == [1 << 2]
    finally:
        emu.allow_extrapolation = False
    with pytest.raises(iaemu.OutOfDomainError):
        emu.predict(far)
    with pytest.raises(iaemu.InvalidArgumentError, match="mc_passes|passes"):
        emu.predict(P0, mc_passes=0)
    for wrong in (np.zeros((2, 6)), np.zeros((0, 7)), np.zeros((2, 7, 1)), "x"):
        with pytest.raises(ValueError) as e:
            emu.predict(wrong)
        assert not isinstance(e.value, iaemu.IAEmuError)  # caught in Python, before C
    with pytest.raises(ValueError):
        emu.predict(P0, seed=-1)
    with pytest.raises(iaemu.InvalidArgumentError):
        iaemu.Emulator(device="tpu")
    with pytest.raises(iaemu.UnsupportedError):
        iaemu.Emulator(device="cuda:7")
    with pytest.raises(iaemu.IaIOError):
        iaemu.Emulator(OUT / "no-such-model.safetensors", device="cpu")


def test_memory_budget(emu):
    with pytest.raises(iaemu.InvalidArgumentError) as e:
        iaemu.set_memory_budget(1)
    assert e.value.status == -1 and "ia_set_memory_budget" in e.value.message
    with pytest.raises(ValueError):
        iaemu.set_memory_budget(-1)  # caught in Python, before C
    try:
        iaemu.set_memory_budget(64 << 20)
        # 20000 passes of one point do not fit in 64 MiB: refused before the work starts.
        with pytest.raises(iaemu.OutOfMemoryError) as e:
            emu.predict(P0, mc_passes=20000, seed=42)
        assert isinstance(e.value, MemoryError) and e.value.status == -6
        assert "memory budget" in e.value.message and e.value.message == iaemu.last_error_message()
    finally:
        iaemu.set_memory_budget(0)  # the default again, for the tests that follow
    assert emu.predict(P0, mc_passes=1).mean.shape == (1, 3, 20)


def test_no_copies(emu, halos, monkeypatch):
    a = np.array([P0, P1])
    assert _lib.as_params(a) is a  # C-contiguous float64: the array itself
    v = _lib.as_params(a[0])
    assert v.shape == (1, 7) and np.shares_memory(v, a)  # one point: a view
    assert not np.shares_memory(_lib.as_params(np.asfortranarray(a)), a)  # other layouts: copied
    assert _lib.as_params(a.astype(np.float32)).dtype == np.float64
    # End to end: the address the library receives is that of the caller's array.
    import iaemu.corr as corr_mod
    import iaemu.emulator as emu_mod

    seen = []

    def spy(x, *args):
        if x is not None:
            seen.append(x.ctypes.data)
        return _lib.ptr(x, *args)

    monkeypatch.setattr(emu_mod, "ptr", spy)
    emu.predict(a, mc_passes=1)
    assert seen[0] == a.ctypes.data
    seen.clear()
    monkeypatch.setattr(corr_mod, "ptr", spy)
    pos = np.random.default_rng(1).uniform(0, 60, (100, 3))
    ori = np.random.default_rng(2).normal(size=(100, 3))
    iaemu.correlate(pos, ori, box_size=60.0)
    assert seen[:2] == [pos.ctypes.data, ori.ctypes.data]


def test_threads_share_one_emulator(ref, emu, halos):
    params = ref.txt("params.txt", (2, 7))
    expected = ref.txt("predict_mean.txt", (2, 3, 20))
    results, errors = [None] * 4, []
    barrier = threading.Barrier(4)

    def work(k):
        try:
            barrier.wait()
            out = []
            for _ in range(3):
                out.append(emu.predict(params, mc_passes=20, seed=42).mean)
                out.append(emu.jacobian(params).jacobian)
            results[k] = out
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    jac = ref.txt("jacobian.txt", (2, 3, 20, 7))
    for out in results:
        for i in range(0, 6, 2):
            same(out[i], expected, rtol=0, what="concurrent predict")
            same(out[i + 1], jac, what="concurrent jacobian")
    # Four threads populating one Halos give the galaxies of one thread.
    cli = np.load(ref.path("galaxies.npy"))
    got = [None] * 4

    def pop(k):
        with halos.populate(P0, seed=1) as g:
            got[k] = g.positions

    threads = [threading.Thread(target=pop, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for g in got:
        same(g, cli[:, :3], rtol=0, what="concurrent populate")


def test_close(ref):
    e = iaemu.Emulator(device="cpu")
    assert e.device == "cpu"
    e.close()
    e.close()  # idempotent
    assert e.closed
    with pytest.raises(iaemu.InvalidArgumentError, match="Emulator is closed"):
        e.predict(P0)
    with pytest.raises(iaemu.InvalidArgumentError, match="closed"):
        e.info
    with iaemu.Emulator() as e2:
        assert not e2.closed
    assert e2.closed
    h = iaemu.Halos.load(ref.path("halos.hdf5"))
    g = h.populate(P0)
    h.close()
    h.close()
    assert g.count > 0  # galaxies live on their own
    g.close()
    g.close()
    with pytest.raises(iaemu.InvalidArgumentError, match="Halos is closed"):
        h.info
    with pytest.raises(iaemu.InvalidArgumentError, match="Galaxies is closed"):
        g.positions
    with pytest.raises(iaemu.InvalidArgumentError, match="Halos is closed"):
        iaemu.simulate(h, P0, 2)
    # Handles dropped without close() are freed by the garbage collector.
    for _ in range(3):
        iaemu.Emulator()
        iaemu.Halos.load(ref.path("halos.hdf5")).populate(P0)


# ---- training --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    d = tmp_path_factory.mktemp("train")
    with iaemu.Halos.synthetic(box_size=60, grid=32, seed=1) as h:
        h.save(d / "X.npz")
    subprocess.run(
        [str(LIBDIR / "iaemu"), "generate", "--design", "lhs", "--n", "24", "--realizations", "1",
         "--halos", str(d / "X.npz"), "--out", str(d / "data")],
        check=True, capture_output=True,
    )
    return d


SMALL = {"model": {"encoder": [32, 32]},
         "train": {"max_epochs": 50, "batch_size": 16, "device": "cpu", "eval_mc_passes": 2}}


def test_train_stops_at_epoch_2(dataset):
    out = dataset / "model.safetensors"
    seen = []

    def progress(epoch):
        seen.append(epoch.epoch)
        return epoch.epoch >= 2

    history = iaemu.train(dataset / "data", out, SMALL, progress)
    assert seen == [1, 2] and [h.epoch for h in history] == [1, 2]
    assert history[0].max_epochs == 50 and np.isfinite(history[1].train_loss)
    with iaemu.Emulator(out, device="cpu") as m:
        assert m.info.epochs == 2 and m.info.n_weights < 200_000
        assert m.predict(m.info.domain_min + 0.5 * (m.info.domain_max - m.info.domain_min)).mean.shape == (1, 3, 20)


def test_train_callback_exception(dataset):
    out = dataset / "model2.safetensors"

    def progress(epoch):
        raise KeyError(f"stop at {epoch.epoch}")

    with pytest.raises(KeyError, match="stop at 1"):
        iaemu.train(dataset / "data", out, json.dumps(SMALL), progress)
    assert out.exists()  # training stopped normally in C; the best model so far was written


def test_train_errors(dataset):
    with pytest.raises(iaemu.InvalidArgumentError, match="max_epoch") as e:
        iaemu.train(dataset / "data", dataset / "m3.safetensors", {"train": {"max_epoch": 3}})
    assert e.value.message == iaemu.last_error_message()
    with pytest.raises(iaemu.IaIOError):
        iaemu.train(dataset / "no-such-dataset", dataset / "m3.safetensors")
    with pytest.raises(TypeError):
        iaemu.train(dataset / "data", dataset / "m3.safetensors", config=3)
