//! The neural-network emulator of docs/science.md section 10 (LibTorch through `tch`; feature
//! `emulator`): predicts xi, omega and eta with aleatoric and epistemic (Monte Carlo dropout)
//! variances, and the Jacobian of the means, for batches of parameter points.
//!
//! - [`Emulator`]: a loaded model ([`Emulator::load`], [`Emulator::builtin`]), its
//!   [`Emulator::predict`] and [`Emulator::jacobian`];
//! - [`train`]: trains a model on a dataset from `iaemu generate`;
//! - [`metrics`]: the accuracy metrics, and [`evaluate`] to measure a model on a dataset;
//! - [`file`]: the `.safetensors` model format.
//!
//! Threads: an `Emulator` is `Send + Sync`. Calls on one emulator are serialised by a lock
//! inside it (each call already uses all LibTorch threads), and Monte Carlo calls on any
//! emulator are serialised by one process-wide lock, because they seed LibTorch's global
//! random generator; so concurrent calls are safe and give the same numbers as sequential
//! ones.

pub mod config;
pub mod file;
pub mod metrics;
mod net;
pub mod train;
pub mod transform;

use std::path::Path;
use std::sync::Mutex;

use ndarray::{Array2, Array3, Array4};
use once_cell::sync::Lazy;
use tch::{Device, Kind, Tensor};

pub use config::{Architecture, Config, ModelConfig, Targets, TrainConfig};
pub use file::{ModelMeta, FORMAT};
pub use metrics::Metrics;
pub use net::STATISTICS;
pub use train::{train, Control, EpochReport};

use crate::dataset::{Data, Truth};
use crate::hod::PARAM_NAMES;
use crate::{Error, Result};
use net::{params_tensor, to_f64, Mode, Net};

/// The built-in model (training/default-model/README.md says how it was made).
static BUILTIN: &[u8] = include_bytes!("../../training/default-model/iaemu-default.safetensors");

/// Monte Carlo passes of a prediction by default.
pub const DEFAULT_MC_PASSES: usize = 20;

/// The most Monte Carlo passes a prediction takes: the epistemic variance is then known to
/// sqrt(2 / 10^6) = 0.14% of itself, and more passes only take longer (about 30 s per 10^6
/// for a small network, 4 min for the built-in one on 2 cores).
pub const MAX_MC_PASSES: usize = 1_000_000;

/// Rows per forward pass (rows x Monte Carlo passes, or rows x outputs for the Jacobian):
/// fixed, so that how a request is cut into passes never changes its numbers, and it bounds
/// the working memory of any request (see [`Emulator::working_bytes`]).
const ROWS_PER_FORWARD: i64 = 8192;

/// Serialises every use of LibTorch's global random generator.
static TORCH_RNG: Lazy<Mutex<()>> = Lazy::new(|| Mutex::new(()));

pub(crate) fn torch_rng_lock() -> std::sync::MutexGuard<'static, ()> {
    TORCH_RNG.lock().unwrap_or_else(|p| p.into_inner())
}

/// Environment variable that, set to 1, keeps LibTorch's whole message (with its C++
/// backtrace) in errors; by default an error carries its first line.
pub const DEBUG_ENV: &str = "IAEMU_DEBUG";

/// Runs LibTorch work, turning a LibTorch exception (a panic in `tch`) into an error: an
/// allocation failure into [`Error::OutOfMemory`], anything else into [`Error::Internal`],
/// each with one readable line of LibTorch's message (all of it with `IAEMU_DEBUG=1`).
pub(crate) fn torch<R>(what: &str, f: impl FnOnce() -> Result<R>) -> Result<R> {
    match crate::quiet_panics(f) {
        Ok(r) => r,
        Err(p) => {
            let m = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown".into());
            Err(torch_error(what, &m))
        }
    }
}

/// The error for LibTorch's message `m` (a tch panic text, often "called `Result::unwrap()`
/// on an `Err` value: Torch(\"...\")" with a C++ backtrace).
fn torch_error(what: &str, m: &str) -> Error {
    let debug = std::env::var(DEBUG_ENV).is_ok_and(|v| v.trim() == "1");
    let inner = m
        .split_once("Torch(\"")
        .map_or(m, |(_, rest)| rest)
        .replace("\\n", "\n");
    let first = inner
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("unknown")
        .trim_end_matches("\")")
        .to_string();
    let text = if debug { m.to_string() } else { first };
    let lower = m.to_ascii_lowercase();
    if lower.contains("can't allocate memory") || lower.contains("out of memory") || lower.contains("bad_alloc") {
        Error::OutOfMemory(format!(
            "{what}: LibTorch could not allocate the memory it needed ({text}): the machine has less free memory than the budget allows; lower {} or the request",
            crate::memory::BUDGET_ENV
        ))
    } else {
        Error::Internal(format!(
            "{what}: LibTorch failed: {text}{}",
            if debug { "" } else { " (IAEMU_DEBUG=1 shows LibTorch's whole message)" }
        ))
    }
}

/// What the LibTorch back end offers on this machine.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Backend {
    /// LibTorch version this build links (read from the LibTorch install at build time).
    pub libtorch_version: &'static str,
    /// Directory of the LibTorch libraries found by the build (also the rpath).
    pub libtorch_lib: &'static str,
    /// CUDA devices LibTorch sees.
    pub cuda_devices: usize,
    /// Whether cuDNN is available.
    pub cudnn: bool,
    /// The device "auto" picks: "cuda" when a CUDA device is present, else "cpu".
    pub auto_device: &'static str,
    /// LibTorch intra-op threads.
    pub torch_threads: i32,
}

/// Queries LibTorch.
pub fn backend() -> Backend {
    let cuda_devices = tch::Cuda::device_count().max(0) as usize;
    Backend {
        libtorch_version: env!("IAEMU_LIBTORCH_VERSION"),
        libtorch_lib: env!("IAEMU_LIBTORCH_LIB"),
        cuda_devices,
        cudnn: tch::Cuda::cudnn_is_available(),
        auto_device: if cuda_devices > 0 { "cuda" } else { "cpu" },
        torch_threads: tch::get_num_threads(),
    }
}

/// "auto" (CUDA when LibTorch sees a device, else the CPU), "cpu", "cuda" or "cuda:N".
pub fn parse_device(name: &str) -> Result<Device> {
    let n_cuda = tch::Cuda::device_count().max(0);
    let cuda = |i: i64| {
        if i < n_cuda {
            Ok(Device::Cuda(i as usize))
        } else {
            Err(Error::Unsupported(format!(
                "device {name:?}: LibTorch sees {n_cuda} CUDA device(s) on this machine"
            )))
        }
    };
    match name.trim() {
        "auto" => Ok(if n_cuda > 0 { Device::Cuda(0) } else { Device::Cpu }),
        "cpu" => Ok(Device::Cpu),
        "cuda" => cuda(0),
        s => match s.strip_prefix("cuda:").map(str::parse::<i64>) {
            Some(Ok(i)) if i >= 0 => cuda(i),
            _ => Err(Error::invalid(format!(
                "device {name:?}: choose auto, cpu, cuda or cuda:N"
            ))),
        },
    }
}

pub(crate) fn device_name(d: Device) -> String {
    match d {
        Device::Cuda(i) => format!("cuda:{i}"),
        _ => "cpu".into(),
    }
}

/// Sets LibTorch's thread count for the call that follows: `threads`, else the process
/// default ([`crate::threads::num_threads`]).
pub(crate) fn set_torch_threads(threads: Option<usize>) -> Result<()> {
    let n = match threads {
        Some(n) => crate::threads::check(n)?,
        None => crate::threads::num_threads()?,
    };
    if tch::get_num_threads() != n as i32 {
        tch::set_num_threads(n as i32);
    }
    Ok(())
}

/// Settings of [`Emulator::predict`].
#[derive(Clone, Debug, PartialEq)]
pub struct PredictOptions {
    /// Monte Carlo dropout passes T; 1 gives the plain prediction (dropout off) and zero
    /// epistemic variance.
    pub mc_passes: usize,
    /// Seeds the dropout masks: the same seed, inputs, device and thread count give the same
    /// numbers. The masks are drawn for the whole batch, so a row's Monte Carlo numbers depend
    /// on the rows before it.
    pub seed: u64,
    /// Predict for rows outside the training domain instead of returning `OutOfDomain`.
    pub allow_extrapolation: bool,
    /// LibTorch threads (None: the process default).
    pub threads: Option<usize>,
}

impl Default for PredictOptions {
    fn default() -> Self {
        PredictOptions {
            mc_passes: DEFAULT_MC_PASSES,
            seed: 0,
            allow_extrapolation: false,
            threads: None,
        }
    }
}

/// Predictions in physical units, each n x 3 x n_bins (rows xi, omega, eta).
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// Mean over passes of the predicted means.
    pub mean: Array3<f64>,
    /// Mean over passes of the predicted variances.
    pub aleatoric_var: Array3<f64>,
    /// Variance over passes of the predicted means (0 when `mc_passes` is 1).
    pub epistemic_var: Array3<f64>,
    /// Per row, bit k set when parameter k is outside the training domain.
    pub flags: Vec<u32>,
    pub mc_passes: usize,
}

/// Means and their derivatives, from the plain (dropout off) prediction.
#[derive(Clone, Debug, PartialEq)]
pub struct Jacobian {
    /// n x 3 x n_bins.
    pub mean: Array3<f64>,
    /// n x 3 x n_bins x 7: d mean[i, s, b] / d params[i, k].
    pub jacobian: Array4<f64>,
    pub flags: Vec<u32>,
}

/// A loaded model.
pub struct Emulator {
    /// The network with its BatchNorms folded, for inference.
    net: Mutex<Net>,
    /// The weights as trained (what model files hold).
    weights: Mutex<Vec<(String, Tensor)>>,
    meta: ModelMeta,
    device: Device,
    /// What the network computes in: float32, or float64 for [`Emulator::to_float64`].
    kind: Kind,
}

impl Emulator {
    /// Loads a model file on `device` ("auto", "cpu", "cuda", "cuda:N").
    pub fn load(path: &Path, device: &str) -> Result<Emulator> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(format!("{}: {e}", path.display())))?;
        Self::from_bytes(&bytes, device, &path.display().to_string())
    }

    /// The model built into the library.
    pub fn builtin(device: &str) -> Result<Emulator> {
        Self::from_bytes(BUILTIN, device, "the built-in model")
    }

    /// `path`, or the built-in model when None.
    pub fn open(path: Option<&Path>, device: &str) -> Result<Emulator> {
        match path {
            Some(p) => Self::load(p, device),
            None => Self::builtin(device),
        }
    }

    /// Loads a model from the bytes of a model file; `origin` names it in errors.
    pub fn from_bytes(bytes: &[u8], device: &str, origin: &str) -> Result<Emulator> {
        let device = parse_device(device)?;
        torch("loading a model", || {
            let parsed = file::parse(bytes, FORMAT, origin)?;
            let meta = file::parse_meta(&parsed.json, origin)?;
            let net = {
                let _rng = torch_rng_lock();
                Net::new(&meta.config, meta.n_bins(), device)
            };
            file::load_into(&net, &parsed.tensors, "", origin)?;
            Ok(Self::from_net(net, meta, device))
        })
    }

    pub(crate) fn from_net(net: Net, meta: ModelMeta, device: Device) -> Emulator {
        Emulator {
            net: Mutex::new(net.fold_batchnorm(&meta.config)),
            weights: Mutex::new(net.named_variables()),
            meta,
            device,
            kind: Kind::Float,
        }
    }

    /// A copy of this model that computes in float64: the same weights, normalisation and
    /// function as the float32 model, evaluated without float32 rounding. For reference values:
    /// the tests judge the float32 means and Jacobian against it, and finite differences of it
    /// are accurate at steps far below float32's resolution. About twice as slow; model files
    /// written from it hold the float32 weights as trained.
    pub fn to_float64(&self) -> Result<Emulator> {
        torch("converting a model to float64", || {
            let mut net = {
                let _rng = torch_rng_lock();
                Net::new(&self.meta.config, self.n_bins(), self.device)
            };
            net.vs.set_kind(Kind::Double);
            let weights: Vec<(String, Tensor)> = self
                .weights
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|(k, t)| (k.clone(), t.shallow_clone()))
                .collect();
            let map = weights.iter().map(|(k, t)| (k.clone(), t.shallow_clone())).collect();
            file::load_into(&net, &map, "", "the model")?;
            Ok(Emulator {
                net: Mutex::new(net.fold_batchnorm(&self.meta.config)),
                weights: Mutex::new(weights),
                meta: self.meta.clone(),
                device: self.device,
                kind: Kind::Double,
            })
        })
    }

    fn net(&self) -> std::sync::MutexGuard<'_, Net> {
        self.net.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the model to `path` (`.safetensors`) through a temporary file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes()?;
        file::write_file(path, &bytes)
    }

    /// The bytes of the model file.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let json = serde_json::to_string(&self.meta).map_err(|e| Error::Internal(e.to_string()))?;
        let weights = self.weights.lock().unwrap_or_else(|p| p.into_inner());
        torch("saving a model", || file::serialize(&weights, FORMAT, json))
    }

    pub fn meta(&self) -> &ModelMeta {
        &self.meta
    }

    pub fn device(&self) -> String {
        device_name(self.device)
    }

    pub fn n_bins(&self) -> usize {
        self.meta.n_bins()
    }

    /// Bytes a forward pass over `rows` rows (at most [`ROWS_PER_FORWARD`] at a time) may hold:
    /// every layer's activations (and a dropout mask), or with `grad` those kept for the
    /// backward pass and their gradients. An upper bound: inference frees each layer's input
    /// once it has the output.
    pub(crate) fn working_bytes(&self, rows: usize, grad: bool) -> f64 {
        let per_value = if self.kind == Kind::Double { 8.0 } else { 4.0 };
        let copies = if grad { 4.0 } else { 2.0 };
        let rows = rows.min(ROWS_PER_FORWARD as usize) as f64;
        rows * net::activations_per_row(&self.meta.config, self.n_bins()) as f64 * per_value * copies
    }

    /// Checks `params` (row-major n x 7) and returns the domain flags of each row: bit k set
    /// when parameter k is outside the training domain. NaN or infinite values are invalid.
    pub fn domain_flags(&self, params: &[f64]) -> Result<Vec<u32>> {
        let np = PARAM_NAMES.len();
        if params.is_empty() || params.len() % np != 0 {
            return Err(Error::invalid(format!(
                "params has {} values: need n x {np} (n >= 1), in the order {}",
                params.len(),
                PARAM_NAMES.join(", ")
            )));
        }
        params
            .chunks(np)
            .enumerate()
            .map(|(i, row)| {
                let mut f = 0u32;
                for (k, &x) in row.iter().enumerate() {
                    if !x.is_finite() {
                        return Err(Error::invalid(format!(
                            "params row {i}: {} = {x} is not a finite number",
                            PARAM_NAMES[k]
                        )));
                    }
                    if x < self.meta.domain_min[k] || x > self.meta.domain_max[k] {
                        f |= 1 << k;
                    }
                }
                Ok(f)
            })
            .collect()
    }

    fn check_domain(&self, flags: &[u32], allow: bool) -> Result<()> {
        if allow {
            return Ok(());
        }
        match flags.iter().position(|&f| f != 0) {
            None => Ok(()),
            Some(i) => {
                let names: Vec<String> = (0..PARAM_NAMES.len())
                    .filter(|k| flags[i] & (1 << k) != 0)
                    .map(|k| {
                        format!(
                            "{} outside [{}, {}]",
                            PARAM_NAMES[k], self.meta.domain_min[k], self.meta.domain_max[k]
                        )
                    })
                    .collect();
                Err(Error::OutOfDomain(format!(
                    "{} of {} rows are outside the training domain (first: row {i}, {}); allow extrapolation to predict anyway",
                    flags.iter().filter(|&&f| f != 0).count(),
                    flags.len(),
                    names.join(", ")
                )))
            }
        }
    }

    /// Predicts for `params` (row-major n x 7, [`PARAM_NAMES`] order) with Monte Carlo
    /// dropout (docs/science.md section 10): the T passes of a chunk of rows run as one batch.
    pub fn predict(&self, params: &[f64], opts: &PredictOptions) -> Result<Prediction> {
        // Invalid arguments before the domain: OutOfDomain means only that.
        if opts.mc_passes == 0 || opts.mc_passes > MAX_MC_PASSES {
            return Err(Error::invalid(format!(
                "mc_passes {}: must be 1 to {MAX_MC_PASSES} (the epistemic variance is then known to 0.14% of itself)",
                opts.mc_passes
            )));
        }
        let flags = self.domain_flags(params)?;
        self.check_domain(&flags, opts.allow_extrapolation)?;
        let n = flags.len();
        let nb = self.n_bins();
        let t = opts.mc_passes as i64;
        // Three n x 3 x n_bins outputs, each held about three times on the way (tensors, the
        // flat copy, the array), and one forward pass.
        crate::memory::ensure(
            &format!("predicting {n} points x {t} passes"),
            9.0 * (n * 3 * nb * 8) as f64 + self.working_bytes(n.saturating_mul(opts.mc_passes), false),
        )?;
        let net = self.net();
        let _rng = (t > 1).then(torch_rng_lock);
        set_torch_threads(opts.threads)?;
        let (mean, ale, epi) = torch("predict", || {
            tch::no_grad(|| {
                if t > 1 {
                    tch::manual_seed(opts.seed as i64);
                }
                let x = self.meta.normalization.standardise_params(&params_tensor(params, self.device, self.kind));
                // Each forward pass holds at most ROWS_PER_FORWARD rows: all passes of several
                // points, or, beyond that many passes, chunks of the passes of one point.
                let passes_per_forward = t.min(ROWS_PER_FORWARD);
                let rows_per_chunk = (ROWS_PER_FORWARD / passes_per_forward).max(1);
                let (mut mean, mut ale, mut epi) = (Vec::new(), Vec::new(), Vec::new());
                for xc in x.split(rows_per_chunk, 0) {
                    let nc = xc.size()[0];
                    if t == 1 {
                        let (m, v) = net.forward(&xc, Mode::Eval);
                        let (m, v) = self.meta.normalization.to_physical(&m, &v);
                        mean.push(m.to_kind(Kind::Double));
                        ale.push(v.to_kind(Kind::Double));
                        epi.push(mean[mean.len() - 1].zeros_like());
                        continue;
                    }
                    // Per chunk of passes: its count, mean, population variance and mean of the
                    // variances, combined below (Chan, Golub and LeVeque's pairwise update).
                    let mut parts: Vec<(i64, Tensor, Tensor, Tensor)> = Vec::new();
                    let mut done = 0;
                    while done < t {
                        let tc = passes_per_forward.min(t - done);
                        let xr = xc.repeat_interleave_self_int(tc, 0, None);
                        let (m, v) = net.forward(&xr, Mode::MonteCarlo);
                        let (m, v) = self.meta.normalization.to_physical(&m, &v);
                        let m = m.view([nc, tc, 3, nb as i64]).to_kind(Kind::Double);
                        let v = v.view([nc, tc, 3, nb as i64]).to_kind(Kind::Double);
                        parts.push((
                            tc,
                            m.mean_dim(1, false, None),
                            m.var_dim(1, false, false),
                            v.mean_dim(1, false, None),
                        ));
                        done += tc;
                    }
                    let (_, m, var, a) = parts
                        .into_iter()
                        .reduce(|(na, ma, va, aa), (nb_, mb, vb, ab)| {
                            let (fa, fb) = (na as f64, nb_ as f64);
                            let n = fa + fb;
                            let delta = &mb - &ma;
                            let m = &ma + &delta * (fb / n);
                            let m2 = &va * fa + &vb * fb + delta.square() * (fa * fb / n);
                            (na + nb_, m, m2 / n, (aa * fa + ab * fb) / n)
                        })
                        .expect("at least one chunk of passes");
                    mean.push(m);
                    epi.push(var);
                    ale.push(a);
                }
                Ok((to_f64(&Tensor::cat(&mean, 0)), to_f64(&Tensor::cat(&ale, 0)), to_f64(&Tensor::cat(&epi, 0))))
            })
        })?;
        let shape = (n, 3, nb);
        let arr = |v: Vec<f64>| Array3::from_shape_vec(shape, v).map_err(|e| Error::Internal(e.to_string()));
        Ok(Prediction {
            mean: arr(mean)?,
            aleatoric_var: arr(ale)?,
            epistemic_var: arr(epi)?,
            flags,
            mc_passes: opts.mc_passes,
        })
    }

    /// The plain (dropout off) predicted means and their Jacobian with respect to the 7
    /// parameters, by automatic differentiation: the 3 x n_bins outputs of a row are
    /// differentiated in one backward pass over a batch holding one copy of the row per output.
    pub fn jacobian(&self, params: &[f64], allow_extrapolation: bool, threads: Option<usize>) -> Result<Jacobian> {
        let flags = self.domain_flags(params)?;
        self.check_domain(&flags, allow_extrapolation)?;
        let n = flags.len();
        let nb = self.n_bins();
        let n_out = 3 * nb as i64;
        let np = PARAM_NAMES.len() as i64;
        // The n x 3 x n_bins x 7 derivatives and the means, each held about three times on the
        // way, and one differentiated forward pass.
        crate::memory::ensure(
            &format!("the Jacobian of {n} points"),
            3.0 * (n * 3 * nb * (np as usize + 1) * 8) as f64 + self.working_bytes(n.saturating_mul(n_out as usize), true),
        )?;
        let net = self.net();
        set_torch_threads(threads)?;
        let (mean, jac) = torch("jacobian", || {
            let x = params_tensor(params, self.device, self.kind);
            let rows_per_chunk = (ROWS_PER_FORWARD / n_out).max(1);
            let (mut means, mut jacs) = (Vec::new(), Vec::new());
            for xc in x.split(rows_per_chunk, 0) {
                let nc = xc.size()[0];
                // copy j of row i sits at j * nc + i and carries output j's derivative.
                let xr = xc.repeat([n_out, 1]).detach().set_requires_grad(true);
                let (m, v) = net.forward(&self.meta.normalization.standardise_params(&xr), Mode::Eval);
                let (m, _) = self.meta.normalization.to_physical(&m, &v);
                let m = m.view([n_out, nc, n_out]);
                let pick = Tensor::eye(n_out, (self.kind, self.device)).unsqueeze(1);
                let selected = (&m * &pick).sum(self.kind);
                let g = Tensor::run_backward(&[selected], &[&xr], false, false).remove(0);
                // g: (n_out * nc) x 7 -> nc x n_out x 7
                jacs.push(g.view([n_out, nc, np]).permute([1, 0, 2]).to_kind(Kind::Double));
                means.push(m.select(0, 0).detach().to_kind(Kind::Double));
            }
            Ok((to_f64(&Tensor::cat(&means, 0)), to_f64(&Tensor::cat(&jacs, 0))))
        })?;
        Ok(Jacobian {
            mean: Array3::from_shape_vec((n, 3, nb), mean).map_err(|e| Error::Internal(e.to_string()))?,
            jacobian: Array4::from_shape_vec((n, 3, nb, PARAM_NAMES.len()), jac)
                .map_err(|e| Error::Internal(e.to_string()))?,
            flags,
        })
    }
}

/// Which rows of `data` [`evaluate`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rows {
    /// The model's test split (the data must be the dataset it was trained on).
    TestSplit,
    /// Every valid row (for a dataset the model never saw).
    All,
}

/// Predictions and truths of an evaluation, with their metrics.
pub struct Evaluation {
    pub metrics: Metrics,
    /// Dataset row of each curve.
    pub rows: Vec<usize>,
    pub prediction: Prediction,
    pub truth: Array3<f64>,
}

/// The metrics of `emu` on `data` against its `truth` (the realisation means or the expected
/// correlations), with the dataset's variances over realisations as the one-realisation
/// scale (docs/science.md section 10). Rows outside the model's domain are predicted anyway
/// (and counted in the caller's flags).
pub fn evaluate(emu: &Emulator, data: &Data, rows: Rows, opts: &PredictOptions, truth: Truth) -> Result<Evaluation> {
    let curves = data.truth(truth)?;
    if data.r_edges.len() != emu.meta.r_edges.len()
        || data.r_edges.iter().zip(&emu.meta.r_edges).any(|(a, b)| (a - b).abs() > 1e-9 * b.abs())
    {
        return Err(Error::invalid("the dataset's bin edges differ from the model's"));
    }
    let rows = match rows {
        Rows::All => train::usable_rows(data).0,
        Rows::TestSplit => {
            let record = &emu.meta.training;
            if data.fingerprint() != record.dataset_fingerprint {
                return Err(Error::invalid(
                    "this is not the dataset the model was trained on, so it has no test split here: evaluate every row with --all",
                ));
            }
            train::split(data, &record.train)?.2
        }
    };
    if rows.is_empty() {
        return Err(Error::invalid("no rows to evaluate"));
    }
    let mut params = Array2::<f64>::zeros((rows.len(), PARAM_NAMES.len()));
    let mut truth = Array3::<f64>::zeros((rows.len(), 3, data.r_edges.len() - 1));
    let mut var1 = truth.clone();
    for (j, &i) in rows.iter().enumerate() {
        params.row_mut(j).assign(&data.params.row(i));
        truth.index_axis_mut(ndarray::Axis(0), j).assign(&curves.index_axis(ndarray::Axis(0), i));
        var1.index_axis_mut(ndarray::Axis(0), j).assign(&data.var.index_axis(ndarray::Axis(0), i));
    }
    let single = data.single.as_ref().map(|s| s.select(ndarray::Axis(0), &rows));
    let opts = PredictOptions {
        allow_extrapolation: true,
        ..opts.clone()
    };
    let flat: Vec<f64> = params.iter().copied().collect();
    let prediction = emu.predict(&flat, &opts)?;
    Ok(Evaluation {
        metrics: metrics::compute(&prediction, &truth, &var1, single.as_ref()),
        rows,
        prediction,
        truth,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What tch's panic carries when LibTorch cannot allocate (seen under `ulimit -d`).
    const OOM: &str = "called `Result::unwrap()` on an `Err` value: Torch(\"[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you tried to allocate 33554432 bytes. Error code 12 (Cannot allocate memory)\\nframe #0: c10::ThrowEnforceNotMet(char const*, int, char const*, std::string const&, void const*) + 0x6a (0x7fadd4f657fa in libc10.so)\\nframe #1: c10::alloc_cpu(unsigned long) + 0x3a4 (0x7fadd4f4c374 in libc10.so)\\n\")";

    #[test]
    fn libtorch_errors_become_one_readable_line() {
        std::env::remove_var(DEBUG_ENV);
        match torch_error("predict", OOM) {
            Error::OutOfMemory(m) => {
                assert!(m.starts_with("predict: LibTorch could not allocate"), "{m}");
                assert!(m.contains("you tried to allocate 33554432 bytes"), "{m}");
                assert!(!m.contains("frame #") && !m.contains('\n') && !m.contains("unwrap"), "{m}");
            }
            e => panic!("{e:?}"),
        }
        match torch_error("jacobian", "called `Result::unwrap()` on an `Err` value: Torch(\"shape '[3, 4]' is invalid for input of size 7\\nframe #0: at::view\")") {
            Error::Internal(m) => assert_eq!(
                m,
                "jacobian: LibTorch failed: shape '[3, 4]' is invalid for input of size 7 (IAEMU_DEBUG=1 shows LibTorch's whole message)"
            ),
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn monte_carlo_passes_are_bounded() {
        let emu = Emulator::builtin("cpu").unwrap();
        let p = [0.8, 0.8, 12.02, 0.26, 11.38, 13.31, 1.06];
        for mc_passes in [0, MAX_MC_PASSES + 1, 100_000_000] {
            match emu.predict(&p, &PredictOptions { mc_passes, ..Default::default() }) {
                Err(Error::InvalidArgument(m)) => assert!(m.contains("must be 1 to 1000000"), "{m}"),
                r => panic!("{mc_passes} passes: {:?}", r.is_ok()),
            }
        }
    }
}
