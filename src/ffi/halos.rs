//! C entry points for halo catalogues: load, make the synthetic universe, save, describe,
//! read columns, free.

use super::{guard, handles, non_null, slice_mut};
use crate::cosmology::Cosmology;
use crate::error::{Error, Result};
use crate::halos::{self, Column, HaloCatalog, LoadOptions, SyntheticUniverse, HOST_MIN_PARTICLES};
use std::ffi::{c_char, c_int, CStr};
use std::path::PathBuf;

/// A halo catalogue: an opaque handle; free it once with `ia_halos_free`.
///
/// Threads: read-only once made, so several threads may use one handle at once (e.g. populate
/// or simulate it in parallel). Freeing it while another thread is inside a call with it is
/// safe: the object lives until that call returns.
pub struct IaHalos {
    _private: [u8; 0],
}

pub(super) const HALOS_KIND: &str = "IaHalos";

/// Settings of `ia_halos_synthetic`. Fill with `ia_synthetic_options_default`, then change
/// fields. Lengths in Mpc/h, masses in Msun/h.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IaSyntheticOptions {
    /// Side of the periodic cubic box (default 250).
    pub box_size: f64,
    pub seed: u64,
    /// Lightest host halo and lightest subhalo peak mass (default 300 x 1.55e8).
    pub min_host_mass: f64,
    /// Particle mass written with the catalogue (default 1.55e8).
    pub particle_mass: f64,
    /// FFT grid cells per side, even, 8 to 512 (default 128).
    pub grid: u32,
    /// Non-zero to make subhalos (default 1).
    pub subhalos: c_int,
    /// Share of accreted subhalos that survive (default 0.3).
    pub subhalo_survival: f64,
    /// Noise on the tidal tensor before taking major axes (default 2).
    pub axis_scatter: f64,
    /// Gaussian smoothing radius of the tidal field (default 2 Mpc/h).
    pub tidal_smoothing: f64,
    /// Cosmology (default Omega_m 0.307, Omega_b 0.048, h 0.678, n_s 0.96, sigma8 0.823).
    pub omega_m: f64,
    pub omega_b: f64,
    pub h: f64,
    pub n_s: f64,
    pub sigma8: f64,
    /// Threads for this call; 0 for the default (see `ia_set_num_threads`).
    pub n_threads: u32,
}

/// What `ia_halos_info` reports.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct IaHalosInfo {
    /// Halos (hosts and subhalos) in the catalogue.
    pub n_halos: usize,
    /// Host halos (upid = -1).
    pub n_hosts: usize,
    pub n_subhalos: usize,
    /// Hosts that can take a central: mvir > 300 particle masses and a non-zero major axis.
    pub n_central_hosts: usize,
    /// Periodic box (Lx, Ly, Lz), Mpc/h.
    pub box_size: [f64; 3],
    /// Msun/h.
    pub particle_mass: f64,
    pub redshift: f64,
    /// Smallest and largest mvir, Msun/h.
    pub mvir_min: f64,
    pub mvir_max: f64,
    /// Rows in the input before anything was dropped.
    pub rows_read: usize,
    /// Subhalos dropped because their host is absent.
    pub dropped_orphans: usize,
    /// Positions wrapped into the box.
    pub wrapped_positions: usize,
    /// Hosts whose major axis is all zeros (kept, but they cannot take an aligned central).
    pub zero_axis_hosts: usize,
}

/// Values for files that lack them (`ia_halos_load_with_options`); NaN means "not given".
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IaHalosLoadOptions {
    /// Cubic box side, Mpc/h.
    pub box_size: f64,
    /// Msun/h.
    pub particle_mass: f64,
    pub redshift: f64,
    /// Non-zero: use these values even where the file has its own.
    pub force: c_int,
}

fn path_arg(path: *const c_char) -> Result<PathBuf> {
    super::path_arg(path, "path")
}

fn publish(cat: HaloCatalog, out: *mut *mut IaHalos) -> Result<()> {
    let handle = handles::register::<HaloCatalog, IaHalos>(cat, HALOS_KIND)?;
    // SAFETY: checked non-NULL by the callers.
    unsafe { out.write(handle) };
    Ok(())
}

/// Reads a halo catalogue: halotools cache HDF5, Rockstar `out_*.list` or consistent-trees
/// `hlist_*.list` ASCII, or `.npz` (format detected from the file). Files lacking box size,
/// particle mass or redshift need `ia_halos_load_with_options`. On success `*out_halos`
/// receives a new handle.
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL `out_halos`, a NULL, empty or
/// non-UTF-8 `path`, a file (any format) without its box size, particle mass or redshift, or
/// a box size or particle mass not finite and positive, or a redshift not finite and >= 0;
/// `IA_ERR_IO` for a missing or unreadable file, an empty file, an unknown format, a corrupt or
/// truncated file, a missing required column, non-finite values, duplicate ids or no halos.
///
/// Threads: any thread, several at once; HDF5 files are read one at a time in the process (the
/// HDF5 library's lock).
///
/// # Safety
/// `path` NULL or a NUL-terminated string; `out_halos` NULL or one writable `IaHalos *`.
#[no_mangle]
pub unsafe extern "C" fn ia_halos_load(path: *const c_char, out_halos: *mut *mut IaHalos) -> c_int {
    guard("ia_halos_load", || {
        non_null(out_halos, "out_halos")?;
        let cat = halos::load(&path_arg(path)?, &LoadOptions::default())?;
        publish(cat, out_halos)
    })
}

/// As `ia_halos_load`, with values for what the file lacks. `options` is optional (NULL: none
/// given); a NaN field is not given, and with `force` non-zero the given values replace the
/// file's.
///
/// Status: the codes of `ia_halos_load` (`IA_OK`, `IA_ERR_INVALID_ARGUMENT`, `IA_ERR_IO`) for
/// the same causes, less the values that `options` gives; also `IA_ERR_INVALID_ARGUMENT` for an
/// infinite field of `options`.
///
/// Threads: as `ia_halos_load`: any thread, several at once; HDF5 files one at a time.
///
/// # Safety
/// `path` NULL or a NUL-terminated string; `options` NULL or one readable `IaHalosLoadOptions`;
/// `out_halos` NULL or one writable `IaHalos *`.
#[no_mangle]
pub unsafe extern "C" fn ia_halos_load_with_options(
    path: *const c_char,
    options: *const IaHalosLoadOptions,
    out_halos: *mut *mut IaHalos,
) -> c_int {
    guard("ia_halos_load_with_options", || {
        non_null(out_halos, "out_halos")?;
        let opts = if options.is_null() {
            LoadOptions::default()
        } else {
            // SAFETY: checked non-NULL; validity promised by the caller.
            let o = unsafe { *options };
            let given = |v: f64, name: &str| -> Result<Option<f64>> {
                if v.is_nan() {
                    Ok(None)
                } else if v.is_finite() {
                    Ok(Some(v))
                } else {
                    Err(Error::invalid(format!("options.{name} is infinite")))
                }
            };
            LoadOptions {
                box_size: given(o.box_size, "box_size")?,
                particle_mass: given(o.particle_mass, "particle_mass")?,
                redshift: given(o.redshift, "redshift")?,
                force: o.force != 0,
            }
        };
        publish(halos::load(&path_arg(path)?, &opts)?, out_halos)
    })
}

/// Writes the defaults of the synthetic universe into `*out_options`.
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL `out_options`.
///
/// Threads: any thread; writes only `*out_options`.
///
/// # Safety
/// `out_options` NULL or writable memory for one `IaSyntheticOptions`.
#[no_mangle]
pub unsafe extern "C" fn ia_synthetic_options_default(
    out_options: *mut IaSyntheticOptions,
) -> c_int {
    guard("ia_synthetic_options_default", || {
        non_null(out_options, "out_options")?;
        let d = SyntheticUniverse::default();
        let o = IaSyntheticOptions {
            box_size: d.box_size,
            seed: d.seed,
            min_host_mass: d.min_host_mass,
            particle_mass: d.particle_mass,
            grid: d.grid as u32,
            subhalos: d.subhalos as c_int,
            subhalo_survival: d.subhalo_survival,
            axis_scatter: d.axis_scatter,
            tidal_smoothing: d.tidal_smoothing,
            omega_m: d.cosmology.omega_m,
            omega_b: d.cosmology.omega_b,
            h: d.cosmology.h,
            n_s: d.cosmology.n_s,
            sigma8: d.cosmology.sigma8,
            n_threads: 0,
        };
        // SAFETY: checked non-NULL.
        unsafe { out_options.write(o) };
        Ok(())
    })
}

/// Makes the synthetic universe (docs/science.md section 8) and returns it as a new handle in
/// `*out_halos`. `options` is optional (NULL: the defaults). The same options give the same
/// catalogue on any thread count.
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL `out_halos`, options out of range
/// (`box_size` in (0, 4000], `grid` even in [8, 512], `min_host_mass` in [1e8, 1e15],
/// `particle_mass` finite and positive, `subhalo_survival` in [0, 1], `axis_scatter` and
/// `tidal_smoothing` finite and >= 0, the cosmology within the ranges its message names,
/// `n_threads` at most 1024), settings that give more than 5e7 or no host halos, or a bad
/// `IAEMU_NUM_THREADS`; `IA_ERR_OUT_OF_MEMORY` when the grid's fields (about 96 bytes a cell)
/// exceed the memory budget; `IA_ERR_INTERNAL` when the threads cannot be started.
///
/// Threads: any thread, several at once; the work runs on `options->n_threads` threads (0: the
/// default).
///
/// # Safety
/// `options` NULL or one readable `IaSyntheticOptions`; `out_halos` NULL or one writable
/// `IaHalos *`.
#[no_mangle]
pub unsafe extern "C" fn ia_halos_synthetic(
    options: *const IaSyntheticOptions,
    out_halos: *mut *mut IaHalos,
) -> c_int {
    guard("ia_halos_synthetic", || {
        non_null(out_halos, "out_halos")?;
        let universe = if options.is_null() {
            SyntheticUniverse::default()
        } else {
            // SAFETY: checked non-NULL; validity promised by the caller.
            let o = unsafe { *options };
            SyntheticUniverse {
                box_size: o.box_size,
                seed: o.seed,
                min_host_mass: o.min_host_mass,
                particle_mass: o.particle_mass,
                grid: o.grid as usize,
                cosmology: Cosmology {
                    omega_m: o.omega_m,
                    omega_b: o.omega_b,
                    h: o.h,
                    n_s: o.n_s,
                    sigma8: o.sigma8,
                },
                subhalos: o.subhalos != 0,
                subhalo_survival: o.subhalo_survival,
                axis_scatter: o.axis_scatter,
                tidal_smoothing: o.tidal_smoothing,
                // Not in the C options (their layout is kept): the default.
                subhalo_shape_exponent: SyntheticUniverse::default().subhalo_shape_exponent,
                threads: (o.n_threads != 0).then_some(o.n_threads as usize),
            }
        };
        publish(universe.generate()?, out_halos)
    })
}

/// Writes a catalogue to `path`: halotools cache HDF5 for `.hdf5`/`.h5` (loadable by halotools'
/// `CachedHaloCatalog(fname=...)`), NumPy `.npz` for `.npz`. The file appears complete or not
/// at all.
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL, freed, forged or wrong-kind `halos`,
/// a NULL, empty or non-UTF-8 `path`, or an extension other than `.hdf5`, `.h5` and `.npz`;
/// `IA_ERR_IO` when the folder does not exist or the file cannot be written.
///
/// Threads: any thread, also while other threads use `halos`; HDF5 files are written one at a
/// time in the process (the HDF5 library's lock).
///
/// # Safety
/// `halos` NULL or any value (a handle is looked up, never dereferenced); `path` NULL or a
/// NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ia_halos_save(halos: *const IaHalos, path: *const c_char) -> c_int {
    guard("ia_halos_save", || {
        let cat = handles::get::<HaloCatalog, IaHalos>(halos, HALOS_KIND)?;
        halos::save(&cat, &path_arg(path)?)
    })
}

/// Describes a catalogue in `*out_info`.
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL `out_info` or a NULL, freed, forged or
/// wrong-kind `halos`.
///
/// Threads: any thread; an `IaHalos` is immutable, so several threads may read `halos` at once.
///
/// # Safety
/// `halos` NULL or any value (a handle is looked up, never dereferenced); `out_info` NULL or
/// writable memory for one `IaHalosInfo`.
#[no_mangle]
pub unsafe extern "C" fn ia_halos_info(halos: *const IaHalos, out_info: *mut IaHalosInfo) -> c_int {
    guard("ia_halos_info", || {
        non_null(out_info, "out_info")?;
        let cat = handles::get::<HaloCatalog, IaHalos>(halos, HALOS_KIND)?;
        let mvir = cat.col(Column::Mvir);
        let r = cat.report();
        let info = IaHalosInfo {
            n_halos: cat.len(),
            n_hosts: cat.n_hosts(),
            n_subhalos: cat.len() - cat.n_hosts(),
            n_central_hosts: cat.central_hosts(HOST_MIN_PARTICLES).len(),
            box_size: cat.box_size(),
            particle_mass: cat.particle_mass(),
            redshift: cat.redshift(),
            mvir_min: mvir.iter().cloned().fold(f64::INFINITY, f64::min),
            mvir_max: mvir.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
            rows_read: r.rows_read,
            dropped_orphans: r.dropped_orphans,
            wrapped_positions: r.wrapped_positions,
            zero_axis_hosts: r.zero_axis_hosts,
        };
        // SAFETY: checked non-NULL.
        unsafe { out_info.write(info) };
        Ok(())
    })
}

fn column_arg(name: *const c_char) -> Result<Column> {
    non_null(name, "name")?;
    // SAFETY: checked non-NULL; NUL-terminated by the caller's promise.
    let s = unsafe { CStr::from_ptr(name) }.to_str().unwrap_or("");
    Column::from_name(s).ok_or_else(|| {
        let all: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
        Error::invalid(format!(
            "no halo column {s:?}; the columns are {}",
            all.join(", ")
        ))
    })
}

/// Copies a floating-point column (halotools name, e.g. `"halo_mvir"`; `"halo_rs"` is rvir /
/// nfw_conc) into `out_values`, which holds `n` values and `n` must equal the number of halos.
/// Units as in docs/science.md section 7 (Mpc/h, Msun/h, km/s); the shape, `"halo_b_to_a"` and
/// `"halo_c_to_a"`, is dimensionless axis ratios, NaN where unknown (every row when the file
/// had none).
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL, freed, forged or wrong-kind `halos`,
/// a NULL or unknown `name` (the message lists the names), an integer column
/// (`ia_halos_column_i64`), `n` other than the number of halos, or a NULL `out_values`.
///
/// Threads: any thread; an `IaHalos` is immutable, so several threads may read `halos` at once.
///
/// # Safety
/// `halos` NULL or any value (a handle is looked up, never dereferenced); `name` NULL or a
/// NUL-terminated string; `out_values` NULL or `n` writable doubles.
#[no_mangle]
pub unsafe extern "C" fn ia_halos_column_f64(
    halos: *const IaHalos,
    name: *const c_char,
    out_values: *mut f64,
    n: usize,
) -> c_int {
    guard("ia_halos_column_f64", || {
        let cat = handles::get::<HaloCatalog, IaHalos>(halos, HALOS_KIND)?;
        let c = column_arg(name)?;
        if c.is_integer() {
            return Err(Error::invalid(format!(
                "{} holds integer ids: use ia_halos_column_i64",
                c.name()
            )));
        }
        if n != cat.len() {
            return Err(Error::invalid(format!(
                "n = {n} but the catalogue has {} halos",
                cat.len()
            )));
        }
        // SAFETY: the caller promises n writable doubles.
        let out = unsafe { slice_mut(out_values, n, "out_values")? };
        if c == Column::Rs {
            out.copy_from_slice(&cat.rs());
        } else {
            out.copy_from_slice(cat.col(c));
        }
        Ok(())
    })
}

/// Copies an integer column (`"halo_id"`, `"halo_upid"`, `"halo_hostid"`) into `out_values`
/// (`n` values, equal to the number of halos).
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for a NULL, freed, forged or wrong-kind `halos`,
/// a NULL or unknown `name`, a floating-point column (`ia_halos_column_f64`), `n` other than
/// the number of halos, or a NULL `out_values`.
///
/// Threads: any thread; an `IaHalos` is immutable, so several threads may read `halos` at once.
///
/// # Safety
/// `halos` NULL or any value (a handle is looked up, never dereferenced); `name` NULL or a
/// NUL-terminated string; `out_values` NULL or `n` writable `int64_t`.
#[no_mangle]
pub unsafe extern "C" fn ia_halos_column_i64(
    halos: *const IaHalos,
    name: *const c_char,
    out_values: *mut i64,
    n: usize,
) -> c_int {
    guard("ia_halos_column_i64", || {
        let cat = handles::get::<HaloCatalog, IaHalos>(halos, HALOS_KIND)?;
        let c = column_arg(name)?;
        let values = match c {
            Column::Id => cat.id(),
            Column::Upid => cat.upid(),
            Column::Hostid => cat.hostid(),
            _ => {
                return Err(Error::invalid(format!(
                    "{} holds floating-point values: use ia_halos_column_f64",
                    c.name()
                )))
            }
        };
        if n != cat.len() {
            return Err(Error::invalid(format!(
                "n = {n} but the catalogue has {} halos",
                cat.len()
            )));
        }
        // SAFETY: the caller promises n writable int64_t.
        unsafe { slice_mut(out_values, n, "out_values")? }.copy_from_slice(values);
        Ok(())
    })
}

/// Frees a catalogue.
///
/// Status: `IA_OK`, also for NULL: freeing NULL is a no-op; `IA_ERR_INVALID_ARGUMENT` for a
/// handle already freed, forged (not made by iaemu) or of another kind (which is left as it
/// was).
///
/// Threads: any thread. Freeing a handle in use is safe: while another thread is inside a call
/// with `halos`, the catalogue lives until that call returns; calls made after the free get
/// `IA_ERR_INVALID_ARGUMENT`.
///
/// # Safety
/// `halos` NULL or any value: it is looked up in the registry, never dereferenced.
#[no_mangle]
pub extern "C" fn ia_halos_free(halos: *mut IaHalos) -> c_int {
    guard("ia_halos_free", || handles::release(halos, HALOS_KIND))
}
