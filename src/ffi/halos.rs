//! C entry points for halo catalogues: load, make the synthetic universe, save, describe,
//! read columns, free.

use super::{guard, handles, non_null, slice_mut};
use crate::cosmology::Cosmology;
use crate::error::{Error, Result};
use crate::halos::{self, Column, HaloCatalog, LoadOptions, SyntheticUniverse, HOST_MIN_PARTICLES};
use std::ffi::{c_char, c_int, CStr};
use std::path::PathBuf;

/// A halo catalogue: an opaque handle. Read-only once made, so several threads may use one
/// handle at once (e.g. populate it in parallel); free it once with `ia_halos_free`.
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
/// # Safety
/// `path` must be NULL or a NUL-terminated string; `out_halos` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ia_halos_load(path: *const c_char, out_halos: *mut *mut IaHalos) -> c_int {
    guard("ia_halos_load", || {
        non_null(out_halos, "out_halos")?;
        let cat = halos::load(&path_arg(path)?, &LoadOptions::default())?;
        publish(cat, out_halos)
    })
}

/// As `ia_halos_load`, with values for what the file lacks (`options` may be NULL).
///
/// # Safety
/// As `ia_halos_load`; `options` NULL or pointing to one `IaHalosLoadOptions`.
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
/// # Safety
/// `out_options` must be NULL or writable.
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

/// Makes the synthetic universe (physics.md section 9) and returns it as a new handle in
/// `*out_halos`. The same options give the same catalogue on any thread count.
///
/// # Safety
/// `options` NULL (the defaults) or pointing to one `IaSyntheticOptions`; `out_halos` writable.
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
                threads: (o.n_threads != 0).then_some(o.n_threads as usize),
            }
        };
        publish(universe.generate()?, out_halos)
    })
}

/// Writes a catalogue to `path`: halotools cache HDF5 for `.hdf5`/`.h5` (loadable by
/// halotools' `CachedHaloCatalog(fname=...)`), NumPy `.npz` for `.npz`. The file appears
/// complete or not at all.
///
/// # Safety
/// `halos` a handle from this library (checked); `path` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ia_halos_save(halos: *const IaHalos, path: *const c_char) -> c_int {
    guard("ia_halos_save", || {
        let cat = handles::get::<HaloCatalog, IaHalos>(halos, HALOS_KIND)?;
        halos::save(&cat, &path_arg(path)?)
    })
}

/// Describes a catalogue in `*out_info`.
///
/// # Safety
/// `halos` a handle (checked); `out_info` NULL or writable.
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

/// Copies a floating-point column (halotools name, e.g. `"halo_mvir"`; `"halo_rs"` is
/// rvir / nfw_conc) into `out_values`, which holds `n` values and `n` must equal the number of
/// halos. Units as in physics.md section 2 (Mpc/h, Msun/h, km/s).
///
/// # Safety
/// `halos` a handle (checked); `name` NUL-terminated; `out_values` NULL or `n` writable doubles.
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
/// # Safety
/// As `ia_halos_column_f64`, with `n` writable int64_t.
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

/// Frees a catalogue. NULL is a no-op; a handle already freed or not made by iaemu gives
/// `IA_ERR_INVALID_ARGUMENT`. A call using the handle on another thread keeps the catalogue
/// alive until that call returns.
#[no_mangle]
pub extern "C" fn ia_halos_free(halos: *mut IaHalos) -> c_int {
    guard("ia_halos_free", || handles::release(halos, HALOS_KIND))
}
