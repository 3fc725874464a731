"""Tests of the Cobaya components (bindings/python/iaemu_cobaya.py, SAMPLERS.md).

A mock data vector is simulated with iaemu.simulate at a known truth (examples/make_mock.py: the
160 Mpc/h synthetic universe on the 128 grid, 4 realisations), its mean then replaced by the
built-in emulator's prediction at the truth (see the `mock` fixture). Then: the Theory's products equal Emulator.predict exactly (same point, passes,
seed); the likelihood equals a hand computation (all statistics, and a subset and r range);
points outside the training domain get zero likelihood unless extrapolation is allowed; a
missing parameter is an error; and a seeded 300-sample mcmc chain from examples/cobaya_mu.yaml
(4 Monte Carlo passes) runs, writes its chain, and its posterior means of mu_cen and mu_sat lie
within 0.15 of the truth (0.5, 0.2) and within 3 posterior standard deviations; the same with a
table as the theory and its expectation at the truth as the data.

Run: PYTHONPATH=bindings/python .venv-bindings/bin/python -m pytest -q bindings/python/tests/test_cobaya.py
Needs cobaya in the venv (bash bindings/python/setup-samplers.sh); skipped without it.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
LIBDIR = ROOT / os.environ.get("IAEMU_TEST_LIBDIR", "target/release")
os.environ.setdefault("IAEMU_LIB", str(LIBDIR / "libiaemu.so"))
sys.path.insert(0, str(ROOT / "bindings" / "python"))

cobaya = pytest.importorskip("cobaya", reason="cobaya is not installed: bash bindings/python/setup-samplers.sh")
yaml = pytest.importorskip("yaml")
from cobaya.log import LoggedError  # noqa: E402
from cobaya.model import get_model  # noqa: E402

import iaemu  # noqa: E402
import iaemu_cobaya  # noqa: E402

EXAMPLES = ROOT / "bindings" / "python" / "examples"
THEORY = "iaemu_cobaya.IAEmulatorTheory"
LIKE = "iaemu_cobaya.IAGaussianLikelihood"
TRUTH = {"mu_cen": 0.5, "mu_sat": 0.2}
FIXED = {"logMmin": 12.02, "sigma_logM": 0.26, "logM0": 11.38, "logM1": 13.31, "alpha": 1.06}
MC_PASSES = 4
MC_SEED = 0
MAX_SAMPLES = 300

CHECKED = {"consistency": 0}


def same(actual, expected, rtol=1e-12, what=""):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=1e-300, err_msg=what)
    CHECKED["consistency"] += actual.size

pytestmark = pytest.mark.usefixtures("one_thread")


def _load_make_mock():
    spec = importlib.util.spec_from_file_location("make_mock", EXAMPLES / "make_mock.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("cobaya")


@pytest.fixture(scope="module")
def mock(workdir):
    """The simulated mock, its mean replaced by the built-in emulator's prediction at the truth.
    The mock is made in a 160 Mpc/h box for speed, while the built-in emulator was trained on
    the default 250 Mpc/h universe (README, "The built-in model"), so the chain's data are the
    emulator's own prediction at the truth, with the realisations' variance: a closure test of
    the sampler components, not of the model."""
    path = workdir / "mock.npz"
    make_mock = _load_make_mock()
    assert make_mock.TRUTH_MU == TRUTH
    arrays = make_mock.make_mock(path, dict(TRUTH), box_size=160.0, grid=128, halo_seed=1, seed=1, n_realizations=4,
                                 threads=os.cpu_count() or 1)  # Rust parts: same numbers on any count
    emu = iaemu.Emulator(None, "cpu")
    try:
        arrays["mean"] = np.asarray(emu.predict(full_point(**TRUTH), mc_passes=MC_PASSES, seed=MC_SEED).mean[0], dtype=np.float64)
    finally:
        emu.close()
    np.savez(path, **arrays)
    return path, arrays


@pytest.fixture(scope="module")
def info(mock, workdir):
    """examples/cobaya_mu.yaml with the mock, the output and the run length pointed at the test."""
    with open(EXAMPLES / "cobaya_mu.yaml") as f:
        info = yaml.safe_load(f)
    info["likelihood"][LIKE]["data_file"] = str(mock[0])
    info["theory"][THEORY].update(mc_passes=MC_PASSES, seed=MC_SEED, device="cpu", threads=1, stop_at_error=True)
    info["likelihood"][LIKE]["stop_at_error"] = True
    info["sampler"]["mcmc"].update(max_samples=MAX_SAMPLES, burn_in=0, seed=1)
    info["output"] = str(workdir / "chains" / "iaemu_mu")
    info["force"] = True
    return info


def model_info(info, changes=None):
    """The model part of `info` (no sampler or output), with {(block, key): value} changes."""
    m = {k: copy.deepcopy(v) for k, v in info.items() if k in ("theory", "likelihood", "params")}
    for (block, key), value in (changes or {}).items():
        m[block][key] = value
    return m


@pytest.fixture(scope="module")
def emulator():
    emu = iaemu.Emulator(None, "cpu")
    yield emu
    emu.close()


def full_point(mu_cen, mu_sat):
    p = {"mu_cen": mu_cen, "mu_sat": mu_sat, **FIXED}
    return np.array([p[n] for n in iaemu.PARAM_NAMES])


def hand_loglike(data, var_data, pred, rows, bins):
    """The Gaussian log-likelihood written out for the chosen rows and bins."""
    total = 0.0
    for s in rows:
        for b in bins:
            v = var_data[s, b] + pred.aleatoric_var[0, s, b] + pred.epistemic_var[0, s, b]
            total += -0.5 * ((data[s, b] - pred.mean[0, s, b]) ** 2 / v + np.log(2 * np.pi * v))
    return total


def test_param_names_and_example_yaml(info):
    assert info["theory"][THEORY]["threads"] == 1
    assert iaemu_cobaya.PARAM_NAMES == tuple(iaemu.PARAM_NAMES)
    assert iaemu.PARAM_NAMES == ("mu_cen", "mu_sat", "logMmin", "sigma_logM", "logM0", "logM1", "alpha")
    # The example fixes the -20 point's HOD and samples the two alignment strengths.
    for k, v in FIXED.items():
        assert info["params"][k] == v
    for k in TRUTH:
        assert set(info["params"][k]["prior"]) == {"min", "max"}


def test_theory_matches_emulator_and_likelihood_by_hand(info, mock, emulator):
    model = get_model(model_info(info))
    theory = model.theory[THEORY]
    data = mock[1]
    assert np.array_equal(data["r"], emulator.r_mid)
    rows, bins = range(3), range(data["r"].size)
    for mu_cen, mu_sat in [(0.5, 0.2), (-0.3, 0.7), (0.9, -0.9)]:
        loglikes, _ = model.loglikes({"mu_cen": mu_cen, "mu_sat": mu_sat})
        pred = emulator.predict(full_point(mu_cen, mu_sat), mc_passes=MC_PASSES, seed=MC_SEED)
        get = theory.get_result  # all products, also those no likelihood asked for
        for s, name in enumerate(iaemu_cobaya.STATISTICS):
            # Exactly the library's numbers: the same point, passes and seed.
            assert np.array_equal(get(f"ia_{name}"), pred.mean[0, s]), name
            assert np.array_equal(get(f"ia_{name}_aleatoric_var"), pred.aleatoric_var[0, s]), name
            assert np.array_equal(get(f"ia_{name}_epistemic_var"), pred.epistemic_var[0, s]), name
            same(get(f"ia_{name}"), pred.mean[0, s], rtol=0, what=name)
            same(get(f"ia_{name}_aleatoric_var"), pred.aleatoric_var[0, s], rtol=0, what=name)
            same(get(f"ia_{name}_epistemic_var"), pred.epistemic_var[0, s], rtol=0, what=name)
        same(get("ia_r"), emulator.r_mid, rtol=0, what="r")
        same(get("ia_r_edges"), emulator.r_edges, rtol=0, what="r_edges")
        assert get("ia_flags") == 0
        assert np.all(pred.epistemic_var > 0)  # 4 passes: a real epistemic term
        expected = hand_loglike(data["mean"], data["var"], pred, rows, bins)
        same(loglikes[0], expected, rtol=1e-12, what="loglike")
    assert theory.emulator.device == "cpu"
    model.close()


def test_statistics_and_r_range(info, mock, emulator):
    like = {**info["likelihood"][LIKE], "statistics": ["omega", "eta"], "r_min": 1.0, "r_max": 10.0}
    model = get_model(model_info(info, {("likelihood", LIKE): like}))
    data = mock[1]
    bins = [b for b, r in enumerate(data["r"]) if 1.0 <= r <= 10.0]
    assert 0 < len(bins) < data["r"].size
    assert model.likelihood[LIKE].n_data == 2 * len(bins)
    loglikes, _ = model.loglikes({"mu_cen": 0.4, "mu_sat": 0.1})
    pred = emulator.predict(full_point(0.4, 0.1), mc_passes=MC_PASSES, seed=MC_SEED)
    same(loglikes[0], hand_loglike(data["mean"], data["var"], pred, [1, 2], bins), rtol=1e-12, what="subset")
    model.close()


def test_outside_domain(info, emulator):
    # A prior wider than the training domain: the theory refuses the point (zero likelihood).
    params = copy.deepcopy(info["params"])
    params["mu_cen"]["prior"] = {"min": -2.0, "max": 2.0}
    model = get_model(model_info(info, {("params", "mu_cen"): params["mu_cen"]}))
    assert emulator.info.domain_max[0] < 1.5
    assert model.loglikes({"mu_cen": 1.5, "mu_sat": 0.2})[0][0] == -np.inf
    assert np.isfinite(model.loglikes({"mu_cen": 0.5, "mu_sat": 0.2})[0][0])
    model.close()
    # With extrapolation allowed the point is predicted and flagged (bit 0: mu_cen).
    theory = {**info["theory"][THEORY], "allow_extrapolation": True}
    model = get_model(model_info(info, {("params", "mu_cen"): params["mu_cen"], ("theory", THEORY): theory}))
    assert np.isfinite(model.loglikes({"mu_cen": 1.5, "mu_sat": 0.2})[0][0])
    assert model.theory[THEORY].get_result("ia_flags") == 1
    model.close()


def test_missing_parameter_is_an_error(info):
    m = model_info(info)
    del m["params"]["alpha"]
    with pytest.raises(LoggedError):
        get_model(m)


# Cobaya 3.6.2 with pandas 3 warns inside its own mcmc bookkeeping; not ours.
@pytest.mark.filterwarnings("ignore:Setting a value on a DataFrame via .at")
def test_mcmc_chain_recovers_truth(info, workdir):
    from cobaya.run import run

    updated, sampler = run(copy.deepcopy(info))
    sample = sampler.products()["sample"]
    df = sample.data
    n = len(df)
    assert n == MAX_SAMPLES, n
    chain_file = workdir / "chains" / "iaemu_mu.1.txt"
    assert chain_file.exists()
    assert np.loadtxt(chain_file).shape[0] == MAX_SAMPLES
    assert np.all(np.isfinite(df["minuslogpost"]))
    lo, hi = info["params"]["mu_cen"]["prior"]["min"], info["params"]["mu_cen"]["prior"]["max"]
    # Posterior means from the last two thirds (the first third is burn-in).
    tail = df.iloc[n // 3:]
    w = tail["weight"].to_numpy()
    report = []
    for name, truth in TRUTH.items():
        x = tail[name].to_numpy()
        assert np.all((x >= lo) & (x <= hi))
        mean = np.average(x, weights=w)
        sd = np.sqrt(np.average((x - mean) ** 2, weights=w))
        report.append(f"{name}: {mean:.3f} +- {sd:.3f} (truth {truth})")
        assert 0.005 < sd < 0.3, (name, sd)  # the chain moved, and the data constrain it
        assert abs(mean - truth) < 0.15, (name, mean, truth)
        assert abs(mean - truth) < 3 * sd, (name, mean, sd, truth)
    accepted_fraction = n / w.sum() if w.sum() else 0
    print("mcmc posterior: " + "; ".join(report) + f"; {n} samples, weight sum {df['weight'].sum():.0f}")
    assert 0 < accepted_fraction <= 1


# ---- a table instead of an emulator model: expected correlations, a noise-free likelihood ----


@pytest.fixture(scope="module")
def table_info(info, table_mock, workdir):
    """examples/cobaya_mu.yaml with the theory on the table of tests/conftest.py's table_mock
    instead of the emulator, and the likelihood on that fixture's mock."""
    t = copy.deepcopy(info)
    t["theory"][THEORY] = {"table_path": str(table_mock[0]), "threads": 1, "stop_at_error": True}
    t["likelihood"][LIKE]["data_file"] = str(table_mock[1])
    t["output"] = str(workdir / "chains" / "iaemu_mu_table")
    return t


@pytest.fixture(scope="module")
def table(table_mock):
    with iaemu.Table(table_mock[0]) as t:
        yield t


def test_table_theory_matches_table_and_likelihood_by_hand(table_info, table_mock, table):
    model = get_model(model_info(table_info))
    theory = model.theory[THEORY]
    assert theory.table is not None and theory.emulator is None and theory.domain is None
    data = table_mock[2]
    same(data["r"], table.r_mid, rtol=0, what="mock r")
    for mu_cen, mu_sat in [(0.5, 0.2), (-0.3, 0.7), (0.9, -0.9)]:
        loglikes, _ = model.loglikes({"mu_cen": mu_cen, "mu_sat": mu_sat})
        e = table.expect(full_point(mu_cen, mu_sat))
        get = theory.get_result
        for s, name in enumerate(iaemu_cobaya.STATISTICS):
            # Exactly the library's expectation; no model variance.
            same(get(f"ia_{name}"), e.mean[0, s], rtol=0, what=name)
            assert not get(f"ia_{name}_aleatoric_var").any() and not get(f"ia_{name}_epistemic_var").any()
        same(get("ia_r"), table.r_mid, rtol=0, what="r")
        same(get("ia_r_edges"), table.r_edges, rtol=0, what="r_edges")
        assert get("ia_flags") == 0
        v = data["var"]
        expected = np.sum(-0.5 * ((data["mean"] - e.mean[0]) ** 2 / v + np.log(2 * np.pi * v)))
        same(loglikes[0], expected, rtol=1e-12, what="loglike")
    model.close()


def test_table_theory_refuses_invalid_points(table_info):
    # |mu_cen| above 1: the table refuses the point, which gets zero likelihood.
    params = copy.deepcopy(table_info["params"])
    params["mu_cen"]["prior"] = {"min": -2.0, "max": 2.0}
    model = get_model(model_info(table_info, {("params", "mu_cen"): params["mu_cen"]}))
    assert model.loglikes({"mu_cen": 1.5, "mu_sat": 0.2})[0][0] == -np.inf
    assert np.isfinite(model.loglikes({"mu_cen": 0.5, "mu_sat": 0.2})[0][0])
    model.close()


def test_table_theory_errors(table_info, table_mock):
    theory = table_info["theory"][THEORY]
    with pytest.raises(LoggedError):  # an emulator and a table
        get_model(model_info(table_info, {("theory", THEORY): {**theory, "model_path": str(table_mock[0])}}))
    with pytest.raises(LoggedError):  # a file that is not a table (the library's message is logged)
        get_model(model_info(table_info, {("theory", THEORY): {**theory, "table_path": str(table_mock[1])}}))


# Cobaya 3.6.2 with pandas 3 warns inside its own mcmc bookkeeping; not ours.
@pytest.mark.filterwarnings("ignore:Setting a value on a DataFrame via .at")
def test_mcmc_chain_with_table_recovers_truth(table_info, table_mock, table, workdir):
    """The chain of test_mcmc_chain_recovers_truth with the table's noise-free expectation as the
    theory (about 1 ms a point), on data that are the table's expectation at the truth with the
    simulated mock's variance: the likelihood peaks at the truth exactly, so the posterior mean
    lies within its width of it. (The simulated mean itself scatters around the truth with
    correlations across bins that the independent-bins likelihood leaves out, so its posterior
    can sit several of its widths away: one draw of the galaxies put mu_sat 3.6 widths off.)"""
    from cobaya.run import run

    closure = workdir / "table-closure-mock.npz"
    arrays = dict(table_mock[2])
    arrays["mean"] = np.asarray(table.expect(full_point(**TRUTH)).mean[0], dtype=np.float64)
    np.savez(closure, **arrays)
    table_info = copy.deepcopy(table_info)
    table_info["likelihood"][LIKE]["data_file"] = str(closure)

    updated, sampler = run(copy.deepcopy(table_info))
    df = sampler.products()["sample"].data
    n = len(df)
    assert n == MAX_SAMPLES, n
    assert (workdir / "chains" / "iaemu_mu_table.1.txt").exists()
    assert np.all(np.isfinite(df["minuslogpost"]))
    tail = df.iloc[n // 3:]
    w = tail["weight"].to_numpy()
    report = []
    for name, truth in TRUTH.items():
        x = tail[name].to_numpy()
        mean = np.average(x, weights=w)
        sd = np.sqrt(np.average((x - mean) ** 2, weights=w))
        report.append(f"{name}: {mean:.3f} +- {sd:.3f} (truth {truth})")
        assert 0.005 < sd < 0.3, (name, sd)
        assert abs(mean - truth) < 0.15, (name, mean, truth)
        assert abs(mean - truth) < 3 * sd, (name, mean, sd, truth)
    print("mcmc posterior with the table: " + "; ".join(report) + f"; {n} samples")
