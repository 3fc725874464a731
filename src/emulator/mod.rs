//! The neural-network emulator of physics.md section 8 (LibTorch through `tch`; feature
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

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Mutex;

use ndarray::{Array2, Array3, Array4};
use once_cell::sync::Lazy;
use tch::{Device, Kind, Tensor};

pub use config::{Config, ModelConfig, TrainConfig};
pub use file::{ModelMeta, FORMAT};
pub use metrics::Metrics;
pub use net::STATISTICS;
pub use train::{train, Control, EpochReport};

use crate::dataset::Data;
use crate::hod::PARAM_NAMES;
use crate::{Error, Result};
use net::{params_tensor, to_f64, Mode, Net};

/// The built-in model (training/default-model/README.md says how it was made).
static BUILTIN: &[u8] = include_bytes!("../../training/default-model/iaemu-default.safetensors");

/// Monte Carlo passes of a prediction by default.
pub const DEFAULT_MC_PASSES: usize = 20;

/// Rows per forward pass (rows x passes): bounds the memory of a large batch.
const ROWS_PER_FORWARD: i64 = 8192;

/// Serialises every use of LibTorch's global random generator.
static TORCH_RNG: Lazy<Mutex<()>> = Lazy::new(|| Mutex::new(()));

pub(crate) fn torch_rng_lock() -> std::sync::MutexGuard<'static, ()> {
    TORCH_RNG.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs LibTorch work, turning a LibTorch exception (a panic in `tch`) into an error.
pub(crate) fn torch<R>(what: &str, f: impl FnOnce() -> Result<R>) -> Result<R> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let m = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown".into());
            Err(Error::Internal(format!("{what}: LibTorch failed: {m}")))
        }
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
    /// dropout (physics.md section 8): the T passes of a chunk of rows run as one batch.
    pub fn predict(&self, params: &[f64], opts: &PredictOptions) -> Result<Prediction> {
        // Invalid arguments before the domain: OutOfDomain means only that.
        if opts.mc_passes == 0 {
            return Err(Error::invalid("mc_passes must be at least 1"));
        }
        let flags = self.domain_flags(params)?;
        self.check_domain(&flags, opts.allow_extrapolation)?;
        let n = flags.len();
        let nb = self.n_bins();
        let t = opts.mc_passes as i64;
        let net = self.net();
        let _rng = (t > 1).then(torch_rng_lock);
        set_torch_threads(opts.threads)?;
        let (mean, ale, epi) = torch("predict", || {
            tch::no_grad(|| {
                if t > 1 {
                    tch::manual_seed(opts.seed as i64);
                }
                let x = self.meta.normalization.standardise_params(&params_tensor(params, self.device, self.kind));
                let rows_per_chunk = (ROWS_PER_FORWARD / t).max(1);
                let (mut mean, mut ale, mut epi) = (Vec::new(), Vec::new(), Vec::new());
                for xc in x.split(rows_per_chunk, 0) {
                    let nc = xc.size()[0];
                    let (m, v) = if t > 1 {
                        let xr = xc.repeat_interleave_self_int(t, 0, None);
                        let (m, v) = net.forward(&xr, Mode::MonteCarlo);
                        let (m, v) = self.meta.normalization.to_physical(&m, &v);
                        (m.view([nc, t, 3, nb as i64]), v.view([nc, t, 3, nb as i64]))
                    } else {
                        let (m, v) = net.forward(&xc, Mode::Eval);
                        let (m, v) = self.meta.normalization.to_physical(&m, &v);
                        (m.unsqueeze(1), v.unsqueeze(1))
                    };
                    let m = m.to_kind(Kind::Double);
                    mean.push(m.mean_dim(1, false, None));
                    ale.push(v.to_kind(Kind::Double).mean_dim(1, false, None));
                    epi.push(if t > 1 {
                        m.var_dim(1, false, false)
                    } else {
                        m.select(1, 0).zeros_like()
                    });
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

/// The metrics of `emu` on `data` (physics.md section 8). Rows outside the model's domain are
/// predicted anyway (and counted in the caller's flags).
pub fn evaluate(emu: &Emulator, data: &Data, rows: Rows, opts: &PredictOptions) -> Result<Evaluation> {
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
    for (j, &i) in rows.iter().enumerate() {
        params.row_mut(j).assign(&data.params.row(i));
        truth.index_axis_mut(ndarray::Axis(0), j).assign(&data.mean.index_axis(ndarray::Axis(0), i));
    }
    let opts = PredictOptions {
        allow_extrapolation: true,
        ..opts.clone()
    };
    let flat: Vec<f64> = params.iter().copied().collect();
    let prediction = emu.predict(&flat, &opts)?;
    Ok(Evaluation {
        metrics: metrics::compute(&prediction, &truth),
        rows,
        prediction,
        truth,
    })
}
