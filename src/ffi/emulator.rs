//! C ABI of the emulator: load a model, describe it, predict with Monte Carlo dropout, the
//! Jacobian of the means, and training. In a build without the `emulator` feature every
//! function here exists and returns `IA_ERR_UNSUPPORTED`, so the ABI is the same.
//!
//! Threads: an `IaEmulator` may be used from several threads at once. Calls on one handle are
//! serialised inside the library (each uses all LibTorch threads), and Monte Carlo calls on any
//! handle are serialised process-wide (they seed LibTorch's global generator), so concurrent
//! calls give the same numbers as sequential ones. `ia_emulator_set_extrapolation` is atomic.

use std::ffi::{c_char, c_int, c_void};

#[cfg(feature = "emulator")]
use super::{handles, path_arg, slice, slice_mut};
use super::{guard, non_null};
use crate::error::Error;
#[cfg(feature = "emulator")]
use crate::error::Result;
use crate::hod::PARAM_NAMES;

/// An emulator model: an opaque handle; free it once with `ia_emulator_free`.
///
/// Threads: may be used from many threads at once. Calls that run the network on one handle
/// (`ia_predict_batch`, `ia_predict_jacobian`) are serialised inside it, and Monte Carlo calls
/// (`ia_predict_batch` with `mc_passes` > 1) are serialised process-wide, across all handles
/// (they seed LibTorch's global generator; `ia_train`'s epochs take the same lock), so
/// concurrent calls give the same numbers as sequential ones. `ia_emulator_set_extrapolation`
/// is atomic. Freeing it while another thread is inside a call with it is safe: the object
/// lives until that call returns.
pub struct IaEmulator {
    _private: [u8; 0],
}

/// Parameters per point, in the order of `ia_param_name` (docs/science.md section 2).
pub const IA_N_PARAMS: usize = 7;
/// Statistics per point: xi, omega, eta (the rows of every n x 3 x n_bins output).
pub const IA_N_STATISTICS: usize = 3;
const _: () = assert!(IA_N_PARAMS == PARAM_NAMES.len());

#[cfg(feature = "emulator")]
const EMULATOR_KIND: &str = "IaEmulator";

#[cfg(feature = "emulator")]
struct EmulatorHandle {
    emu: crate::emulator::Emulator,
    allow_extrapolation: std::sync::atomic::AtomicBool,
}

#[cfg(not(feature = "emulator"))]
fn unsupported() -> Error {
    Error::Unsupported("this iaemu was built without the emulator (lite build)".into())
}

/// What `ia_emulator_info` reports. Metrics are those of the model's test split, NaN when the
/// model has none.
#[repr(C)]
pub struct IaEmulatorInfo {
    pub n_params: usize,
    pub n_statistics: usize,
    /// Radial bins per statistic; `ia_emulator_r_edges` gives their n_bins + 1 edges.
    pub n_bins: usize,
    /// The training domain per parameter: inputs outside it are flagged.
    pub domain_min: [f64; IA_N_PARAMS],
    pub domain_max: [f64; IA_N_PARAMS],
    /// Non-zero when the model learnt log(xi).
    pub log_xi: c_int,
    /// Non-zero when the handle runs on a CUDA device.
    pub on_cuda: c_int,
    pub n_weights: i64,
    pub n_train: usize,
    pub epochs: usize,
    /// Per statistic (xi, omega, eta): mean Pearson correlation, median |fractional error|,
    /// shares of the truth within 1 and 2 sigma (aleatoric + epistemic).
    pub pcc_mean: [f64; IA_N_STATISTICS],
    pub frac_err_median: [f64; IA_N_STATISTICS],
    pub coverage_1sigma: [f64; IA_N_STATISTICS],
    pub coverage_2sigma: [f64; IA_N_STATISTICS],
}

/// One training epoch, given to an `IaTrainProgress` callback.
#[repr(C)]
pub struct IaTrainEpoch {
    /// 1-based.
    pub epoch: usize,
    pub max_epochs: usize,
    pub train_loss: f64,
    pub validation_loss: f64,
    pub best_validation_loss: f64,
    pub best_epoch: usize,
    pub learning_rate: f64,
    pub seconds: f64,
    /// Estimated seconds to `max_epochs` (early stopping may end sooner); NaN when unknown.
    pub eta_seconds: f64,
    /// Non-zero for epochs replayed from a checkpoint.
    pub resumed: c_int,
}

/// Called after every epoch on the thread that called `ia_train`; return 0 to go on, non-zero
/// to stop (the best model so far is still written).
pub type IaTrainProgress =
    Option<unsafe extern "C" fn(epoch: *const IaTrainEpoch, user_data: *mut c_void) -> c_int>;

/// The name of parameter `index` (0 to `IA_N_PARAMS - 1`) as a static NUL-terminated string, in
/// `*out_name` (owned by the library, never freed). Available in every build.
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL `out_name` or an `index` of
/// `IA_N_PARAMS` or more.
///
/// Threads: any thread; the names are static.
///
/// # Safety
/// `out_name` NULL or one writable `const char *`.
#[no_mangle]
pub unsafe extern "C" fn ia_param_name(index: usize, out_name: *mut *const c_char) -> c_int {
    guard("ia_param_name", || {
        non_null(out_name, "out_name")?;
        static NAMES: once_cell::sync::Lazy<Vec<std::ffi::CString>> = once_cell::sync::Lazy::new(|| {
            PARAM_NAMES
                .iter()
                .map(|n| std::ffi::CString::new(*n).expect("no NUL in parameter names"))
                .collect()
        });
        let name = NAMES.get(index).ok_or_else(|| {
            Error::invalid(format!("parameter index {index}: 0 to {}", IA_N_PARAMS - 1))
        })?;
        // SAFETY: checked non-NULL; the string lives for the whole process.
        unsafe { *out_name = name.as_ptr() };
        Ok(())
    })
}

/// Loads a model: the file at `path` (`.safetensors`), or the model built into the library when
/// `path` is NULL (optional), on `device` ("auto": CUDA when present, else the CPU; "cpu";
/// "cuda"; "cuda:N"; NULL, optional, means "auto"). On success `*out` receives a new handle;
/// free it with `ia_emulator_free`.
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL `out`, an empty or non-UTF-8 `path` or
/// `device`, or an unknown device name; `IA_ERR_IO` for a model file that cannot be read, is
/// corrupt, has a wrong format version or a mismatched architecture; `IA_ERR_UNSUPPORTED` for a
/// CUDA device LibTorch does not see, and in a build without the emulator (after the NULL check
/// of `out`); `IA_ERR_OUT_OF_MEMORY` when LibTorch cannot allocate the model; `IA_ERR_INTERNAL`
/// for another LibTorch failure.
///
/// Threads: any thread, several at once; each call makes an independent handle.
///
/// # Safety
/// `path` and `device` NULL or NUL-terminated strings; `out` NULL or one writable
/// `IaEmulator *`.
#[no_mangle]
pub unsafe extern "C" fn ia_emulator_load(
    path: *const c_char,
    device: *const c_char,
    out: *mut *mut IaEmulator,
) -> c_int {
    guard("ia_emulator_load", || {
        non_null(out, "out")?;
        #[cfg(not(feature = "emulator"))]
        {
            let _ = (path, device);
            Err(unsupported())
        }
        #[cfg(feature = "emulator")]
        {
            let path = if path.is_null() { None } else { Some(path_arg(path, "path")?) };
            let device = if device.is_null() {
                "auto".to_string()
            } else {
                path_arg(device, "device")?.to_string_lossy().into_owned()
            };
            let emu = crate::emulator::Emulator::open(path.as_deref(), &device)?;
            let h = handles::register::<EmulatorHandle, IaEmulator>(
                EmulatorHandle {
                    emu,
                    allow_extrapolation: false.into(),
                },
                EMULATOR_KIND,
            )?;
            // SAFETY: checked non-NULL.
            unsafe { *out = h };
            Ok(())
        }
    })
}

/// Describes a model: sizes, training domain, device and test metrics.
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL `out` or a NULL, freed, forged or
/// wrong-kind `emu`; `IA_ERR_UNSUPPORTED` in a build without the emulator (after the NULL check
/// of `out`).
///
/// Threads: any thread, also while other threads predict with `emu` (it reads only what loading
/// fixed).
///
/// # Safety
/// `emu` NULL or any value (a handle is looked up, never dereferenced); `out` NULL or writable
/// memory for one `IaEmulatorInfo`.
#[no_mangle]
pub unsafe extern "C" fn ia_emulator_info(emu: *const IaEmulator, out: *mut IaEmulatorInfo) -> c_int {
    guard("ia_emulator_info", || {
        non_null(out, "out")?;
        #[cfg(not(feature = "emulator"))]
        {
            let _ = emu;
            Err(unsupported())
        }
        #[cfg(feature = "emulator")]
        {
            let h = handles::get::<EmulatorHandle, IaEmulator>(emu, EMULATOR_KIND)?;
            let m = h.emu.meta();
            let per = |f: &dyn Fn(&crate::emulator::metrics::StatMetrics) -> f64| -> [f64; 3] {
                match &m.metrics {
                    Some(mm) => mm.by_statistic().map(f),
                    None => [f64::NAN; 3],
                }
            };
            let info = IaEmulatorInfo {
                n_params: IA_N_PARAMS,
                n_statistics: IA_N_STATISTICS,
                n_bins: m.n_bins(),
                domain_min: std::array::from_fn(|k| m.domain_min[k]),
                domain_max: std::array::from_fn(|k| m.domain_max[k]),
                log_xi: m.config.log_xi as c_int,
                on_cuda: (h.emu.device() != "cpu") as c_int,
                n_weights: m.training.n_weights,
                n_train: m.training.n_train,
                epochs: m.training.epochs,
                pcc_mean: per(&|s| s.pcc_mean),
                frac_err_median: per(&|s| s.frac_err_median),
                coverage_1sigma: per(&|s| s.coverage_1sigma),
                coverage_2sigma: per(&|s| s.coverage_2sigma),
            };
            // SAFETY: checked non-NULL.
            unsafe { out.write(info) };
            Ok(())
        }
    })
}

/// Writes the model's n_bins + 1 bin edges (Mpc/h) into `out`; `len` must be n_bins + 1.
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL, freed, forged or wrong-kind `emu`,
/// `len` other than n_bins + 1, or a NULL `out`; `IA_ERR_UNSUPPORTED` in a build without the
/// emulator (whatever the arguments).
///
/// Threads: any thread, also while other threads predict with `emu`.
///
/// # Safety
/// `emu` NULL or any value (a handle is looked up, never dereferenced); `out` NULL or `len`
/// writable doubles.
#[no_mangle]
pub unsafe extern "C" fn ia_emulator_r_edges(emu: *const IaEmulator, out: *mut f64, len: usize) -> c_int {
    guard("ia_emulator_r_edges", || {
        #[cfg(not(feature = "emulator"))]
        {
            let _ = (emu, out, len);
            Err(unsupported())
        }
        #[cfg(feature = "emulator")]
        {
            let h = handles::get::<EmulatorHandle, IaEmulator>(emu, EMULATOR_KIND)?;
            let edges = &h.emu.meta().r_edges;
            if len != edges.len() {
                return Err(Error::invalid(format!("len = {len}, the model has {} bin edges", edges.len())));
            }
            // SAFETY: forwarded caller promise.
            unsafe { slice_mut(out, len, "out")? }.copy_from_slice(edges);
            Ok(())
        }
    })
}

/// Allows (non-zero) or forbids (0, the default) predictions for points outside the training
/// domain on this handle.
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL, freed, forged or wrong-kind `emu`;
/// `IA_ERR_UNSUPPORTED` in a build without the emulator (whatever the arguments).
///
/// Threads: any thread; atomic, so safe while other threads predict with `emu` (a prediction
/// already started keeps the setting it read).
///
/// # Safety
/// `emu` NULL or any value (a handle is looked up, never dereferenced).
#[no_mangle]
pub extern "C" fn ia_emulator_set_extrapolation(emu: *const IaEmulator, allow: c_int) -> c_int {
    guard("ia_emulator_set_extrapolation", || {
        #[cfg(not(feature = "emulator"))]
        {
            let _ = (emu, allow);
            Err(unsupported())
        }
        #[cfg(feature = "emulator")]
        {
            let h = handles::get::<EmulatorHandle, IaEmulator>(emu, EMULATOR_KIND)?;
            h.allow_extrapolation
                .store(allow != 0, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
    })
}

/// Checks a parameter batch (size, NaN) and returns it with its domain flags (bit k:
/// parameter k outside the training domain) and the caller's `out_flags` array (None when
/// NULL), which [`write_flags`] fills once the call's outcome is known.
#[cfg(feature = "emulator")]
unsafe fn batch<'a>(
    h: &EmulatorHandle,
    params: *const f64,
    n: usize,
    out_flags: *mut u32,
) -> Result<(&'a [f64], Vec<u32>, Option<&'a mut [u32]>)> {
    if n == 0 {
        return Err(Error::invalid("n = 0: nothing to predict"));
    }
    // n x 3 x n_bins x 7 outputs (the Jacobian) must fit too.
    let len = n
        .checked_mul(IA_N_PARAMS * IA_N_STATISTICS * h.emu.n_bins())
        .and_then(|_| n.checked_mul(IA_N_PARAMS))
        .ok_or_else(|| Error::invalid(format!("n = {n} is too large")))?;
    // SAFETY: forwarded caller promise.
    let p = unsafe { slice(params, len, "params")? };
    let flags = h.emu.domain_flags(p)?;
    let out = (!out_flags.is_null())
        // SAFETY: forwarded caller promise.
        .then(|| unsafe { slice_mut(out_flags, n, "out_flags") })
        .transpose()?;
    Ok((p, flags, out))
}

/// Writes the domain flags where the conventions allow, on success and with
/// `IA_ERR_OUT_OF_DOMAIN` (to say which rows are outside), and passes `result` on.
#[cfg(feature = "emulator")]
fn write_flags<T>(result: Result<T>, flags: &[u32], out: Option<&mut [u32]>) -> Result<T> {
    if let (Ok(_) | Err(Error::OutOfDomain(_)), Some(out)) = (&result, out) {
        out.copy_from_slice(flags);
    }
    result
}

/// Predicts xi, omega and eta for `n` points (`params`: n x 7 row-major, in `ia_param_name`
/// order) with `mc_passes` Monte Carlo dropout passes (1: the plain prediction and zero
/// epistemic variance; 0 is invalid), seeded by `seed` (the same call gives the same numbers).
/// Writes, each n x 3 x n_bins row-major (rows xi, omega, eta) in physical units: the mean to
/// `out_mean`, the aleatoric variance to `out_aleatoric_var` and the epistemic variance to
/// `out_epistemic_var` (both optional: NULL when not wanted). `out_flags` (optional: n values,
/// or NULL) gets each row's domain flags, bit k set when parameter k is outside the training
/// domain, and is written also when the status is `IA_ERR_OUT_OF_DOMAIN`.
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL, freed, forged or wrong-kind `emu`, a
/// NULL `params` or `out_mean`, `n` 0 or too large to address, a NaN or infinite parameter or
/// `mc_passes` 0 or above 10^6 (these checked before the domain), or a bad `IAEMU_NUM_THREADS`
/// or `IAEMU_MEMORY_BUDGET`; `IA_ERR_OUT_OF_DOMAIN` when a row is outside the training domain
/// and extrapolation is not allowed (`ia_emulator_set_extrapolation`): only `out_flags` is
/// written; `IA_ERR_OUT_OF_MEMORY` when the outputs and working arrays would exceed the memory
/// budget (refused before the work starts) or LibTorch cannot allocate; `IA_ERR_INTERNAL` for
/// another LibTorch failure; `IA_ERR_UNSUPPORTED` in a build without the emulator (whatever the
/// arguments).
///
/// Threads: any thread. Calls on one `emu` run one at a time, and calls with `mc_passes` > 1
/// run one at a time in the whole process, whatever the handle (they seed LibTorch's global
/// generator), so concurrent calls give the numbers of sequential ones.
///
/// # Safety
/// `emu` NULL or any value (a handle is looked up, never dereferenced); `params` NULL or 7 n
/// readable doubles; `out_mean` NULL or 3 n n_bins writable doubles; `out_aleatoric_var` and
/// `out_epistemic_var` NULL or 3 n n_bins writable doubles each; `out_flags` NULL or n writable
/// `uint32_t`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn ia_predict_batch(
    emu: *const IaEmulator,
    params: *const f64,
    n: usize,
    mc_passes: u32,
    seed: u64,
    out_mean: *mut f64,
    out_aleatoric_var: *mut f64,
    out_epistemic_var: *mut f64,
    out_flags: *mut u32,
) -> c_int {
    guard("ia_predict_batch", || {
        #[cfg(not(feature = "emulator"))]
        {
            let _ = (emu, params, n, mc_passes, seed, out_mean, out_aleatoric_var, out_epistemic_var, out_flags);
            Err(unsupported())
        }
        #[cfg(feature = "emulator")]
        {
            let h = handles::get::<EmulatorHandle, IaEmulator>(emu, EMULATOR_KIND)?;
            // SAFETY (all): forwarded caller promises.
            let (p, flags, out_flags) = unsafe { batch(&h, params, n, out_flags)? };
            let len = n * IA_N_STATISTICS * h.emu.n_bins();
            let mean = unsafe { slice_mut(out_mean, len, "out_mean")? };
            let ale = (!out_aleatoric_var.is_null())
                .then(|| unsafe { slice_mut(out_aleatoric_var, len, "out_aleatoric_var") })
                .transpose()?;
            let epi = (!out_epistemic_var.is_null())
                .then(|| unsafe { slice_mut(out_epistemic_var, len, "out_epistemic_var") })
                .transpose()?;
            let opts = crate::emulator::PredictOptions {
                mc_passes: mc_passes as usize,
                seed,
                allow_extrapolation: h.allow_extrapolation.load(std::sync::atomic::Ordering::Relaxed),
                threads: None,
            };
            let r = write_flags(h.emu.predict(p, &opts), &flags, out_flags)?;
            mean.copy_from_slice(r.mean.as_slice().ok_or_else(|| Error::Internal("layout".into()))?);
            if let Some(a) = ale {
                a.copy_from_slice(r.aleatoric_var.as_slice().ok_or_else(|| Error::Internal("layout".into()))?);
            }
            if let Some(e) = epi {
                e.copy_from_slice(r.epistemic_var.as_slice().ok_or_else(|| Error::Internal("layout".into()))?);
            }
            Ok(())
        }
    })
}

/// The plain (dropout off) predicted means of `n` points and their derivatives with respect to
/// the 7 parameters, by automatic differentiation: `out_mean` n x 3 x n_bins (optional: NULL
/// when not wanted) and `out_jacobian` n x 3 x n_bins x 7 row-major
/// (`out_jacobian[((i * 3 + s) * n_bins + b) * 7 + k]` = d mean[i, s, b] / d params[i, k]).
/// Domain flags as in `ia_predict_batch`.
///
/// Status: as `ia_predict_batch`, without `mc_passes`: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a
/// NULL, freed, forged or wrong-kind `emu`, a NULL `params` or `out_jacobian`, `n` 0 or too
/// large to address, a NaN or infinite parameter, or a bad `IAEMU_NUM_THREADS` or
/// `IAEMU_MEMORY_BUDGET`; `IA_ERR_OUT_OF_DOMAIN` for a row outside the training domain without
/// extrapolation (only `out_flags` is written); `IA_ERR_OUT_OF_MEMORY` over the memory budget
/// or when LibTorch cannot allocate; `IA_ERR_INTERNAL` for another LibTorch failure;
/// `IA_ERR_UNSUPPORTED` in a build without the emulator (whatever the arguments).
///
/// Threads: any thread; calls on one `emu` run one at a time (not Monte Carlo, so not
/// serialised with other handles).
///
/// # Safety
/// `emu` NULL or any value (a handle is looked up, never dereferenced); `params` NULL or 7 n
/// readable doubles; `out_mean` NULL or 3 n n_bins writable doubles; `out_jacobian` NULL or 21
/// n n_bins writable doubles; `out_flags` NULL or n writable `uint32_t`.
#[no_mangle]
pub unsafe extern "C" fn ia_predict_jacobian(
    emu: *const IaEmulator,
    params: *const f64,
    n: usize,
    out_mean: *mut f64,
    out_jacobian: *mut f64,
    out_flags: *mut u32,
) -> c_int {
    guard("ia_predict_jacobian", || {
        #[cfg(not(feature = "emulator"))]
        {
            let _ = (emu, params, n, out_mean, out_jacobian, out_flags);
            Err(unsupported())
        }
        #[cfg(feature = "emulator")]
        {
            let h = handles::get::<EmulatorHandle, IaEmulator>(emu, EMULATOR_KIND)?;
            // SAFETY (all): forwarded caller promises.
            let (p, flags, out_flags) = unsafe { batch(&h, params, n, out_flags)? };
            let len = n * IA_N_STATISTICS * h.emu.n_bins();
            // (`batch` checked that this product fits)
            let jac = unsafe { slice_mut(out_jacobian, len * IA_N_PARAMS, "out_jacobian")? };
            let mean = (!out_mean.is_null())
                .then(|| unsafe { slice_mut(out_mean, len, "out_mean") })
                .transpose()?;
            let allow = h.allow_extrapolation.load(std::sync::atomic::Ordering::Relaxed);
            let r = write_flags(h.emu.jacobian(p, allow, None), &flags, out_flags)?;
            jac.copy_from_slice(r.jacobian.as_slice().ok_or_else(|| Error::Internal("layout".into()))?);
            if let Some(m) = mean {
                m.copy_from_slice(r.mean.as_slice().ok_or_else(|| Error::Internal("layout".into()))?);
            }
            Ok(())
        }
    })
}

/// Frees a model.
///
/// Status: `IA_OK`, also for NULL: freeing NULL is a no-op; `IA_ERR_INVALID_ARGUMENT` for a
/// handle already freed, forged (not made by iaemu) or of another kind (which is left as it
/// was). In a build without the emulator, NULL gives `IA_OK` and any other value
/// `IA_ERR_UNSUPPORTED`.
///
/// Threads: any thread. Freeing a handle in use is safe: while another thread is inside a call
/// with `emu`, the model lives until that call returns; calls made after the free get
/// `IA_ERR_INVALID_ARGUMENT`.
///
/// # Safety
/// `emu` NULL or any value: it is looked up in the registry, never dereferenced.
#[no_mangle]
pub extern "C" fn ia_emulator_free(emu: *mut IaEmulator) -> c_int {
    guard("ia_emulator_free", || {
        #[cfg(not(feature = "emulator"))]
        {
            if emu.is_null() {
                Ok(())
            } else {
                Err(unsupported())
            }
        }
        #[cfg(feature = "emulator")]
        {
            handles::release(emu, EMULATOR_KIND)
        }
    })
}

/// Trains a model on the dataset folder `data_dir` (from `iaemu generate`) and writes it to
/// `out_path` (`.safetensors`). `config_json` (optional) is the JSON of `iaemu train --config`
/// (NULL: the paper's defaults). An interrupted run resumes from `out_path.checkpoint`; a
/// checkpoint of another configuration or dataset is an error (remove it to start afresh).
/// `progress` (optional, may be NULL) is called after every epoch with `user_data`, and stops
/// training by returning non-zero (the best model so far is still written, and the status is
/// `IA_OK`).
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a `config_json` that is not UTF-8 or JSON,
/// has unknown keys or invalid values, a NULL, empty or non-UTF-8 `data_dir` or `out_path`, an
/// unfinished dataset, too few usable rows for the split, a checkpoint of another run, a
/// diverging loss, an unknown device, or a bad `IAEMU_NUM_THREADS` or `IAEMU_MEMORY_BUDGET`;
/// `IA_ERR_IO` when the dataset or the checkpoint cannot be read or the model cannot be
/// written; `IA_ERR_UNSUPPORTED` for a CUDA device LibTorch does not see, and in a build
/// without the emulator (whatever the arguments); `IA_ERR_OUT_OF_MEMORY` when training would
/// exceed the memory budget or LibTorch cannot allocate; `IA_ERR_INTERNAL` for another LibTorch
/// failure.
///
/// Threads: runs on the calling thread, which also calls `progress`. Each epoch holds the
/// process-wide lock of Monte Carlo predictions, so Monte Carlo calls of `ia_predict_batch` on
/// other threads wait between epochs.
///
/// # Safety
/// `config_json` NULL or a NUL-terminated string; `data_dir` and `out_path` NULL or
/// NUL-terminated strings; `progress` NULL or a function safe to call with `user_data`;
/// `user_data` any value, passed to `progress` unchanged and never dereferenced by the library.
#[no_mangle]
pub unsafe extern "C" fn ia_train(
    config_json: *const c_char,
    data_dir: *const c_char,
    out_path: *const c_char,
    progress: IaTrainProgress,
    user_data: *mut c_void,
) -> c_int {
    guard("ia_train", || {
        #[cfg(not(feature = "emulator"))]
        {
            let _ = (config_json, data_dir, out_path, progress, user_data);
            Err(unsupported())
        }
        #[cfg(feature = "emulator")]
        {
            use crate::emulator::{Config, Control};
            let config = if config_json.is_null() {
                Config::default()
            } else {
                // SAFETY: checked non-NULL; the caller promises a NUL-terminated string.
                let text = unsafe { std::ffi::CStr::from_ptr(config_json) }
                    .to_str()
                    .map_err(|_| Error::invalid("config_json is not valid UTF-8"))?;
                Config::from_json(text)?
            };
            let data = crate::dataset::Data::load(&path_arg(data_dir, "data_dir")?)?;
            let out = path_arg(out_path, "out_path")?;
            crate::emulator::train(&config, &data, &out, false, &mut |e| {
                let Some(f) = progress else {
                    return Control::Continue;
                };
                let epoch = IaTrainEpoch {
                    epoch: e.epoch,
                    max_epochs: e.max_epochs,
                    train_loss: e.train_loss,
                    validation_loss: e.validation_loss,
                    best_validation_loss: e.best_validation_loss,
                    best_epoch: e.best_epoch,
                    learning_rate: e.lr,
                    seconds: e.seconds,
                    eta_seconds: e.eta_seconds,
                    resumed: e.resumed as c_int,
                };
                // SAFETY: the caller promises `progress` may be called with `user_data`.
                if unsafe { f(&epoch, user_data) } != 0 {
                    Control::Stop
                } else {
                    Control::Continue
                }
            })?;
            Ok(())
        }
    })
}
