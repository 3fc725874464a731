//! C entry points for expected correlations: tables of a halo catalogue (build, load, save,
//! free) and the expected xi, omega and eta of model points, their Jacobian and their parts.

use super::corr::{edges_from_c, xi_normalization_from_c, IA_XI_N_SQUARED};
use super::halos::{IaHalos, HALOS_KIND};
use super::hod::{satellites_from_c, IA_SATELLITES_AUTO};
use super::{guard, handles, non_null, path_arg, slice, slice_mut};
use crate::error::{Error, Result};
use crate::expect::{default_table_options, ExpectOptions, Expectation, Table, TableOptions};
use crate::halos::HaloCatalog;
use crate::hod::HodParams;
use std::ffi::{c_char, c_int};

/// A table of a halo catalogue's pair sums (`ia_table_build`, `ia_table_load`): an opaque
/// handle; free it once with `ia_table_free`.
///
/// Threads: immutable, so several threads may evaluate one table at once. Freeing it while
/// another thread is inside a call with it is safe: the table lives until that call returns.
pub struct IaTable {
    _private: [u8; 0],
}

const TABLE_KIND: &str = "IaTable";

/// Parts of `ia_expect_parts`, in this order: centrals of different hosts, a central and a
/// satellite of its host, of another host, two satellites of one host, of different hosts.
pub const IA_PART_CEN_CEN_2H: c_int = 0;
pub const IA_PART_CEN_SAT_1H: c_int = 1;
pub const IA_PART_CEN_SAT_2H: c_int = 2;
pub const IA_PART_SAT_SAT_1H: c_int = 3;
pub const IA_PART_SAT_SAT_2H: c_int = 4;
/// Number of parts.
pub const IA_N_PARTS: usize = 5;

/// Settings of `ia_table_build`. Fill with `ia_table_options_default`, then change fields.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IaTableOptions {
    /// Bin edges, Mpc/h; NULL for the 20 default bins. Read during the call only.
    pub r_edges: *const f64,
    /// Number of edges (bins + 1); ignored when `r_edges` is NULL.
    pub n_edges: usize,
    /// `IA_SATELLITES_AUTO` (default), `IA_SATELLITES_SUBHALOS` or `IA_SATELLITES_NFW`.
    pub satellites: c_int,
    /// Hosts take galaxies above this many particle masses (default 300).
    pub min_host_particles: f64,
    /// Width of the host-mass bins, dex (default 0.2; 0.01 to 1).
    pub mass_bin_dex: f64,
    /// Draws of borrowed subhalo offsets per host-mass bin (default 2^21).
    pub draws_per_mass_bin: u64,
    /// Random satellite positions per host in the 2-halo sums, at least (default 2).
    pub tracers_two_halo: u32,
    /// Seed of the random positions (default 1).
    pub seed: u64,
    /// Threads for this call; 0 for the default.
    pub n_threads: u32,
}

/// Settings of the `ia_expect_*` functions. Fill with `ia_expect_options_default`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IaExpectOptions {
    /// `IA_XI_N_SQUARED` (default) or `IA_XI_N_N_MINUS_1`.
    pub xi_normalization: c_int,
    /// Non-zero: mean satellites times mean centrals (default 0).
    pub satellites_times_centrals: c_int,
    /// Threads for this call; 0 for the default.
    pub n_threads: u32,
}

/// What a table holds (`ia_table_info`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IaTableInfo {
    /// Radial bins.
    pub n_bins: usize,
    /// `IA_SATELLITES_SUBHALOS` or `IA_SATELLITES_NFW`.
    pub satellites: c_int,
    /// Hosts that take galaxies, and their subhalos.
    pub n_hosts: usize,
    pub n_subhalos: usize,
    /// Box sides, Mpc/h.
    pub box_size: [f64; 3],
    /// Bytes the table holds.
    pub size_bytes: usize,
}

/// Writes the defaults of `ia_table_build` into `*out_options`.
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL `out_options`.
///
/// Threads: any thread; writes only `*out_options`.
///
/// # Safety
/// `out_options` NULL or writable memory for one `IaTableOptions`.
#[no_mangle]
pub unsafe extern "C" fn ia_table_options_default(out_options: *mut IaTableOptions) -> c_int {
    guard("ia_table_options_default", || {
        non_null(out_options, "out_options")?;
        let d = default_table_options();
        let o = IaTableOptions {
            r_edges: std::ptr::null(),
            n_edges: 0,
            satellites: IA_SATELLITES_AUTO,
            min_host_particles: d.min_host_particles,
            mass_bin_dex: d.mass_bin_dex,
            draws_per_mass_bin: d.draws_per_mass_bin,
            tracers_two_halo: d.tracers_two_halo as u32,
            seed: d.seed,
            n_threads: 0,
        };
        // SAFETY: checked non-NULL.
        unsafe { out_options.write(o) };
        Ok(())
    })
}

/// Writes the defaults of the `ia_expect_*` functions into `*out_options`.
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL `out_options`.
///
/// Threads: any thread; writes only `*out_options`.
///
/// # Safety
/// `out_options` NULL or writable memory for one `IaExpectOptions`.
#[no_mangle]
pub unsafe extern "C" fn ia_expect_options_default(out_options: *mut IaExpectOptions) -> c_int {
    guard("ia_expect_options_default", || {
        non_null(out_options, "out_options")?;
        // SAFETY: checked non-NULL.
        unsafe {
            out_options.write(IaExpectOptions {
                xi_normalization: IA_XI_N_SQUARED,
                satellites_times_centrals: 0,
                n_threads: 0,
            })
        };
        Ok(())
    })
}

unsafe fn table_options(o: *const IaTableOptions) -> Result<TableOptions> {
    if o.is_null() {
        return Ok(default_table_options());
    }
    // SAFETY: checked non-NULL; validity promised by the caller.
    let o = unsafe { *o };
    Ok(TableOptions {
        // SAFETY: the caller promises n_edges readable doubles.
        r_edges: unsafe { edges_from_c(o.r_edges, o.n_edges)? },
        satellites: satellites_from_c(o.satellites)?,
        min_host_particles: o.min_host_particles,
        mass_bin_dex: o.mass_bin_dex,
        draws_per_mass_bin: o.draws_per_mass_bin,
        tracers_two_halo: o.tracers_two_halo as usize,
        seed: o.seed,
        threads: (o.n_threads != 0).then_some(o.n_threads as usize),
    })
}

unsafe fn expect_options(o: *const IaExpectOptions) -> Result<(ExpectOptions, Option<usize>)> {
    if o.is_null() {
        return Ok((ExpectOptions::default(), None));
    }
    // SAFETY: checked non-NULL; validity promised by the caller.
    let o = unsafe { *o };
    Ok((
        ExpectOptions {
            xi_normalization: xi_normalization_from_c(o.xi_normalization)?,
            satellites_times_centrals: o.satellites_times_centrals != 0,
        },
        (o.n_threads != 0).then_some(o.n_threads as usize),
    ))
}

/// Tabulates `halos` for the options (NULL: the defaults; see `ia_table_options_default`).
/// On success `*out_table` receives a new handle. Takes seconds to minutes (about a minute
/// for 1.5 million hosts on 2 cores).
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL `out_table`, a NULL, freed, forged or
/// wrong-kind `halos`, invalid options (bin edges not increasing or not fitting the box, an
/// unknown satellite model, mass_bin_dex outside [0.01, 1], draws_per_mass_bin outside
/// [1024, 2^30], tracers_two_halo outside [1, 64], min_host_particles negative or not finite,
/// n_threads above 1024), no host above the mass cut, or a bad `IAEMU_NUM_THREADS`;
/// `IA_ERR_OUT_OF_MEMORY` when the table or its working arrays would exceed the memory budget
/// (refused before the work starts); `IA_ERR_INTERNAL` when the threads cannot be started.
///
/// Threads: any thread; several threads may tabulate one `IaHalos` at once.
///
/// # Safety
/// `halos` NULL or any value (a handle is looked up, never dereferenced); `options` NULL or one
/// readable `IaTableOptions` whose `r_edges` is NULL or `n_edges` readable doubles;
/// `out_table` NULL or one writable `IaTable *`.
#[no_mangle]
pub unsafe extern "C" fn ia_table_build(
    halos: *const IaHalos,
    options: *const IaTableOptions,
    out_table: *mut *mut IaTable,
) -> c_int {
    guard("ia_table_build", || {
        non_null(out_table, "out_table")?;
        let cat = handles::get::<HaloCatalog, IaHalos>(halos, HALOS_KIND)?;
        // SAFETY: forwarded caller promise.
        let opts = unsafe { table_options(options)? };
        let table = Table::build(&cat, &opts, None)?;
        let h = handles::register::<Table, IaTable>(table, TABLE_KIND)?;
        // SAFETY: checked non-NULL.
        unsafe { out_table.write(h) };
        Ok(())
    })
}

/// Reads a table written by `ia_table_save` or `iaemu tabulate` (`.npz`). On success
/// `*out_table` receives a new handle.
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL or empty `path`, a `path` that is not
/// UTF-8, a NULL `out_table`, or a file that is not an iaemu table, is of another format
/// version or is corrupt (parts missing, of the wrong size, not finite); `IA_ERR_IO` for a file
/// that cannot be opened.
///
/// Threads: any thread.
///
/// # Safety
/// `path` NULL or a NUL-terminated string; `out_table` NULL or one writable `IaTable *`.
#[no_mangle]
pub unsafe extern "C" fn ia_table_load(path: *const c_char, out_table: *mut *mut IaTable) -> c_int {
    guard("ia_table_load", || {
        non_null(out_table, "out_table")?;
        let path = path_arg(path, "path")?;
        let table = Table::load(&path)?;
        let h = handles::register::<Table, IaTable>(table, TABLE_KIND)?;
        // SAFETY: checked non-NULL.
        unsafe { out_table.write(h) };
        Ok(())
    })
}

/// Writes `table` to `path` (`.npz`; written to a temporary file, then renamed).
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL, freed, forged or wrong-kind `table`,
/// or a NULL, empty, non-UTF-8 or non-`.npz` `path`; `IA_ERR_IO` for a missing folder or a
/// failed write.
///
/// Threads: any thread, also while other threads evaluate `table`.
///
/// # Safety
/// `table` NULL or any value (a handle is looked up, never dereferenced); `path` NULL or a
/// NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ia_table_save(table: *const IaTable, path: *const c_char) -> c_int {
    guard("ia_table_save", || {
        let t = handles::get::<Table, IaTable>(table, TABLE_KIND)?;
        let path = path_arg(path, "path")?;
        t.save(&path)
    })
}

/// Writes what `table` holds into `*out_info`.
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL, freed, forged or wrong-kind `table`,
/// or a NULL `out_info`.
///
/// Threads: any thread.
///
/// # Safety
/// `table` NULL or any value (a handle is looked up, never dereferenced); `out_info` NULL or
/// one writable `IaTableInfo`.
#[no_mangle]
pub unsafe extern "C" fn ia_table_info(table: *const IaTable, out_info: *mut IaTableInfo) -> c_int {
    guard("ia_table_info", || {
        non_null(out_info, "out_info")?;
        let t = handles::get::<Table, IaTable>(table, TABLE_KIND)?;
        let m = t.meta();
        let info = IaTableInfo {
            n_bins: t.n_bins(),
            satellites: match t.satellites() {
                crate::hod::SatelliteModel::Nfw => super::hod::IA_SATELLITES_NFW,
                _ => super::hod::IA_SATELLITES_SUBHALOS,
            },
            n_hosts: m.n_hosts,
            n_subhalos: m.n_subhalos,
            box_size: m.box_size,
            size_bytes: t.size_bytes(),
        };
        // SAFETY: checked non-NULL.
        unsafe { out_info.write(info) };
        Ok(())
    })
}

/// Writes the table's n_bins + 1 bin edges (Mpc/h) into `out`; `len` must be n_bins + 1.
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL, freed, forged or wrong-kind `table`,
/// `len` other than n_bins + 1, or a NULL `out`.
///
/// Threads: any thread.
///
/// # Safety
/// `table` NULL or any value (a handle is looked up, never dereferenced); `out` NULL or `len`
/// writable doubles.
#[no_mangle]
pub unsafe extern "C" fn ia_table_r_edges(table: *const IaTable, out: *mut f64, len: usize) -> c_int {
    guard("ia_table_r_edges", || {
        let t = handles::get::<Table, IaTable>(table, TABLE_KIND)?;
        let edges = t.r_edges();
        if len != edges.len() {
            return Err(Error::invalid(format!("len = {len}, the table has {} bin edges", edges.len())));
        }
        // SAFETY: forwarded caller promise.
        unsafe { slice_mut(out, len, "out")? }.copy_from_slice(edges);
        Ok(())
    })
}

/// Frees a table.
///
/// Status: `IA_OK`, also for NULL: freeing NULL is a no-op; `IA_ERR_INVALID_ARGUMENT` for a
/// handle already freed, forged (not made by iaemu) or of another kind (which is left as it
/// was).
///
/// Threads: any thread. Freeing a handle in use is safe: while another thread is inside a call
/// with `table`, the table lives until that call returns; calls made after the free get
/// `IA_ERR_INVALID_ARGUMENT`.
///
/// # Safety
/// `table` NULL or any value: it is looked up in the registry, never dereferenced.
#[no_mangle]
pub extern "C" fn ia_table_free(table: *mut IaTable) -> c_int {
    guard("ia_table_free", || handles::release(table, TABLE_KIND))
}

/// Evaluates `n` points (n x 7 row-major, `ia_param_name` order), all checked before any work;
/// returns the table and the results.
/// `out_len` is checked against `per_bin` values per bin and point before any work.
unsafe fn evaluate(
    table: *const IaTable,
    params: *const f64,
    n: usize,
    options: *const IaExpectOptions,
    jacobian: bool,
    (out_len, per_bin, name): (usize, usize, &str),
) -> Result<(std::sync::Arc<Table>, Vec<Expectation>)> {
    let t = handles::get::<Table, IaTable>(table, TABLE_KIND)?;
    if n == 0 {
        return Err(Error::invalid("n = 0: give at least one point"));
    }
    let want = n.saturating_mul(per_bin * t.n_bins());
    if out_len != want {
        return Err(Error::invalid(format!("{name}: out_len = {out_len}, the result has {want} values")));
    }
    let len = n.checked_mul(7).ok_or_else(|| Error::invalid(format!("n = {n} is too large")))?;
    // SAFETY: forwarded caller promise.
    let v = unsafe { slice(params, len, "params")? };
    let points = v
        .chunks_exact(7)
        .enumerate()
        .map(|(i, row)| {
            HodParams::from_array(std::array::from_fn(|k| row[k]))
                .map_err(|e| Error::invalid(format!("params row {i}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    // SAFETY: forwarded caller promise.
    let (opts, threads) = unsafe { expect_options(options)? };
    let out = t.expect_batch(&points, &opts, jacobian, threads)?;
    Ok((t, out))
}

/// Expected xi, omega and eta of `n` points (`params`: n x 7 row-major, `ia_param_name`
/// order) from `table`, with `options` (NULL: the defaults): `out_mean` gets n x 3 x n_bins
/// values row-major (rows xi, omega, eta; `out_len` must be that count); `out_n_galaxies`
/// (optional: NULL or n values) the expected galaxy numbers. Noise-free: the mean over
/// realisations of `ia_simulate` on the tabulated halos (each statistic the ratio of the
/// expected pair sums, docs/science.md section 11), checked before any work.
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL, freed, forged or wrong-kind `table`,
/// a NULL `params` or `out_mean`, `n` 0 or too large, `out_len` other than 3 n n_bins, an
/// invalid parameter (not finite, |mu_cen| or |mu_sat| above 1, sigma_logM <= 0; the message
/// names the row), a point with fewer than 2 galaxies on average or more than 10^6 satellites
/// on average in the heaviest hosts, an invalid `options` field (`n_threads` above 1024
/// included), or a bad `IAEMU_NUM_THREADS`; `IA_ERR_OUT_OF_MEMORY` when the results of n
/// points would exceed the memory budget; `IA_ERR_INTERNAL` when the threads cannot be
/// started.
///
/// Threads: any thread; several threads may evaluate one table at once.
///
/// # Safety
/// `table` NULL or any value (a handle is looked up, never dereferenced); `params` NULL or 7 n
/// readable doubles; `options` NULL or one readable `IaExpectOptions`; `out_mean` NULL or
/// `out_len` writable doubles; `out_n_galaxies` NULL or n writable doubles.
#[no_mangle]
pub unsafe extern "C" fn ia_expect_batch(
    table: *const IaTable,
    params: *const f64,
    n: usize,
    options: *const IaExpectOptions,
    out_mean: *mut f64,
    out_len: usize,
    out_n_galaxies: *mut f64,
) -> c_int {
    guard("ia_expect_batch", || {
        non_null(out_mean, "out_mean")?;
        // SAFETY (all): forwarded caller promises.
        let (t, r) = unsafe { evaluate(table, params, n, options, false, (out_len, 3, "out_mean"))? };
        let nb = t.n_bins();
        let mean = unsafe { slice_mut(out_mean, out_len, "out_mean")? };
        let counts = (!out_n_galaxies.is_null())
            .then(|| unsafe { slice_mut(out_n_galaxies, n, "out_n_galaxies") })
            .transpose()?;
        for (i, e) in r.iter().enumerate() {
            let row = &mut mean[i * 3 * nb..(i + 1) * 3 * nb];
            row[..nb].copy_from_slice(&e.xi);
            row[nb..2 * nb].copy_from_slice(&e.omega);
            row[2 * nb..].copy_from_slice(&e.eta);
        }
        if let Some(c) = counts {
            for (c, e) in c.iter_mut().zip(&r) {
                *c = e.n_galaxies;
            }
        }
        Ok(())
    })
}

/// The exact derivatives of the expected xi, omega and eta of `n` points with respect to the 7
/// parameters: `out_jacobian` gets n x 3 x n_bins x 7 values row-major (`out_len` must be that
/// count). NaN where a bin has no pairs (omega and eta).
///
/// Status: as `ia_expect_batch` (`IA_OK`; `IA_ERR_INVALID_ARGUMENT`, `IA_ERR_OUT_OF_MEMORY`
/// and `IA_ERR_INTERNAL` for the same causes), with `out_len` other than 21 n n_bins for
/// `out_jacobian`.
///
/// Threads: any thread; several threads may evaluate one table at once.
///
/// # Safety
/// `table` NULL or any value (a handle is looked up, never dereferenced); `params` NULL or 7 n
/// readable doubles; `options` NULL or one readable `IaExpectOptions`; `out_jacobian` NULL or
/// `out_len` writable doubles.
#[no_mangle]
pub unsafe extern "C" fn ia_expect_jacobian(
    table: *const IaTable,
    params: *const f64,
    n: usize,
    options: *const IaExpectOptions,
    out_jacobian: *mut f64,
    out_len: usize,
) -> c_int {
    guard("ia_expect_jacobian", || {
        non_null(out_jacobian, "out_jacobian")?;
        // SAFETY (all): forwarded caller promises.
        let (t, r) = unsafe { evaluate(table, params, n, options, true, (out_len, 21, "out_jacobian"))? };
        let per = 3 * t.n_bins() * 7;
        let out = unsafe { slice_mut(out_jacobian, out_len, "out_jacobian")? };
        for (i, e) in r.iter().enumerate() {
            let j = e.jacobian.as_ref().ok_or_else(|| Error::Internal("no Jacobian".into()))?;
            out[i * per..(i + 1) * per].copy_from_slice(j);
        }
        Ok(())
    })
}

/// The parts of the expected correlations of `n` points: `out_parts` gets n x 5 x 3 x n_bins
/// values row-major (`out_len` must be that count): per point, the parts in `IA_PART_*` order,
/// each the rows xi, omega, eta. The xi parts add up to 1 + xi; the omega and eta parts add up
/// to omega and eta (a part can be slightly negative where it is tiny: the occupation's
/// variation inside a mass bin is followed to first order).
///
/// Status: as `ia_expect_batch` (`IA_OK`; `IA_ERR_INVALID_ARGUMENT`, `IA_ERR_OUT_OF_MEMORY`
/// and `IA_ERR_INTERNAL` for the same causes), with `out_len` other than 15 n n_bins for
/// `out_parts`.
///
/// Threads: any thread; several threads may evaluate one table at once.
///
/// # Safety
/// `table` NULL or any value (a handle is looked up, never dereferenced); `params` NULL or 7 n
/// readable doubles; `options` NULL or one readable `IaExpectOptions`; `out_parts` NULL or
/// `out_len` writable doubles.
#[no_mangle]
pub unsafe extern "C" fn ia_expect_parts(
    table: *const IaTable,
    params: *const f64,
    n: usize,
    options: *const IaExpectOptions,
    out_parts: *mut f64,
    out_len: usize,
) -> c_int {
    guard("ia_expect_parts", || {
        non_null(out_parts, "out_parts")?;
        // SAFETY (all): forwarded caller promises.
        let (t, r) = unsafe { evaluate(table, params, n, options, false, (out_len, IA_N_PARTS * 3, "out_parts"))? };
        let nb = t.n_bins();
        let per = IA_N_PARTS * 3 * nb;
        let out = unsafe { slice_mut(out_parts, out_len, "out_parts")? };
        for (i, e) in r.iter().enumerate() {
            let p = &e.parts;
            let parts = [&p.cen_cen_2h, &p.cen_sat_1h, &p.cen_sat_2h, &p.sat_sat_1h, &p.sat_sat_2h];
            for (k, s) in parts.iter().enumerate() {
                let at = i * per + k * 3 * nb;
                out[at..at + nb].copy_from_slice(&s.xi);
                out[at + nb..at + 2 * nb].copy_from_slice(&s.omega);
                out[at + 2 * nb..at + 3 * nb].copy_from_slice(&s.eta);
            }
        }
        Ok(())
    })
}
