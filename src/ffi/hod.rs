//! C entry points for galaxies in halos: populate a catalogue, read the galaxies, simulate.

use super::{guard, handles, non_null, slice, slice_mut};
use crate::error::{Error, Result};
use crate::halos::HaloCatalog;
use crate::hod::{
    self, GalaxyCatalog, HodParams, PopulateOptions, SatelliteModel, SimulateOptions,
};
use std::ffi::c_int;

use super::corr::{edges_from_c, xi_normalization_from_c, IA_XI_N_SQUARED};
use super::halos::{IaHalos, HALOS_KIND};

/// Galaxies made by `ia_populate`: an opaque handle; free it once with `ia_galaxies_free`.
///
/// Threads: immutable, so several threads may read one handle at once. Freeing it while another
/// thread is inside a call with it is safe: the object lives until that call returns.
pub struct IaGalaxies {
    _private: [u8; 0],
}

const GALAXIES_KIND: &str = "IaGalaxies";

/// Positions, n x 3, Mpc/h, in [0, L).
pub const IA_GAL_POSITIONS: c_int = 0;
/// Velocities, n x 3, km/s.
pub const IA_GAL_VELOCITIES: c_int = 1;
/// Unit major axes, n x 3.
pub const IA_GAL_ORIENTATIONS: c_int = 2;

/// Satellites on subhalos when the catalogue has them, else NFW (the default).
pub const IA_SATELLITES_AUTO: c_int = 0;
/// Satellites on subhalos ranked by mpeak.
pub const IA_SATELLITES_SUBHALOS: c_int = 1;
/// Satellites NFW-distributed inside rvir.
pub const IA_SATELLITES_NFW: c_int = 2;

/// Settings of `ia_simulate`. Fill with `ia_simulate_options_default`, then change fields.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IaSimulateOptions {
    /// Bin edges, Mpc/h; NULL for the 20 default bins. Read during the call only.
    pub r_edges: *const f64,
    /// Number of edges (bins + 1); ignored when `r_edges` is NULL.
    pub n_edges: usize,
    /// `IA_XI_N_SQUARED` (default) or `IA_XI_N_N_MINUS_1`.
    pub xi_normalization: c_int,
    /// `IA_SATELLITES_AUTO` (default), `IA_SATELLITES_SUBHALOS` or `IA_SATELLITES_NFW`.
    pub satellites: c_int,
    /// Non-zero: mean satellites times mean centrals (default 0).
    pub satellites_times_centrals: c_int,
    /// Hosts take galaxies above this many particle masses (default 300).
    pub min_host_particles: f64,
    /// Threads for this call; 0 for the default.
    pub n_threads: u32,
}

/// Writes the defaults of `ia_simulate` into `*out_options`.
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL `out_options`.
///
/// Threads: any thread; writes only `*out_options`.
///
/// # Safety
/// `out_options` NULL or writable memory for one `IaSimulateOptions`.
#[no_mangle]
pub unsafe extern "C" fn ia_simulate_options_default(out_options: *mut IaSimulateOptions) -> c_int {
    guard("ia_simulate_options_default", || {
        non_null(out_options, "out_options")?;
        let d = PopulateOptions::default();
        let o = IaSimulateOptions {
            r_edges: std::ptr::null(),
            n_edges: 0,
            xi_normalization: IA_XI_N_SQUARED,
            satellites: IA_SATELLITES_AUTO,
            satellites_times_centrals: 0,
            min_host_particles: d.min_host_particles,
            n_threads: 0,
        };
        // SAFETY: checked non-NULL.
        unsafe { out_options.write(o) };
        Ok(())
    })
}

/// `options.satellites`.
pub(super) fn satellites_from_c(v: c_int) -> Result<SatelliteModel> {
    match v {
        IA_SATELLITES_AUTO => Ok(SatelliteModel::Auto),
        IA_SATELLITES_SUBHALOS => Ok(SatelliteModel::Subhalos),
        IA_SATELLITES_NFW => Ok(SatelliteModel::Nfw),
        v => Err(Error::invalid(format!("options.satellites: unknown value {v}"))),
    }
}

unsafe fn params_arg(params: *const f64) -> Result<HodParams> {
    // SAFETY: the caller promises 7 readable doubles.
    let v = unsafe { slice(params, 7, "params")? };
    HodParams::from_array(std::array::from_fn(|i| v[i]))
}

unsafe fn simulate_options(o: *const IaSimulateOptions) -> Result<SimulateOptions> {
    if o.is_null() {
        return Ok(SimulateOptions::default());
    }
    // SAFETY: checked non-NULL; validity promised by the caller.
    let o = unsafe { *o };
    // SAFETY: the caller promises n_edges readable doubles.
    let r_edges = unsafe { edges_from_c(o.r_edges, o.n_edges)? };
    let xi_normalization = xi_normalization_from_c(o.xi_normalization)?;
    let satellites = satellites_from_c(o.satellites)?;
    Ok(SimulateOptions {
        r_edges,
        xi_normalization,
        populate: PopulateOptions {
            satellites,
            satellites_times_centrals: o.satellites_times_centrals != 0,
            min_host_particles: o.min_host_particles,
        },
        keep_realizations: false,
        threads: (o.n_threads != 0).then_some(o.n_threads as usize),
    })
}

/// Puts galaxies into the hosts of `halos` for the 7 parameters `params` (order mu_cen, mu_sat,
/// logMmin, sigma_logM, logM0, logM1, alpha) with default options; the same `seed` gives the
/// same galaxies on any thread count. On success `*out_galaxies` receives a new handle.
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL `params` or `out_galaxies`, a NULL,
/// freed, forged or wrong-kind `halos`, invalid parameters (not finite, |mu_cen| or |mu_sat|
/// above 1, sigma_logM <= 0), or a model point that puts fewer than 2 galaxies in the
/// catalogue, or a bad `IAEMU_NUM_THREADS`; `IA_ERR_INTERNAL` when the threads cannot be
/// started.
///
/// Threads: any thread; several threads may populate one `IaHalos` at once. The work runs on
/// the default thread count (`ia_set_num_threads`), and the galaxies do not depend on it.
///
/// # Safety
/// `halos` NULL or any value (a handle is looked up, never dereferenced); `params` NULL or 7
/// readable doubles; `out_galaxies` NULL or one writable `IaGalaxies *`.
#[no_mangle]
pub unsafe extern "C" fn ia_populate(
    halos: *const IaHalos,
    params: *const f64,
    seed: u64,
    out_galaxies: *mut *mut IaGalaxies,
) -> c_int {
    guard("ia_populate", || {
        non_null(out_galaxies, "out_galaxies")?;
        let cat = handles::get::<HaloCatalog, IaHalos>(halos, HALOS_KIND)?;
        // SAFETY: forwarded caller promise.
        let p = unsafe { params_arg(params)? };
        let g = crate::threads::install(None, || hod::populate(&cat, &p, seed, &PopulateOptions::default()))??;
        let handle = handles::register::<GalaxyCatalog, IaGalaxies>(g, GALAXIES_KIND)?;
        // SAFETY: checked non-NULL.
        unsafe { out_galaxies.write(handle) };
        Ok(())
    })
}

/// Number of galaxies, into `*out_n`.
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL `out_n` or a NULL, freed, forged or
/// wrong-kind `galaxies`.
///
/// Threads: any thread; an `IaGalaxies` is immutable, so several threads may read `galaxies` at
/// once.
///
/// # Safety
/// `galaxies` NULL or any value (a handle is looked up, never dereferenced); `out_n` NULL or
/// one writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn ia_galaxies_count(
    galaxies: *const IaGalaxies,
    out_n: *mut usize,
) -> c_int {
    guard("ia_galaxies_count", || {
        non_null(out_n, "out_n")?;
        let g = handles::get::<GalaxyCatalog, IaGalaxies>(galaxies, GALAXIES_KIND)?;
        // SAFETY: checked non-NULL.
        unsafe { out_n.write(g.len()) };
        Ok(())
    })
}

/// Copies `IA_GAL_POSITIONS`, `IA_GAL_VELOCITIES` or `IA_GAL_ORIENTATIONS` (n x 3, row-major)
/// into `out`, which holds `len` = 3 n doubles.
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL, freed, forged or wrong-kind
/// `galaxies`, an unknown `quantity`, `len` other than 3 n, or a NULL `out`.
///
/// Threads: any thread; an `IaGalaxies` is immutable, so several threads may read `galaxies` at
/// once.
///
/// # Safety
/// `galaxies` NULL or any value (a handle is looked up, never dereferenced); `out` NULL or
/// `len` writable doubles.
#[no_mangle]
pub unsafe extern "C" fn ia_galaxies_get(
    galaxies: *const IaGalaxies,
    quantity: c_int,
    out: *mut f64,
    len: usize,
) -> c_int {
    guard("ia_galaxies_get", || {
        let g = handles::get::<GalaxyCatalog, IaGalaxies>(galaxies, GALAXIES_KIND)?;
        let rows = match quantity {
            IA_GAL_POSITIONS => &g.positions,
            IA_GAL_VELOCITIES => &g.velocities,
            IA_GAL_ORIENTATIONS => &g.orientations,
            v => return Err(Error::invalid(format!("unknown quantity {v}"))),
        };
        if len != 3 * g.len() {
            return Err(Error::invalid(format!(
                "len = {len} but {} galaxies need {}",
                g.len(),
                3 * g.len()
            )));
        }
        // SAFETY: the caller promises len writable doubles.
        let out = unsafe { slice_mut(out, len, "out")? };
        for (o, r) in out.chunks_exact_mut(3).zip(rows.iter()) {
            o.copy_from_slice(r);
        }
        Ok(())
    })
}

/// Writes 1 for centrals and 0 for satellites into `out` (`n` values, the galaxy count), and
/// each galaxy's host `halo_id` into `out_host_id` (optional: NULL when not wanted).
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL, freed, forged or wrong-kind
/// `galaxies`, `n` other than the galaxy count, or a NULL `out`.
///
/// Threads: any thread; an `IaGalaxies` is immutable, so several threads may read `galaxies` at
/// once.
///
/// # Safety
/// `galaxies` NULL or any value (a handle is looked up, never dereferenced); `out` NULL or `n`
/// writable bytes; `out_host_id` NULL or `n` writable `int64_t`.
#[no_mangle]
pub unsafe extern "C" fn ia_galaxies_kind(
    galaxies: *const IaGalaxies,
    out: *mut u8,
    out_host_id: *mut i64,
    n: usize,
) -> c_int {
    guard("ia_galaxies_kind", || {
        let g = handles::get::<GalaxyCatalog, IaGalaxies>(galaxies, GALAXIES_KIND)?;
        if n != g.len() {
            return Err(Error::invalid(format!(
                "n = {n} but there are {} galaxies",
                g.len()
            )));
        }
        // SAFETY: the caller promises n writable bytes (and int64_t when non-NULL).
        let flags = unsafe { slice_mut(out, n, "out")? };
        let ids = if out_host_id.is_null() {
            None
        } else {
            Some(unsafe { slice_mut(out_host_id, n, "out_host_id")? })
        };
        for (f, &c) in flags.iter_mut().zip(&g.is_central) {
            *f = c as u8;
        }
        if let Some(ids) = ids {
            ids.copy_from_slice(&g.host_id);
        }
        Ok(())
    })
}

/// Frees galaxies.
///
/// Status: `IA_OK`, also for NULL: freeing NULL is a no-op; `IA_ERR_INVALID_ARGUMENT` for a
/// handle already freed, forged (not made by iaemu) or of another kind (which is left as it
/// was).
///
/// Threads: any thread. Freeing a handle in use is safe: while another thread is inside a call
/// with `galaxies`, the catalogue lives until that call returns; calls made after the free get
/// `IA_ERR_INVALID_ARGUMENT`.
///
/// # Safety
/// `galaxies` NULL or any value: it is looked up in the registry, never dereferenced.
#[no_mangle]
pub extern "C" fn ia_galaxies_free(galaxies: *mut IaGalaxies) -> c_int {
    guard("ia_galaxies_free", || {
        handles::release(galaxies, GALAXIES_KIND)
    })
}

/// Populates `halos` `n_realizations` times for `params` (as in `ia_populate`) and measures xi,
/// omega and eta each time. Writes the mean over realisations into `out_mean` and the variance
/// (divisor R - 1; NaN when R = 1) into `out_var`, each `3 x n_bins` row-major (rows xi, omega,
/// eta), so `out_len` must be 3 n_bins (60 with the default bins). `options` is optional (NULL:
/// the defaults). The result depends only on (`seed`, `params`, options).
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL, freed, forged or wrong-kind `halos`,
/// a NULL `params`, `out_mean` or `out_var`, invalid parameters (as `ia_populate`),
/// `n_realizations` 0, bad options (edges as in `ia_correlate`, with r_max below half the box;
/// an unknown `xi_normalization` or `satellites`; `min_host_particles` not finite and >= 0;
/// `n_threads` above 1024), `out_len` other than 3 n_bins, a realisation with fewer than 2
/// galaxies, or a bad `IAEMU_NUM_THREADS` or `IAEMU_ISA`; `IA_ERR_UNSUPPORTED` when `IAEMU_ISA`
/// names an instruction set this CPU does not run; `IA_ERR_OUT_OF_MEMORY` when the
/// realisations' galaxy counts (8 bytes each) exceed the memory budget; `IA_ERR_INTERNAL` when
/// the threads cannot be started.
///
/// Threads: any thread; several threads may simulate one `IaHalos` at once. The work runs on
/// `options->n_threads` threads (0: the default), and the numbers do not depend on their count.
///
/// # Safety
/// `halos` NULL or any value (a handle is looked up, never dereferenced); `params` NULL or 7
/// readable doubles; `options` NULL or one readable `IaSimulateOptions`, whose `r_edges` is
/// NULL or `n_edges` readable doubles; `out_mean` and `out_var` NULL or `out_len` writable
/// doubles each.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn ia_simulate(
    halos: *const IaHalos,
    params: *const f64,
    n_realizations: u32,
    seed: u64,
    options: *const IaSimulateOptions,
    out_mean: *mut f64,
    out_var: *mut f64,
    out_len: usize,
) -> c_int {
    guard("ia_simulate", || {
        let cat = handles::get::<HaloCatalog, IaHalos>(halos, HALOS_KIND)?;
        // SAFETY (all): forwarded caller promises.
        let p = unsafe { params_arg(params)? };
        let opts = unsafe { simulate_options(options)? };
        let nb = opts.r_edges.len().saturating_sub(1);
        if out_len != 3 * nb {
            return Err(Error::invalid(format!(
                "out_len = {out_len} but {nb} bins need {}",
                3 * nb
            )));
        }
        let mean = unsafe { slice_mut(out_mean, out_len, "out_mean")? };
        let var = unsafe { slice_mut(out_var, out_len, "out_var")? };
        let s = hod::simulate(&cat, &p, n_realizations as usize, seed, &opts)?;
        for (k, (m, v)) in [
            (&s.xi, &s.xi_var),
            (&s.omega, &s.omega_var),
            (&s.eta, &s.eta_var),
        ]
        .into_iter()
        .enumerate()
        {
            mean[k * nb..(k + 1) * nb].copy_from_slice(m);
            var[k * nb..(k + 1) * nb].copy_from_slice(v);
        }
        Ok(())
    })
}
