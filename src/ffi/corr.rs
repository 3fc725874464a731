//! C entry points of the correlation engine.

use super::{guard, handles, non_null, slice, slice_mut};
use crate::corr::{self, Correlation, CorrelationOptions, Galaxies, XiNormalization};
use crate::error::{Error, Result};
use std::ffi::c_int;

/// xi normalised by N^2 (halotools; the default).
pub const IA_XI_N_SQUARED: c_int = 0;
/// xi normalised by N(N-1) (Corrfunc); auto-correlations only.
pub const IA_XI_N_N_MINUS_1: c_int = 1;

/// Settings of `ia_correlate`. Fill with `ia_corr_options_default`, then change fields.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IaCorrOptions {
    /// Periodic box side lengths (Lx, Ly, Lz), Mpc/h; each must exceed 2 r_max.
    pub box_size: [f64; 3],
    /// Bin edges, Mpc/h, increasing and positive; NULL for the 20 default bins
    /// (0.1 to 16 Mpc/h, logarithmic). The array is read during the call only.
    pub r_edges: *const f64,
    /// Number of edges (bins + 1); ignored when `r_edges` is NULL.
    pub n_edges: usize,
    /// `IA_XI_N_SQUARED` or `IA_XI_N_N_MINUS_1`.
    pub xi_normalization: c_int,
    /// Jackknife sub-volumes per side (n^3 samples), 0 for none, else 2 to 32.
    pub jackknife_side: u32,
    /// Non-zero: also compute the jackknife covariance (needs `jackknife_side`).
    pub covariance: c_int,
    /// Threads for this call; 0 for the default (see `ia_set_num_threads`).
    pub n_threads: u32,
}

/// Result of `ia_correlate` and `ia_cross_correlate`: an opaque handle; free it once with
/// `ia_corr_result_free`.
///
/// Threads: immutable once made, so several threads may read one result at once. Freeing it
/// while another thread is inside a call with it is safe: the object lives until that call
/// returns.
pub struct IaCorrResult {
    _private: [u8; 0],
}

const RESULT_KIND: &str = "IaCorrResult";

/// Bin edges, `n_bins + 1` values.
pub const IA_CORR_R_EDGES: c_int = 0;
/// Bin centres (arithmetic mean of the edges), `n_bins` values.
pub const IA_CORR_R_MID: c_int = 1;
/// xi per bin.
pub const IA_CORR_XI: c_int = 2;
/// omega per bin (NaN for empty bins or without orientations).
pub const IA_CORR_OMEGA: c_int = 3;
/// eta per bin (NaN for empty bins or without orientations).
pub const IA_CORR_ETA: c_int = 4;
/// Sum of w_i w_j over ordered pairs per bin (equal to the pair count without weights).
pub const IA_CORR_WEIGHTED_PAIRS: c_int = 5;
/// Jackknife variance of xi per bin.
pub const IA_CORR_XI_VAR: c_int = 6;
/// Jackknife variance of omega per bin.
pub const IA_CORR_OMEGA_VAR: c_int = 7;
/// Jackknife variance of eta per bin.
pub const IA_CORR_ETA_VAR: c_int = 8;
/// Jackknife covariance of (xi, omega, eta) concatenated, `(3 n_bins)^2` values, row-major.
pub const IA_CORR_COVARIANCE: c_int = 9;

/// Writes the defaults for a cubic box of side `box_size` Mpc/h into `*out_options`: default
/// bins, N^2 normalisation, no jackknife, default threads. `box_size` is not checked here
/// (`ia_correlate` checks it).
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL `out_options`.
///
/// Threads: any thread; writes only `*out_options`.
///
/// # Safety
/// `out_options` NULL or writable memory for one `IaCorrOptions`.
#[no_mangle]
pub unsafe extern "C" fn ia_corr_options_default(
    box_size: f64,
    out_options: *mut IaCorrOptions,
) -> c_int {
    guard("ia_corr_options_default", || {
        non_null(out_options, "out_options")?;
        let o = IaCorrOptions {
            box_size: [box_size; 3],
            r_edges: std::ptr::null(),
            n_edges: 0,
            xi_normalization: IA_XI_N_SQUARED,
            jackknife_side: 0,
            covariance: 0,
            n_threads: 0,
        };
        // SAFETY: checked non-NULL; validity promised by the caller.
        unsafe { out_options.write(o) };
        Ok(())
    })
}

/// `options.r_edges` (`n_edges` values), or the default bins for NULL.
///
/// # Safety
/// A non-NULL `r_edges` must point to `n_edges` readable doubles.
pub(super) unsafe fn edges_from_c(r_edges: *const f64, n_edges: usize) -> Result<Vec<f64>> {
    if r_edges.is_null() {
        Ok(corr::default_r_edges())
    } else {
        // SAFETY: forwarded caller promise.
        Ok(unsafe { slice(r_edges, n_edges, "options.r_edges")? }.to_vec())
    }
}

/// `options.xi_normalization`.
pub(super) fn xi_normalization_from_c(v: c_int) -> Result<XiNormalization> {
    match v {
        IA_XI_N_SQUARED => Ok(XiNormalization::NSquared),
        IA_XI_N_N_MINUS_1 => Ok(XiNormalization::NNMinusOne),
        v => Err(Error::invalid(format!(
            "options.xi_normalization must be IA_XI_N_SQUARED (0) or IA_XI_N_N_MINUS_1 (1), got {v}"
        ))),
    }
}

/// Converts and checks C options.
unsafe fn options_from_c(o: *const IaCorrOptions) -> Result<CorrelationOptions> {
    non_null(o, "options")?;
    // SAFETY: checked non-NULL; validity promised by the caller.
    let o = unsafe { *o };
    // SAFETY: the caller promises n_edges readable doubles.
    let r_edges = unsafe { edges_from_c(o.r_edges, o.n_edges)? };
    let xi_normalization = xi_normalization_from_c(o.xi_normalization)?;
    Ok(CorrelationOptions {
        r_edges,
        box_size: o.box_size,
        xi_normalization,
        jackknife: (o.jackknife_side != 0).then_some(o.jackknife_side as usize),
        covariance: o.covariance != 0,
        threads: (o.n_threads != 0).then_some(o.n_threads as usize),
    })
}

/// Borrows one sample's arrays.
unsafe fn galaxies_from_c<'a>(
    positions: *const f64,
    orientations: *const f64,
    weights: *const f64,
    n: usize,
    name: &str,
) -> Result<Galaxies<'a>> {
    let rows = n
        .checked_mul(3)
        .ok_or_else(|| Error::invalid(format!("{name}: {n} galaxies is too many")))?;
    // SAFETY (all three): the caller promises n x 3 (or n) readable doubles.
    let pos = unsafe { slice(positions, rows, &format!("{name} positions"))? };
    let ori = if orientations.is_null() {
        None
    } else {
        Some(unsafe { slice(orientations, rows, &format!("{name} orientations"))? })
    };
    let w = if weights.is_null() {
        None
    } else {
        Some(unsafe { slice(weights, n, &format!("{name} weights"))? })
    };
    Ok(Galaxies {
        positions: pos.as_chunks::<3>().0,
        orientations: ori.map(|o| o.as_chunks::<3>().0),
        weights: w,
    })
}

fn publish(result: Correlation, out_result: *mut *mut IaCorrResult) -> Result<()> {
    let handle = handles::register::<Correlation, IaCorrResult>(result, RESULT_KIND)?;
    // SAFETY: checked non-NULL by the caller of `publish`.
    unsafe { out_result.write(handle) };
    Ok(())
}

/// Auto-correlation of one sample: xi, omega and eta per bin.
///
/// `positions` is n x 3 (x, y, z in Mpc/h, row-major); positions outside [0, L) are wrapped.
/// `orientations` (optional) is n x 3 (any non-zero length, either sign), or NULL for xi alone;
/// `weights` (optional) has n values, or is NULL for unit weights. On success `*out_result`
/// receives a new handle.
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL `positions`, `options` or
/// `out_result`, fewer than 2 galaxies, an `n_galaxies` too large to address, a non-finite
/// position, orientation or weight, a position more than 1000 box lengths outside the box, a
/// zero orientation, weights whose sum is not positive, bad options (fewer than 2 edges, edges
/// not positive and increasing, r_max not below half of each box side, a box side not finite
/// and positive, an unknown `xi_normalization`, `jackknife_side` 1 or above 32, `covariance`
/// without a jackknife, `n_threads` above 1024), or a bad `IAEMU_NUM_THREADS` or `IAEMU_ISA`;
/// `IA_ERR_UNSUPPORTED` when `IAEMU_ISA` names an instruction set this CPU does not run;
/// `IA_ERR_OUT_OF_MEMORY` when the sample's prepared copy (128 bytes a galaxy) exceeds the
/// memory budget; `IA_ERR_INTERNAL` when the threads cannot be started.
///
/// Threads: any thread, several at once; the work runs on `options->n_threads` threads (0: the
/// default, `ia_set_num_threads`), and the numbers do not depend on their count. The arrays are
/// only read, and must not change during the call.
///
/// # Safety
/// `positions` NULL or 3 n readable doubles; `orientations` NULL or 3 n readable doubles;
/// `weights` NULL or n readable doubles; `options` NULL or one readable `IaCorrOptions`, whose
/// `r_edges` is NULL or `n_edges` readable doubles; `out_result` NULL or one writable
/// `IaCorrResult *`.
#[no_mangle]
pub unsafe extern "C" fn ia_correlate(
    positions: *const f64,
    orientations: *const f64,
    weights: *const f64,
    n_galaxies: usize,
    options: *const IaCorrOptions,
    out_result: *mut *mut IaCorrResult,
) -> c_int {
    guard("ia_correlate", || {
        non_null(out_result, "out_result")?;
        // SAFETY: forwarded caller promises.
        let options = unsafe { options_from_c(options)? };
        let g = unsafe { galaxies_from_c(positions, orientations, weights, n_galaxies, "sample")? };
        publish(corr::correlate(&g, &options, None)?, out_result)
    })
}

/// Cross-correlation of sample 1 (positions, orientations for omega) with sample 2 (positions,
/// orientations for eta): pairs (i in 1, j in 2). Arrays as in `ia_correlate`, orientations and
/// weights optional for each sample.
///
/// Status: the codes of `ia_correlate`, for the same causes in either sample (`IA_OK`,
/// `IA_ERR_INVALID_ARGUMENT`, `IA_ERR_UNSUPPORTED`, `IA_ERR_OUT_OF_MEMORY`, `IA_ERR_INTERNAL`),
/// except that each sample
/// needs at least 1 galaxy; `IA_XI_N_N_MINUS_1` is also `IA_ERR_INVALID_ARGUMENT`
/// (auto-correlations only).
///
/// Threads: as `ia_correlate`: any thread, several at once, on `options->n_threads` threads;
/// the arrays must not change during the call.
///
/// # Safety
/// As `ia_correlate`, for both samples: `positions1` and `orientations1` NULL or 3 n1 readable
/// doubles each, `weights1` NULL or n1; `positions2` and `orientations2` NULL or 3 n2 readable
/// doubles each, `weights2` NULL or n2; `options` NULL or one readable `IaCorrOptions` (with
/// its `r_edges` as in `ia_correlate`); `out_result` NULL or one writable `IaCorrResult *`.
#[no_mangle]
pub unsafe extern "C" fn ia_cross_correlate(
    positions1: *const f64,
    orientations1: *const f64,
    weights1: *const f64,
    n_galaxies1: usize,
    positions2: *const f64,
    orientations2: *const f64,
    weights2: *const f64,
    n_galaxies2: usize,
    options: *const IaCorrOptions,
    out_result: *mut *mut IaCorrResult,
) -> c_int {
    guard("ia_cross_correlate", || {
        non_null(out_result, "out_result")?;
        // SAFETY: forwarded caller promises.
        let options = unsafe { options_from_c(options)? };
        let g1 = unsafe {
            galaxies_from_c(positions1, orientations1, weights1, n_galaxies1, "sample 1")?
        };
        let g2 = unsafe {
            galaxies_from_c(positions2, orientations2, weights2, n_galaxies2, "sample 2")?
        };
        publish(corr::cross_correlate(&g1, &g2, &options, None)?, out_result)
    })
}

/// Number of bins of a result, into `*out_n_bins`.
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL `out_n_bins` or a NULL, freed, forged
/// or wrong-kind `result`.
///
/// Threads: any thread; an `IaCorrResult` is immutable, so several threads may read `result` at
/// once.
///
/// # Safety
/// `result` NULL or any value (a handle is looked up, never dereferenced); `out_n_bins` NULL or
/// one writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn ia_corr_result_n_bins(
    result: *const IaCorrResult,
    out_n_bins: *mut usize,
) -> c_int {
    guard("ia_corr_result_n_bins", || {
        non_null(out_n_bins, "out_n_bins")?;
        let r = handles::get::<Correlation, _>(result, RESULT_KIND)?;
        // SAFETY: checked non-NULL.
        unsafe { out_n_bins.write(r.xi.len()) };
        Ok(())
    })
}

/// Copies one quantity (`IA_CORR_*`) of a result into `out`, which must hold exactly the
/// quantity's length (`n_bins`, `n_bins + 1` for edges, `(3 n_bins)^2` for the covariance).
/// Jackknife quantities need a result made with a jackknife (and covariance).
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL, freed, forged or wrong-kind `result`,
/// an unknown `quantity`, a jackknife quantity of a result without a jackknife (the covariance:
/// without `covariance`), `len` other than the quantity's length, or a NULL `out`.
///
/// Threads: any thread; an `IaCorrResult` is immutable, so several threads may read `result` at
/// once.
///
/// # Safety
/// `result` NULL or any value (a handle is looked up, never dereferenced); `out` NULL or `len`
/// writable doubles.
#[no_mangle]
pub unsafe extern "C" fn ia_corr_result_get(
    result: *const IaCorrResult,
    quantity: c_int,
    out: *mut f64,
    len: usize,
) -> c_int {
    guard("ia_corr_result_get", || {
        let r = handles::get::<Correlation, _>(result, RESULT_KIND)?;
        let jk = || {
            r.jackknife
                .as_ref()
                .ok_or_else(|| Error::invalid("this result has no jackknife (set jackknife_side)"))
        };
        let weighted: Vec<f64>;
        let values: &[f64] = match quantity {
            IA_CORR_R_EDGES => &r.r_edges,
            IA_CORR_R_MID => &r.r_mid,
            IA_CORR_XI => &r.xi,
            IA_CORR_OMEGA => &r.omega,
            IA_CORR_ETA => &r.eta,
            IA_CORR_WEIGHTED_PAIRS => match &r.weighted_pairs {
                Some(w) => w,
                None => {
                    weighted = r.pairs.iter().map(|&p| p as f64).collect();
                    &weighted
                }
            },
            IA_CORR_XI_VAR => &jk()?.xi_var,
            IA_CORR_OMEGA_VAR => &jk()?.omega_var,
            IA_CORR_ETA_VAR => &jk()?.eta_var,
            IA_CORR_COVARIANCE => jk()?
                .covariance
                .as_deref()
                .ok_or_else(|| Error::invalid("this result has no covariance (set covariance)"))?,
            q => {
                return Err(Error::invalid(format!(
                    "unknown quantity {q} (see IA_CORR_*)"
                )))
            }
        };
        if len != values.len() {
            return Err(Error::invalid(format!(
                "len = {len}, but quantity {quantity} has {} values",
                values.len()
            )));
        }
        // SAFETY: the caller promises len writable doubles.
        unsafe { slice_mut(out, len, "out")? }.copy_from_slice(values);
        Ok(())
    })
}

/// Copies the ordered pair counts per bin (exact integers) into `out` (`n_bins` values).
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL, freed, forged or wrong-kind `result`,
/// `len` other than `n_bins`, or a NULL `out`.
///
/// Threads: any thread; an `IaCorrResult` is immutable, so several threads may read `result` at
/// once.
///
/// # Safety
/// `result` NULL or any value (a handle is looked up, never dereferenced); `out` NULL or `len`
/// writable `uint64_t`.
#[no_mangle]
pub unsafe extern "C" fn ia_corr_result_pairs(
    result: *const IaCorrResult,
    out: *mut u64,
    len: usize,
) -> c_int {
    guard("ia_corr_result_pairs", || {
        let r = handles::get::<Correlation, _>(result, RESULT_KIND)?;
        if len != r.pairs.len() {
            return Err(Error::invalid(format!(
                "len = {len}, but the result has {} bins",
                r.pairs.len()
            )));
        }
        // SAFETY: the caller promises len writable values.
        unsafe { slice_mut(out, len, "out")? }.copy_from_slice(&r.pairs);
        Ok(())
    })
}

/// Frees a result.
///
/// Status: `IA_OK`, also for NULL: freeing NULL is a no-op; `IA_ERR_INVALID_ARGUMENT` for a
/// handle already freed, forged (not made by iaemu) or of another kind (which is left as it
/// was).
///
/// Threads: any thread. Freeing a handle in use is safe: while another thread is inside a call
/// with `result`, the result lives until that call returns; calls made after the free get
/// `IA_ERR_INVALID_ARGUMENT`.
///
/// # Safety
/// `result` NULL or any value: it is looked up in the registry, never dereferenced.
#[no_mangle]
pub extern "C" fn ia_corr_result_free(result: *mut IaCorrResult) -> c_int {
    guard("ia_corr_result_free", || {
        handles::release(result, RESULT_KIND)
    })
}
