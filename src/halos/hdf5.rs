//! The halotools cache HDF5 format: one compound dataset `/data` with a row per halo and
//! members named `halo_*`, plus file attributes `Lbox` (3 floats), `particle_mass`, and byte
//! strings `redshift` (like `'0.0000'`), `simname`, `halo_finder`, `version_name`, `fname`.
//!
//! Reading asks HDF5 for just the members iaemu uses, converted by name to native i64 or f64,
//! in strips of rows, so a large file is never held whole. Writing produces what halotools'
//! `CachedHaloCatalog(fname=...)` accepts (tested against halotools 0.9.4).
//!
//! The HDF5 C library is not thread-safe in Debian's build: every call here runs under the
//! global lock of the `hdf5-metno` crate.

use std::ffi::{c_void, CStr, CString};
use std::path::Path;

use hdf5_metno_sys::h5::{H5free_memory, H5open};
use hdf5_metno_sys::h5a::{
    H5Aclose, H5Acreate2, H5Aexists, H5Aget_space, H5Aget_type, H5Aopen, H5Aread, H5Awrite,
};
use hdf5_metno_sys::h5d::{
    H5Dclose, H5Dcreate2, H5Dget_space, H5Dget_type, H5Dopen2, H5Dread, H5Dwrite,
};
use hdf5_metno_sys::h5f::{H5Fclose, H5Fcreate, H5Fopen, H5F_ACC_RDONLY, H5F_ACC_TRUNC};
use hdf5_metno_sys::h5i::hid_t;
use hdf5_metno_sys::h5p::H5P_DEFAULT;
use hdf5_metno_sys::h5s::{
    H5S_class_t, H5S_seloper_t, H5Sclose, H5Screate, H5Screate_simple, H5Sget_simple_extent_dims,
    H5Sget_simple_extent_ndims, H5Sget_simple_extent_npoints, H5Sselect_hyperslab,
};
use hdf5_metno_sys::h5t::{
    H5T_class_t, H5T_str_t, H5Tclose, H5Tcopy, H5Tcreate, H5Tget_class, H5Tget_member_name,
    H5Tget_nmembers, H5Tget_size, H5Tinsert, H5Tis_variable_str, H5Tset_size, H5Tset_strpad,
    H5T_C_S1, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, H5T_NATIVE_LLONG, H5T_STD_I64LE,
};

use super::{CatalogMeta, Column, HaloCatalog, LoadOptions, Provenance, RawHalos};
use crate::{Error, Result};

/// Rows per strip when reading or writing `/data`.
const STRIP_ROWS: usize = 1 << 16;

/// Closes an HDF5 identifier when dropped.
struct Id(hid_t, unsafe extern "C" fn(hid_t) -> i32);
impl Drop for Id {
    fn drop(&mut self) {
        if self.0 >= 0 {
            // SAFETY: the identifier was returned open by HDF5 and is closed once, under the lock.
            hdf5_metno::sync::sync(|| unsafe { (self.1)(self.0) });
        }
    }
}

/// Runs HDF5 calls under the global lock, after making sure the library is initialised.
fn h5<T>(f: impl FnOnce() -> T) -> T {
    hdf5_metno::sync::sync(|| {
        // SAFETY: H5open is idempotent.
        unsafe { H5open() };
        f()
    })
}

fn check(id: hid_t, what: impl FnOnce() -> String) -> Result<hid_t> {
    if id < 0 {
        Err(Error::io(what()))
    } else {
        Ok(id)
    }
}

fn cstr(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::invalid(format!("{s:?} contains a NUL byte")))
}

/// Names of the members of a compound datatype.
fn member_names(dtype: hid_t) -> Vec<String> {
    // SAFETY: `dtype` is an open compound datatype; names are freed with H5free_memory.
    unsafe {
        let n = H5Tget_nmembers(dtype).max(0) as u32;
        (0..n)
            .filter_map(|k| {
                let p = H5Tget_member_name(dtype, k);
                if p.is_null() {
                    return None;
                }
                let s = CStr::from_ptr(p).to_string_lossy().into_owned();
                H5free_memory(p.cast());
                Some(s)
            })
            .collect()
    }
}

/// A packed native compound type holding `cols` (8 bytes each), for reading or writing.
fn packed_type(cols: &[Column], file_types: bool) -> Result<Id> {
    // SAFETY: plain HDF5 datatype construction; every id is checked.
    unsafe {
        let t = Id(
            check(H5Tcreate(H5T_class_t::H5T_COMPOUND, 8 * cols.len()), || {
                "cannot create a datatype".into()
            })?,
            H5Tclose,
        );
        for (k, c) in cols.iter().enumerate() {
            let base = match (c.is_integer(), file_types) {
                (true, false) => *H5T_NATIVE_LLONG,
                (false, false) => *H5T_NATIVE_DOUBLE,
                (true, true) => *H5T_STD_I64LE,
                (false, true) => *H5T_IEEE_F64LE,
            };
            let name = cstr(c.name())?;
            if H5Tinsert(t.0, name.as_ptr(), 8 * k, base) < 0 {
                return Err(Error::io(format!(
                    "cannot build the datatype of {}",
                    c.name()
                )));
            }
        }
        Ok(t)
    }
}

/// Reads a string attribute (fixed or variable length), or `None` when absent or not a string.
fn string_attr(file: hid_t, name: &str) -> Option<String> {
    let cname = CString::new(name).ok()?;
    // SAFETY: ids are checked; buffers are sized from the attribute's own datatype.
    unsafe {
        if H5Aexists(file, cname.as_ptr()) <= 0 {
            return None;
        }
        let attr = Id(H5Aopen(file, cname.as_ptr(), H5P_DEFAULT), H5Aclose);
        let ftype = Id(H5Aget_type(attr.0), H5Tclose);
        if attr.0 < 0 || ftype.0 < 0 || H5Tget_class(ftype.0) != H5T_class_t::H5T_STRING {
            return None;
        }
        let space = Id(H5Aget_space(attr.0), H5Sclose);
        if H5Sget_simple_extent_npoints(space.0) != 1 {
            return None;
        }
        let bytes = if H5Tis_variable_str(ftype.0) > 0 {
            let mtype = Id(H5Tcopy(*H5T_C_S1), H5Tclose);
            H5Tset_size(mtype.0, usize::MAX); // H5T_VARIABLE
            let mut p: *mut i8 = std::ptr::null_mut();
            if H5Aread(attr.0, mtype.0, (&mut p as *mut *mut i8).cast()) < 0 || p.is_null() {
                return None;
            }
            let s = CStr::from_ptr(p).to_bytes().to_vec();
            H5free_memory(p.cast());
            s
        } else {
            let size = H5Tget_size(ftype.0);
            let mut buf = vec![0u8; size];
            if H5Aread(attr.0, ftype.0, buf.as_mut_ptr().cast()) < 0 {
                return None;
            }
            let end = buf.iter().position(|&b| b == 0).unwrap_or(size);
            buf.truncate(end);
            buf
        };
        Some(String::from_utf8_lossy(&bytes).trim().to_string())
    }
}

/// Reads a numeric attribute as f64 values (a scalar gives one value).
fn float_attr(file: hid_t, name: &str) -> Option<Vec<f64>> {
    let cname = CString::new(name).ok()?;
    // SAFETY: ids are checked; the buffer has one f64 per element of the dataspace.
    unsafe {
        if H5Aexists(file, cname.as_ptr()) <= 0 {
            return None;
        }
        let attr = Id(H5Aopen(file, cname.as_ptr(), H5P_DEFAULT), H5Aclose);
        let ftype = Id(H5Aget_type(attr.0), H5Tclose);
        if attr.0 < 0 || ftype.0 < 0 {
            return None;
        }
        let class = H5Tget_class(ftype.0);
        if class != H5T_class_t::H5T_FLOAT && class != H5T_class_t::H5T_INTEGER {
            return None;
        }
        let space = Id(H5Aget_space(attr.0), H5Sclose);
        let n = H5Sget_simple_extent_npoints(space.0);
        if !(1..=16).contains(&n) {
            return None;
        }
        let mut v = vec![0f64; n as usize];
        (H5Aread(attr.0, *H5T_NATIVE_DOUBLE, v.as_mut_ptr().cast()) >= 0).then_some(v)
    }
}

pub(super) fn read(path: &Path, opts: &LoadOptions) -> Result<HaloCatalog> {
    let shown = path.display().to_string();
    let cpath = cstr(&shown)?;
    h5(|| {
        // SAFETY: all ids are checked before use and closed by `Id`; buffers are sized from
        // the selection (rows x packed row size).
        unsafe {
            let file = Id(
                check(H5Fopen(cpath.as_ptr(), H5F_ACC_RDONLY, H5P_DEFAULT), || {
                    format!("cannot open {shown} as HDF5 (missing, truncated or corrupt)")
                })?,
                H5Fclose,
            );
            let dname = cstr("data")?;
            let ds = Id(
                check(H5Dopen2(file.0, dname.as_ptr(), H5P_DEFAULT), || {
                    format!("{shown}: no dataset /data (not a halotools cache file)")
                })?,
                H5Dclose,
            );
            let dtype = Id(check(H5Dget_type(ds.0), || format!("{shown}: unreadable /data type"))?, H5Tclose);
            if H5Tget_class(dtype.0) != H5T_class_t::H5T_COMPOUND {
                return Err(Error::io(format!("{shown}: /data is not a table (compound dataset)")));
            }
            let members = member_names(dtype.0);
            let cols: Vec<Column> = Column::ALL
                .into_iter()
                .filter(|c| members.iter().any(|m| m == c.name()))
                .collect();
            let fspace = Id(check(H5Dget_space(ds.0), || format!("{shown}: unreadable /data shape"))?, H5Sclose);
            if H5Sget_simple_extent_ndims(fspace.0) != 1 {
                return Err(Error::io(format!("{shown}: /data must be one-dimensional")));
            }
            let mut dims = [0u64; 1];
            H5Sget_simple_extent_dims(fspace.0, dims.as_mut_ptr(), std::ptr::null_mut());
            let n = dims[0] as usize;
            let mtype = packed_type(&cols, false)?;
            let width = cols.len();
            let mut ints: Vec<Vec<i64>> = cols.iter().map(|_| Vec::new()).collect();
            let mut floats: Vec<Vec<f64>> = cols.iter().map(|_| Vec::new()).collect();
            for (k, c) in cols.iter().enumerate() {
                if c.is_integer() {
                    ints[k].reserve_exact(n);
                } else {
                    floats[k].reserve_exact(n);
                }
            }
            let mut strip = vec![0u64; STRIP_ROWS.min(n.max(1)) * width];
            let mut start = 0usize;
            while start < n && width > 0 {
                let rows = STRIP_ROWS.min(n - start);
                let (s, c) = ([start as u64], [rows as u64]);
                H5Sselect_hyperslab(fspace.0, H5S_seloper_t::H5S_SELECT_SET, s.as_ptr(), std::ptr::null(), c.as_ptr(), std::ptr::null());
                let mspace = Id(H5Screate_simple(1, c.as_ptr(), std::ptr::null()), H5Sclose);
                if H5Dread(ds.0, mtype.0, mspace.0, fspace.0, H5P_DEFAULT, strip.as_mut_ptr().cast::<c_void>()) < 0 {
                    return Err(Error::io(format!(
                        "{shown}: cannot read rows {start}..{} of /data (truncated or corrupt file?)",
                        start + rows
                    )));
                }
                for row in strip[..rows * width].chunks_exact(width) {
                    for (k, c) in cols.iter().enumerate() {
                        if c.is_integer() {
                            ints[k].push(row[k] as i64);
                        } else {
                            floats[k].push(f64::from_bits(row[k]));
                        }
                    }
                }
                start += rows;
            }
            let mut raw = RawHalos::new();
            for (k, &c) in cols.iter().enumerate() {
                if c.is_integer() {
                    raw.set_ints(c, std::mem::take(&mut ints[k]))?;
                } else {
                    raw.set_floats(c, std::mem::take(&mut floats[k]))?;
                }
            }

            let lbox = float_attr(file.0, "Lbox");
            let box_size = match lbox.as_deref() {
                Some([l]) => Some([*l; 3]),
                Some([a, b, c]) => Some([*a, *b, *c]),
                _ => opts.box_size.map(|l| [l; 3]),
            };
            let box_size = match (opts.force, opts.box_size) {
                (true, Some(l)) => [l; 3],
                _ => box_size.ok_or_else(|| Error::invalid(format!("{shown}: no Lbox attribute; give it in the load options (box_size)")))?,
            };
            let particle_mass = opts
                .pick(float_attr(file.0, "particle_mass").and_then(|v| v.first().copied()), opts.particle_mass)
                .ok_or_else(|| Error::invalid(format!("{shown}: no particle_mass attribute; give it in the load options (particle_mass)")))?;
            let z_file = string_attr(file.0, "redshift")
                .and_then(|s| s.parse::<f64>().ok())
                .or_else(|| float_attr(file.0, "redshift").and_then(|v| v.first().copied()));
            let redshift = opts
                .pick(z_file, opts.redshift)
                .ok_or_else(|| Error::invalid(format!("{shown}: no redshift attribute; give it in the load options (redshift)")))?;
            let meta = CatalogMeta {
                box_size,
                particle_mass,
                redshift,
                provenance: Provenance {
                    source: shown.clone(),
                    simname: string_attr(file.0, "simname").unwrap_or_default(),
                    halo_finder: string_attr(file.0, "halo_finder").unwrap_or_default(),
                    version_name: string_attr(file.0, "version_name").unwrap_or_default(),
                    notes: string_attr(file.0, "processing_notes").unwrap_or_default(),
                },
            };
            Ok((raw, meta))
        }
    })
    .and_then(|(raw, meta)| HaloCatalog::from_raw(raw, meta))
}

/// The value of column `c` at row `i`, as the 8 bytes the packed type holds (`rs` is
/// [`HaloCatalog::rs`]).
fn cell(cat: &HaloCatalog, rs: &[f64], c: Column, i: usize) -> u64 {
    match c {
        Column::Id => cat.id[i] as u64,
        Column::Upid => cat.upid[i] as u64,
        Column::Hostid => cat.hostid[i] as u64,
        Column::Rs => rs[i].to_bits(),
        _ => cat.col(c)[i].to_bits(),
    }
}

unsafe fn write_string_attr(file: hid_t, name: &str, value: &str) -> Result<()> {
    let cname = cstr(name)?;
    let bytes = value.as_bytes();
    let t = Id(H5Tcopy(*H5T_C_S1), H5Tclose);
    H5Tset_size(t.0, bytes.len().max(1));
    H5Tset_strpad(t.0, H5T_str_t::H5T_STR_NULLPAD);
    let space = Id(H5Screate(H5S_class_t::H5S_SCALAR), H5Sclose);
    let attr = Id(
        H5Acreate2(file, cname.as_ptr(), t.0, space.0, H5P_DEFAULT, H5P_DEFAULT),
        H5Aclose,
    );
    let mut buf = bytes.to_vec();
    if buf.is_empty() {
        buf.push(0);
    }
    if attr.0 < 0 || H5Awrite(attr.0, t.0, buf.as_ptr().cast()) < 0 {
        return Err(Error::io(format!("cannot write attribute {name}")));
    }
    Ok(())
}

unsafe fn write_float_attr(file: hid_t, name: &str, values: &[f64]) -> Result<()> {
    let cname = cstr(name)?;
    let space = if values.len() == 1 {
        Id(H5Screate(H5S_class_t::H5S_SCALAR), H5Sclose)
    } else {
        let dims = [values.len() as u64];
        Id(
            H5Screate_simple(1, dims.as_ptr(), std::ptr::null()),
            H5Sclose,
        )
    };
    let attr = Id(
        H5Acreate2(
            file,
            cname.as_ptr(),
            *H5T_IEEE_F64LE,
            space.0,
            H5P_DEFAULT,
            H5P_DEFAULT,
        ),
        H5Aclose,
    );
    if attr.0 < 0 || H5Awrite(attr.0, *H5T_NATIVE_DOUBLE, values.as_ptr().cast()) < 0 {
        return Err(Error::io(format!("cannot write attribute {name}")));
    }
    Ok(())
}

pub(super) fn write(cat: &HaloCatalog, path: &Path) -> Result<()> {
    let final_name = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    crate::io::write_atomically(path, |tmp| {
        h5(|| write_file(cat, tmp, &final_name.display().to_string()))
    })
}

fn write_file(cat: &HaloCatalog, tmp: &Path, fname: &str) -> Result<()> {
    let shown = tmp.display().to_string();
    let cpath = cstr(&shown)?;
    // Every column of `Column::ALL`, `halo_rs` as rvir / nfw_conc.
    let cols = Column::ALL;
    let rs = cat.rs();
    let width = cols.len();
    let n = cat.len();
    // SAFETY: ids are checked and closed by `Id`; each strip buffer holds rows x width values.
    unsafe {
        let file = Id(
            check(
                H5Fcreate(cpath.as_ptr(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT),
                || format!("cannot create {shown}"),
            )?,
            H5Fclose,
        );
        let ftype = packed_type(&cols, true)?;
        let mtype = packed_type(&cols, false)?;
        let dims = [n as u64];
        let fspace = Id(
            H5Screate_simple(1, dims.as_ptr(), std::ptr::null()),
            H5Sclose,
        );
        let dname = cstr("data")?;
        let ds = Id(
            check(
                H5Dcreate2(
                    file.0,
                    dname.as_ptr(),
                    ftype.0,
                    fspace.0,
                    H5P_DEFAULT,
                    H5P_DEFAULT,
                    H5P_DEFAULT,
                ),
                || format!("cannot create /data in {shown}"),
            )?,
            H5Dclose,
        );
        let mut strip = vec![0u64; STRIP_ROWS.min(n) * width];
        let mut start = 0;
        while start < n {
            let rows = STRIP_ROWS.min(n - start);
            for (r, row) in strip[..rows * width].chunks_exact_mut(width).enumerate() {
                for (k, &c) in cols.iter().enumerate() {
                    row[k] = cell(cat, &rs, c, start + r);
                }
            }
            let (s, c) = ([start as u64], [rows as u64]);
            H5Sselect_hyperslab(
                fspace.0,
                H5S_seloper_t::H5S_SELECT_SET,
                s.as_ptr(),
                std::ptr::null(),
                c.as_ptr(),
                std::ptr::null(),
            );
            let mspace = Id(H5Screate_simple(1, c.as_ptr(), std::ptr::null()), H5Sclose);
            if H5Dwrite(
                ds.0,
                mtype.0,
                mspace.0,
                fspace.0,
                H5P_DEFAULT,
                strip.as_ptr().cast(),
            ) < 0
            {
                return Err(Error::io(format!(
                    "cannot write rows {start}..{} of {shown}",
                    start + rows
                )));
            }
            start += rows;
        }
        let meta = cat.meta();
        let p = &meta.provenance;
        write_float_attr(file.0, "Lbox", &meta.box_size)?;
        write_float_attr(file.0, "particle_mass", &[meta.particle_mass])?;
        write_string_attr(file.0, "redshift", &format!("{:.4}", meta.redshift))?;
        write_string_attr(file.0, "simname", &p.simname)?;
        write_string_attr(file.0, "halo_finder", &p.halo_finder)?;
        write_string_attr(file.0, "version_name", &p.version_name)?;
        write_string_attr(file.0, "fname", fname)?;
        write_string_attr(file.0, "processing_notes", &p.notes)?;
        write_string_attr(file.0, "written_by", &format!("iaemu {}", crate::VERSION))?;
    }
    Ok(())
}
