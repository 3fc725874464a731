"""Tests of the CosmoSIS module (bindings/python/cosmosis/iaemu_cosmosis.py, SAMPLERS.md).

A small mock data vector is simulated with iaemu.simulate (examples/make_mock.py on a coarse
160 Mpc/h universe, 3 realisations: these tests check numbers, not parameter recovery).

- The module's functions (setup / execute / cleanup) on a minimal stand-in for the DataBlock,
  and, when CosmoSIS is installed, on a real cosmosis DataBlock: outputs equal
  Emulator.predict exactly, the log-likelihood equals a hand computation (all statistics, and
  a subset with an r range), a point outside the training domain fails (status 1) unless
  extrapolation is allowed, options typed the way CosmoSIS types ini values work.
- With CosmoSIS: the example pipeline (examples/cosmosis_pipeline.ini, paths overridden) through
  cosmosis.runtime.pipeline.LikelihoodPipeline: block outputs equal Emulator.predict, the
  likelihood and the posterior (uniform priors) equal a hand computation; and the `cosmosis`
  command on the same ini, with the test sampler (the saved block checked) and a short emcee
  chain (the output file checked).

Run: PYTHONPATH=bindings/python .venv-bindings/bin/python -m pytest -q bindings/python/tests/test_cosmosis.py
The pipeline tests are skipped, with the reason, when CosmoSIS is not installed
(bash bindings/python/setup-samplers.sh installs it).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
LIBDIR = ROOT / os.environ.get("IAEMU_TEST_LIBDIR", "target/release")
os.environ.setdefault("IAEMU_LIB", str(LIBDIR / "libiaemu.so"))
sys.path.insert(0, str(ROOT / "bindings" / "python"))

import iaemu  # noqa: E402

PY = ROOT / "bindings" / "python"
EXAMPLES = PY / "examples"
MODULE_FILE = PY / "cosmosis" / "iaemu_cosmosis.py"
VENV_BIN = Path(sys.executable).parent

try:  # bindings/python/cosmosis (no __init__.py) must not pass for the real package
    from cosmosis.datablock import DataBlock, option_section
    from cosmosis.runtime.config import Inifile
    from cosmosis.runtime.pipeline import LikelihoodPipeline

    HAVE_COSMOSIS, WHY_NOT = True, ""
except ImportError as e:  # pragma: no cover - depends on the installation
    HAVE_COSMOSIS, WHY_NOT = False, f"CosmoSIS is not installed ({e}); bash bindings/python/setup-samplers.sh"
    option_section = "module_options"

needs_cosmosis = pytest.mark.skipif(not HAVE_COSMOSIS, reason=WHY_NOT or "CosmoSIS present")

TRUTH = {"mu_cen": 0.5, "mu_sat": 0.2}
FIXED = {"logMmin": 12.02, "sigma_logM": 0.26, "logM0": 11.38, "logM1": 13.31, "alpha": 1.06}
MC_PASSES = 4
MC_SEED = 0
PRIOR = (-0.99, 0.99)

CHECKED = {"consistency": 0}


def same(actual, expected, rtol=1e-12, what=""):
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=1e-300, err_msg=what)
    CHECKED["consistency"] += actual.size

pytestmark = pytest.mark.usefixtures("one_thread")


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


mod = _load("iaemu_cosmosis", MODULE_FILE)


class StandInBlock:
    """The part of cosmosis.datablock.DataBlock that iaemu_cosmosis uses: block[section, name]
    read and write (names case-insensitive, as in CosmoSIS) and has_value(section, name)."""

    def __init__(self):
        self._d = {}

    @staticmethod
    def _key(key):
        section, name = key
        return section.lower(), name.lower()

    def __getitem__(self, key):
        return self._d[self._key(key)]

    def __setitem__(self, key, value):
        self._d[self._key(key)] = value

    def has_value(self, section, name):
        return self._key((section, name)) in self._d

    def __contains__(self, key):
        return self._key(key) in self._d


BLOCKS = ["stand-in"] + (["DataBlock"] if HAVE_COSMOSIS else [])


def new_block(kind):
    return StandInBlock() if kind == "stand-in" else DataBlock()


def make_options(kind, values):
    """An options block as CosmoSIS builds it: the module's section under option_section, the
    values typed as the ini parser would type them (ints, floats, bools, strings)."""
    b = new_block(kind)
    for k, v in values.items():
        b[option_section, k] = v
    return b


def put_params(block, mu_cen, mu_sat, section="iaemu_parameters"):
    for k, v in {"mu_cen": mu_cen, "mu_sat": mu_sat, **FIXED}.items():
        block[section, k] = float(v)


def full_point(mu_cen, mu_sat):
    p = {"mu_cen": mu_cen, "mu_sat": mu_sat, **FIXED}
    return np.array([p[n] for n in iaemu.PARAM_NAMES])


def hand_loglike(data, var_data, pred, rows, bins):
    """The Gaussian log-likelihood written out for the chosen rows and bins; also chi2."""
    total, chi2 = 0.0, 0.0
    for s in rows:
        for b in bins:
            v = var_data[s, b] + pred.aleatoric_var[0, s, b] + pred.epistemic_var[0, s, b]
            chi2 += (data[s, b] - pred.mean[0, s, b]) ** 2 / v
            total += -0.5 * ((data[s, b] - pred.mean[0, s, b]) ** 2 / v + np.log(2 * np.pi * v))
    return total, chi2


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("cosmosis")


@pytest.fixture(scope="module")
def mock(workdir):
    path = workdir / "mock.npz"
    make_mock = _load("make_mock", EXAMPLES / "make_mock.py")
    arrays = make_mock.make_mock(path, dict(TRUTH), box_size=160.0, grid=64, halo_seed=1, seed=1, n_realizations=3,
                                 threads=os.cpu_count() or 1)
    return path, arrays


@pytest.fixture(scope="module")
def emulator():
    emu = iaemu.Emulator(None, "cpu")
    yield emu
    emu.close()


@pytest.mark.parametrize("kind", BLOCKS)
def test_module_functions(kind, mock, emulator):
    options = make_options(kind, {
        "mc_passes": MC_PASSES, "seed": MC_SEED, "device": "cpu", "allow_extrapolation": False, "threads": 1,
        "data_file": str(mock[0]), "statistics": "xi omega eta", "r_min": 0, "r_max": 16.0,
        "use_aleatoric": True, "use_epistemic": "T", "use_data_var": True,
    })
    config = mod.setup(options)
    data = mock[1]
    try:
        for mu_cen, mu_sat in [(0.5, 0.2), (-0.7, 0.4)]:
            block = new_block(kind)
            put_params(block, mu_cen, mu_sat)
            assert mod.execute(block, config) == 0
            pred = emulator.predict(full_point(mu_cen, mu_sat), mc_passes=MC_PASSES, seed=MC_SEED)
            for s, name in enumerate(mod.STATISTICS):
                assert np.array_equal(block["iaemu", name], pred.mean[0, s]), name
                same(block["iaemu", name], pred.mean[0, s], rtol=0, what=name)
                same(block["iaemu", name + "_aleatoric_var"], pred.aleatoric_var[0, s], rtol=0, what=name)
                same(block["iaemu", name + "_epistemic_var"], pred.epistemic_var[0, s], rtol=0, what=name)
            same(block["iaemu", "r"], emulator.r_mid, rtol=0, what="r")
            same(block["iaemu", "r_edges"], emulator.r_edges, rtol=0, what="r_edges")
            assert block["iaemu", "flags"] == 0
            like, chi2 = hand_loglike(data["mean"], data["var"], pred, range(3), range(data["r"].size))
            same(block["likelihoods", "iaemu_like"], like, what="loglike")
            same(block["data_vector", "iaemu_chi2"], chi2, what="chi2")
            assert block["data_vector", "iaemu_n"] == 60
        # Outside the training domain: the point fails.
        block = new_block(kind)
        put_params(block, 1.5, 0.2)
        assert mod.execute(block, config) == 1
        assert not block.has_value("likelihoods", "iaemu_like")
    finally:
        assert mod.cleanup(config) == 0


@pytest.mark.parametrize("kind", BLOCKS)
def test_module_options(kind, mock, emulator):
    # A subset of statistics and bins, another section, a likelihood name, no emulator
    # epistemic term, extrapolation allowed.
    options = make_options(kind, {
        "mc_passes": MC_PASSES, "seed": MC_SEED, "device": "cpu", "allow_extrapolation": "T",
        "input_section": "intrinsic_alignment_parameters", "output_section": "ia_out",
        "data_file": str(mock[0]), "statistics": "omega,eta", "r_min": 1.0, "r_max": 10,
        "use_epistemic": False, "like_name": "ia",
    })
    config = mod.setup(options)
    data = mock[1]
    bins = [b for b, r in enumerate(data["r"]) if 1.0 <= r <= 10.0]
    assert 0 < len(bins) < data["r"].size
    try:
        block = new_block(kind)
        put_params(block, 1.5, -0.3, section="intrinsic_alignment_parameters")
        assert mod.execute(block, config) == 0
        assert block["ia_out", "flags"] == 1  # bit 0: mu_cen outside the domain
        emulator.allow_extrapolation = True  # the same call, extrapolating
        try:
            p = emulator.predict(full_point(1.5, -0.3), mc_passes=MC_PASSES, seed=MC_SEED)
        finally:
            emulator.allow_extrapolation = False
        assert p.flags[0] == 1
        same(block["ia_out", "omega"], p.mean[0, 1], rtol=0, what="omega")
        p_no_epi = p._replace(epistemic_var=np.zeros_like(p.epistemic_var))
        like, _ = hand_loglike(data["mean"], data["var"], p_no_epi, [1, 2], bins)
        same(block["likelihoods", "ia_like"], like, what="loglike subset")
        assert block["data_vector", "ia_n"] == 2 * len(bins)
    finally:
        mod.cleanup(config)


def test_module_option_errors(mock):
    with pytest.raises(ValueError, match="statistics"):
        mod.setup(make_options("stand-in", {"data_file": str(mock[0]), "statistics": "xi kappa"}))
    with pytest.raises(ValueError, match="mc_passes"):
        mod.setup(make_options("stand-in", {"mc_passes": 0}))
    with pytest.raises(iaemu.IAEmuError):
        mod.setup(make_options("stand-in", {"model_path": str(mock[0])}))  # not a model file


def pipeline_override(mock, workdir, sampler="test"):
    return {
        ("runtime", "sampler"): sampler,
        ("runtime", "root"): str(ROOT),
        ("pipeline", "values"): str(EXAMPLES / "cosmosis_values.ini"),
        ("iaemu", "file"): str(MODULE_FILE),
        ("iaemu", "data_file"): str(mock[0]),
        ("iaemu", "mc_passes"): str(MC_PASSES),
        ("iaemu", "seed"): str(MC_SEED),
        ("iaemu", "device"): "cpu",
        ("iaemu", "threads"): "1",
        ("output", "filename"): str(workdir / "chain.txt"),
        ("test", "save_dir"): str(workdir / "test_block"),
    }


@needs_cosmosis
def test_pipeline(mock, workdir, emulator):
    ini = Inifile(str(EXAMPLES / "cosmosis_pipeline.ini"), override=pipeline_override(mock, workdir))
    pipeline = LikelihoodPipeline(ini)
    assert [str(p) for p in pipeline.varied_params] == ["iaemu_parameters--mu_cen", "iaemu_parameters--mu_sat"]
    data = mock[1]
    for mu_cen, mu_sat in [(0.5, 0.2), (0.1, -0.6)]:
        r = pipeline.run_results([mu_cen, mu_sat])
        block = r.block
        pred = emulator.predict(full_point(mu_cen, mu_sat), mc_passes=MC_PASSES, seed=MC_SEED)
        for s, name in enumerate(mod.STATISTICS):
            same(block["iaemu", name], pred.mean[0, s], rtol=0, what=name)
            same(block["iaemu", name + "_aleatoric_var"], pred.aleatoric_var[0, s], rtol=0, what=name)
            same(block["iaemu", name + "_epistemic_var"], pred.epistemic_var[0, s], rtol=0, what=name)
        same(block["iaemu", "r"], emulator.r_mid, rtol=0, what="r")
        like, _ = hand_loglike(data["mean"], data["var"], pred, range(3), range(data["r"].size))
        same(r.like, like, what="pipeline like")
        prior = -2 * np.log(PRIOR[1] - PRIOR[0])
        same(r.prior, prior, what="prior")
        same(r.post, like + prior, what="posterior")
    # Outside the prior: no evaluation, zero posterior.
    assert pipeline.run_results([0.995, 0.0]).post == -np.inf


def _cosmosis_cmd(mock, workdir, sampler, extra=(), changes=None):
    over = {**pipeline_override(mock, workdir, sampler), **(changes or {})}
    script = VENV_BIN / "cosmosis"  # the command; else its entry point under this Python
    cmd = [str(script)] if script.exists() else [sys.executable, "-c", "import sys, cosmosis.main; sys.exit(cosmosis.main.main())"]
    args = cmd + [str(EXAMPLES / "cosmosis_pipeline.ini"), "-p"]
    args += [f"{s}.{k}={v}" for (s, k), v in over.items()] + list(extra)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(PY), os.environ.get("PYTHONPATH")])))
    return subprocess.run(args, cwd=workdir, env=env, capture_output=True, text=True, timeout=300)


@needs_cosmosis
def test_cosmosis_command_test_sampler(mock, workdir, emulator):
    run = _cosmosis_cmd(mock, workdir, "test")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    saved = workdir / "test_block"
    start = (0.0, 0.0)  # the start values of examples/cosmosis_values.ini
    pred = emulator.predict(full_point(*start), mc_passes=MC_PASSES, seed=MC_SEED)
    for s, name in enumerate(mod.STATISTICS):
        # The text files hold the numbers as printed by numpy (full precision).
        same(np.loadtxt(saved / "iaemu" / f"{name}.txt"), pred.mean[0, s], rtol=1e-15, what=name)
    data = mock[1]
    like, _ = hand_loglike(data["mean"], data["var"], pred, range(3), range(data["r"].size))
    values = (saved / "likelihoods" / "values.txt").read_text()
    saved_like = float(next(l.split("=")[1] for l in values.splitlines() if l.strip().startswith("iaemu_like")))
    same(saved_like, like, rtol=1e-14, what="saved likelihood")


@needs_cosmosis
def test_cosmosis_command_emcee(mock, workdir):
    run = _cosmosis_cmd(mock, workdir, "emcee", ["emcee.walkers=8", "emcee.samples=30", "emcee.nsteps=10"])
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    chain = np.loadtxt(workdir / "chain.txt")
    assert chain.shape == (8 * 30, 4), chain.shape  # mu_cen, mu_sat, prior, post
    assert np.all((chain[:, :2] > PRIOR[0]) & (chain[:, :2] < PRIOR[1]))
    assert np.all(np.isfinite(chain[:, 3]))
    assert np.ptp(chain[:, 0]) > 0 and np.ptp(chain[:, 1]) > 0  # the walkers moved


# ---- a table instead of an emulator model: expected correlations, a noise-free likelihood ----


@pytest.fixture(scope="module")
def table(table_mock):
    with iaemu.Table(table_mock[0]) as t:
        yield t


@pytest.mark.parametrize("kind", BLOCKS)
def test_module_with_table(kind, table_mock, table):
    """table_path instead of a model: the outputs are Table.expect's, the variances zero, the
    likelihood that of the data variance alone (tests/conftest.py's table_mock)."""
    options = make_options(kind, {"table_path": str(table_mock[0]), "threads": 1, "data_file": str(table_mock[1]),
                                  "use_data_var": "T"})
    config = mod.setup(options)
    data = table_mock[2]
    try:
        assert config.emulator is None and config.table is not None
        for mu_cen, mu_sat in [(0.5, 0.2), (-0.7, 0.4)]:
            block = new_block(kind)
            put_params(block, mu_cen, mu_sat)
            assert mod.execute(block, config) == 0
            e = table.expect(full_point(mu_cen, mu_sat))
            for s, name in enumerate(mod.STATISTICS):
                same(block["iaemu", name], e.mean[0, s], rtol=0, what=name)
                assert not np.any(block["iaemu", name + "_aleatoric_var"]), name
                assert not np.any(block["iaemu", name + "_epistemic_var"]), name
            same(block["iaemu", "r"], table.r_mid, rtol=0, what="r")
            same(block["iaemu", "r_edges"], table.r_edges, rtol=0, what="r_edges")
            assert block["iaemu", "flags"] == 0
            v = data["var"]
            d = data["mean"] - e.mean[0]
            same(block["likelihoods", "iaemu_like"], np.sum(-0.5 * (d * d / v + np.log(2 * np.pi * v))),
                 what="loglike")
            same(block["data_vector", "iaemu_chi2"], np.sum(d * d / v), what="chi2")
            assert block["data_vector", "iaemu_n"] == 60
        # A point the table refuses (|mu_cen| above 1): the point fails.
        block = new_block(kind)
        put_params(block, 1.5, 0.2)
        assert mod.execute(block, config) == 1
        assert not block.has_value("likelihoods", "iaemu_like")
    finally:
        assert mod.cleanup(config) == 0
    assert config.table is None


def test_module_table_errors(table_mock, workdir):
    with pytest.raises(ValueError, match="not both"):
        mod.setup(make_options("stand-in", {"table_path": str(table_mock[0]), "model_path": "m.safetensors"}))
    with pytest.raises(iaemu.InvalidArgumentError, match="not an iaemu table"):
        mod.setup(make_options("stand-in", {"table_path": str(table_mock[1])}))  # the mock, not a table
    with pytest.raises(iaemu.IaIOError):
        mod.setup(make_options("stand-in", {"table_path": str(workdir / "no-such-table.npz")}))


@needs_cosmosis
def test_cosmosis_command_emcee_with_table(mock, table_mock, table, workdir):
    """The example pipeline with table_path (and the table's mock) instead of the emulator: the
    chain's posteriors are those of the table's expectation."""
    chain_file = workdir / "chain-table.txt"
    run = _cosmosis_cmd(mock, workdir, "emcee", ["emcee.walkers=8", "emcee.samples=30", "emcee.nsteps=10"],
                        changes={("iaemu", "table_path"): str(table_mock[0]),
                                 ("iaemu", "data_file"): str(table_mock[1]),
                                 ("output", "filename"): str(chain_file)})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    chain = np.loadtxt(chain_file)
    assert chain.shape == (8 * 30, 4), chain.shape  # mu_cen, mu_sat, prior, post
    assert np.all((chain[:, :2] > PRIOR[0]) & (chain[:, :2] < PRIOR[1]))
    assert np.all(np.isfinite(chain[:, 3]))
    assert np.ptp(chain[:, 0]) > 0 and np.ptp(chain[:, 1]) > 0  # the walkers moved
    data = table_mock[2]
    for mu_cen, mu_sat, prior, post in chain[-5:]:
        d = data["mean"] - table.expect(full_point(mu_cen, mu_sat)).mean[0]
        like = np.sum(-0.5 * (d * d / data["var"] + np.log(2 * np.pi * data["var"])))
        same(post, prior + like, rtol=1e-6, what="posterior from the table")  # as printed in the chain file
