"""CosmoSIS module for iaemu (SAMPLERS.md): the emulator's xi, omega and eta with their
aleatoric and epistemic variances for the 7 iaemu parameters, or, given a table (table_path)
instead of an emulator model, the expected (noise-free) xi, omega and eta of iaemu.Table.expect
with zero variances; and optionally a Gaussian log-likelihood of a mock data vector
(examples/make_mock.py).

Needs the iaemu Python package importable (PYTHONPATH=<repo>/bindings/python). In a pipeline
ini:

    [iaemu]
    file = bindings/python/cosmosis/iaemu_cosmosis.py
    ; all optional:
    model_path =                       ; .safetensors file; empty: the model built into the library
    table_path =                       ; a table (.npz of `iaemu tabulate` or iaemu.Table.save)
                                       ; instead of a model: expected correlations, zero
                                       ; variances, flags 0; a point the table refuses (|mu|
                                       ; above 1, too few galaxies, ...) fails. The emulator
                                       ; options (device, mc_passes, seed, allow_extrapolation)
                                       ; do not apply. Not together with model_path.
    device = auto                      ; auto, cpu, cuda, cuda:N
    mc_passes = 20                     ; Monte Carlo dropout passes (1: plain, zero epistemic)
    seed = 0                           ; Monte Carlo seed, fixed: smooth, deterministic predictions
    allow_extrapolation = F            ; F: a point outside the training domain fails (zero likelihood)
    threads = 0                        ; n > 0: iaemu.set_num_threads(n) (process-wide; 1 suits
                                       ; one-point sampling, above all on shared cores); 0: as is
    input_section = iaemu_parameters   ; where mu_cen, mu_sat, logMmin, sigma_logM, logM0, logM1, alpha are
    output_section = iaemu
    ; the likelihood, when data_file is given:
    data_file = mock.npz               ; r (n_bins), mean (3, n_bins), var (3, n_bins) = variance of mean
    statistics = xi omega eta          ; any of them
    r_min = 0.0                        ; bins with centre in [r_min, r_max] Mpc/h
    r_max = 16.0                       ; default: no upper limit
    use_aleatoric = T                  ; add the emulator's aleatoric variance
    use_epistemic = T                  ; add the emulator's epistemic variance
    use_data_var = T                   ; add the data file's variance
    like_name = iaemu                  ; writes likelihoods/iaemu_like

Writes to output_section: r (bin centres, Mpc/h), r_edges, xi, omega, eta,
xi_aleatoric_var, omega_aleatoric_var, eta_aleatoric_var, xi_epistemic_var, ...,
flags (int: bit k set when parameter k is outside the training domain); with a table the
variances are zero and flags 0. With data_file also
likelihoods/<like_name>_like (log-likelihood), and to data_vector: <like_name>_chi2,
<like_name>_n (points used), <like_name>_theory, <like_name>_data, <like_name>_variance (the
points used, in the order statistic then bin).

The log-likelihood, with independent bins and v = data var + aleatoric + epistemic:
    -1/2 sum[(data - model)^2 / v + log(2 pi v)]
(the normalisation term stays: the emulator's variances depend on the parameters).
"""

from __future__ import annotations

import os
import sys

import numpy as np

import iaemu
from iaemu.datavector import gaussian_loglike, load_data_vector

try:  # CosmoSIS present: the real section-name constant; otherwise this module still imports
    from cosmosis.datablock import option_section
except ImportError:  # pragma: no cover - exercised only without CosmoSIS
    option_section = "module_options"

STATISTICS = ("xi", "omega", "eta")
PARAM_NAMES = tuple(iaemu.PARAM_NAMES)
LIKELIHOODS = "likelihoods"
DATA_VECTOR = "data_vector"


def _to_bool(value) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return value != 0
    text = str(value).strip().lower()
    if text in ("t", "true", "y", "yes", "1"):
        return True
    if text in ("f", "false", "n", "no", "0"):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _opt(options, name, default, convert):
    """An option from this module's ini section, or `default` when it is absent. CosmoSIS stores
    ini values with a guessed type (r_max = 16 is an int, = 16.0 a float; T a bool), so the
    value is read as it is stored and converted here."""
    if not options.has_value(option_section, name):
        return default
    value = options[option_section, name]
    try:
        return convert(value)
    except (TypeError, ValueError) as e:
        raise ValueError(f"iaemu: option {name} = {value!r}: {e}") from e


def _to_str(value) -> str:
    if isinstance(value, (list, tuple, np.ndarray)):
        return " ".join(str(v) for v in value)
    return str(value)


class _Config:
    """What setup() returns: the loaded emulator (or table) and the parsed options."""

    def __init__(self):
        self.emulator = None
        self.table = None
        self.data = None

    def close(self):
        if self.emulator is not None:
            self.emulator.close()
            self.emulator = None
        if self.table is not None:
            self.table.close()
            self.table = None


def setup(options):
    c = _Config()
    model_path = _opt(options, "model_path", "", _to_str).strip()
    device = _opt(options, "device", "auto", _to_str).strip() or "auto"
    c.mc_passes = _opt(options, "mc_passes", 20, int)
    c.seed = _opt(options, "seed", 0, int)
    if c.mc_passes < 1:
        raise ValueError(f"iaemu: mc_passes must be at least 1, got {c.mc_passes}")
    if c.seed < 0:
        raise ValueError(f"iaemu: seed must be non-negative, got {c.seed}")
    threads = _opt(options, "threads", 0, int)
    if threads < 0:
        raise ValueError(f"iaemu: threads must be 0 (the default) or positive, got {threads}")
    if threads > 0:
        iaemu.set_num_threads(threads)
    c.input_section = _opt(options, "input_section", "iaemu_parameters", _to_str).strip()
    c.output_section = _opt(options, "output_section", "iaemu", _to_str).strip()
    table_path = _opt(options, "table_path", "", _to_str).strip()
    if table_path and model_path:
        raise ValueError("iaemu: give model_path (an emulator) or table_path (a table), not both")
    if table_path:
        c.table = iaemu.Table(os.path.expanduser(table_path))
    else:
        c.emulator = iaemu.Emulator(os.path.expanduser(model_path) if model_path else None, device)
    try:
        if c.table is not None:
            c.r_edges = c.table.r_edges
            c.r = c.table.r_mid
        else:
            c.emulator.allow_extrapolation = _opt(options, "allow_extrapolation", False, _to_bool)
            c.r_edges = c.emulator.r_edges
            c.r = c.emulator.r_mid

        data_file = _opt(options, "data_file", "", _to_str).strip()
        if data_file:
            stats = _opt(options, "statistics", " ".join(STATISTICS), _to_str).replace(",", " ").split()
            bad = [s for s in stats if s not in STATISTICS]
            if bad or not stats:
                raise ValueError(f"iaemu: statistics must be some of {' '.join(STATISTICS)}, got {' '.join(stats)!r}")
            c.stats = [s for s in STATISTICS if s in stats]
            c.r_min = _opt(options, "r_min", 0.0, float)
            c.r_max = _opt(options, "r_max", np.inf, float)
            c.use_aleatoric = _opt(options, "use_aleatoric", True, _to_bool)
            c.use_epistemic = _opt(options, "use_epistemic", True, _to_bool)
            c.use_data_var = _opt(options, "use_data_var", True, _to_bool)
            c.like_name = _opt(options, "like_name", "iaemu", _to_str).strip()
            data = load_data_vector(data_file)
            if data["r"].shape != c.r.shape or not np.allclose(data["r"], c.r, rtol=1e-9, atol=0):
                what = "table" if c.table is not None else "emulator"
                raise ValueError(f"iaemu: {data_file} bins (r = {data['r']}) differ from the {what}'s (r = {c.r})")
            rows = [STATISTICS.index(s) for s in c.stats]
            mask = np.zeros((3, c.r.size), dtype=bool)
            mask[rows] = (c.r >= c.r_min) & (c.r <= c.r_max)
            mask &= np.isfinite(data["mean"])
            if c.use_data_var:
                mask &= np.isfinite(data["var"])
            if not mask.any():
                raise ValueError("iaemu: no data points left after choosing statistics and r range")
            c.mask = mask
            c.data = data["mean"][mask]
            c.data_var = data["var"][mask] if c.use_data_var else np.zeros(c.data.size)
    except BaseException:
        c.close()
        raise
    return c


def read_params(block, section) -> np.ndarray:
    """The 7 parameters from `section` of the block, in iaemu.PARAM_NAMES order."""
    return np.array([block[section, name] for name in PARAM_NAMES], dtype=np.float64)


def likelihood(config, pred_mean, pred_ale, pred_epi):
    """(log-likelihood, chi2, model points, variance) of the configured data vector given
    (3, n_bins) predictions."""
    var = np.zeros_like(pred_mean)
    if config.use_aleatoric:
        var += pred_ale
    if config.use_epistemic:
        var += pred_epi
    model = pred_mean[config.mask]
    v = var[config.mask] + config.data_var
    loglike = gaussian_loglike(config.data, model, v)
    chi2 = float(np.sum((config.data - model) ** 2 / v)) if np.isfinite(loglike) else np.inf
    return loglike, chi2, model, v


def _predict(c, point):
    """The emulator's prediction of one point, or the table's expectation as a Prediction with
    zero variances and flags; None for a point that fails (written to stderr)."""
    if c.table is not None:
        try:
            e = c.table.expect(point)
        except iaemu.InvalidArgumentError as err:
            # A point the model cannot populate (|mu| above 1, too few galaxies, ...).
            sys.stderr.write(f"iaemu: {err}\n")
            return None
        zeros = np.zeros_like(e.mean)
        return iaemu.Prediction(e.mean, zeros, zeros.copy(), np.zeros(1, dtype=np.uint32))
    try:
        return c.emulator.predict(point, mc_passes=c.mc_passes, seed=c.seed)
    except iaemu.OutOfDomainError as e:
        # Outside the training domain without allow_extrapolation.
        sys.stderr.write(f"iaemu: {e}\n")
        return None


def execute(block, config):
    c = config
    point = read_params(block, c.input_section)
    pred = _predict(c, point)
    if pred is None:
        # The point fails, which CosmoSIS samplers treat as zero likelihood.
        return 1
    out = c.output_section
    block[out, "r"] = c.r
    block[out, "r_edges"] = c.r_edges
    block[out, "flags"] = int(pred.flags[0])
    for s, name in enumerate(STATISTICS):
        block[out, name] = pred.mean[0, s]
        block[out, name + "_aleatoric_var"] = pred.aleatoric_var[0, s]
        block[out, name + "_epistemic_var"] = pred.epistemic_var[0, s]
    if c.data is not None:
        loglike, chi2, model, v = likelihood(c, pred.mean[0], pred.aleatoric_var[0], pred.epistemic_var[0])
        block[LIKELIHOODS, c.like_name + "_like"] = loglike
        block[DATA_VECTOR, c.like_name + "_chi2"] = chi2
        block[DATA_VECTOR, c.like_name + "_n"] = int(c.data.size)
        block[DATA_VECTOR, c.like_name + "_theory"] = model
        block[DATA_VECTOR, c.like_name + "_data"] = c.data
        block[DATA_VECTOR, c.like_name + "_variance"] = v
    return 0


def cleanup(config):
    config.close()
    return 0
