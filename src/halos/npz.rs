//! NumPy `.npz` catalogues: one 1-D array per column, named as in halotools (`halo_mvir`,
//! ...; f64, f32, i64 or i32), plus optional metadata arrays `Lbox` (1 or 3 values),
//! `particle_mass` and `redshift` (1 value each). Values missing from the file come from
//! [`LoadOptions`]. Made with `numpy.savez(path, halo_id=..., halo_mvir=..., Lbox=[250.0]*3)`.

use std::path::Path;

use ndarray::{Array1, Ix1, OwnedRepr};
use ndarray_npy::{NpzReader, NpzWriter};

use super::{CatalogMeta, Column, HaloCatalog, LoadOptions, Provenance, RawHalos};
use crate::{Error, Result};

type Reader = NpzReader<std::fs::File>;

fn read_floats(npz: &mut Reader, name: &str, shown: &str) -> Result<Vec<f64>> {
    let wrong = |e: String| Error::io(format!("{shown}: array {name}: {e}"));
    if let Ok(a) = npz.by_name::<OwnedRepr<f64>, Ix1>(name) {
        return Ok(a.to_vec());
    }
    if let Ok(a) = npz.by_name::<OwnedRepr<f32>, Ix1>(name) {
        return Ok(a.iter().map(|&v| v as f64).collect());
    }
    if let Ok(a) = npz.by_name::<OwnedRepr<i64>, Ix1>(name) {
        return Ok(a.iter().map(|&v| v as f64).collect());
    }
    npz.by_name::<OwnedRepr<i32>, Ix1>(name)
        .map(|a| a.iter().map(|&v| v as f64).collect())
        .map_err(|e| wrong(format!("not a 1-D array of f64, f32, i64 or i32 ({e})")))
}

fn read_ints(npz: &mut Reader, name: &str, shown: &str) -> Result<Vec<i64>> {
    if let Ok(a) = npz.by_name::<OwnedRepr<i64>, Ix1>(name) {
        return Ok(a.to_vec());
    }
    npz.by_name::<OwnedRepr<i32>, Ix1>(name)
        .map(|a| a.iter().map(|&v| v as i64).collect())
        .map_err(|e| {
            Error::io(format!(
                "{shown}: array {name}: not a 1-D array of i64 or i32 ({e})"
            ))
        })
}

/// A metadata value stored as a 0-d or 1-d array.
fn read_meta(
    npz: &mut Reader,
    names: &[String],
    name: &str,
    shown: &str,
) -> Result<Option<Vec<f64>>> {
    if !names.iter().any(|n| n == name) {
        return Ok(None);
    }
    if let Ok(a) = npz.by_name::<OwnedRepr<f64>, ndarray::Ix0>(name) {
        return Ok(Some(vec![a.into_scalar()]));
    }
    read_floats(npz, name, shown).map(Some)
}

pub(super) fn read(path: &Path, opts: &LoadOptions) -> Result<HaloCatalog> {
    let shown = path.display().to_string();
    let file =
        std::fs::File::open(path).map_err(|e| Error::io(format!("cannot open {shown}: {e}")))?;
    let mut npz = NpzReader::new(file)
        .map_err(|e| Error::io(format!("{shown}: not a readable .npz archive ({e})")))?;
    let names: Vec<String> = npz
        .names()
        .map_err(|e| Error::io(format!("{shown}: not a readable .npz archive ({e})")))?
        .into_iter()
        .map(|n| n.trim_end_matches(".npy").to_string())
        .collect();
    let mut raw = RawHalos::new();
    for c in Column::ALL {
        if !names.iter().any(|n| n == c.name()) {
            continue;
        }
        if c.is_integer() {
            raw.set_ints(c, read_ints(&mut npz, c.name(), &shown)?)?;
        } else {
            raw.set_floats(c, read_floats(&mut npz, c.name(), &shown)?)?;
        }
    }
    let box_size = match read_meta(&mut npz, &names, "Lbox", &shown)?.as_deref() {
        Some([l]) => Some([*l; 3]),
        Some([a, b, c]) => Some([*a, *b, *c]),
        Some(v) => {
            return Err(Error::io(format!(
                "{shown}: Lbox has {} values, expected 1 or 3",
                v.len()
            )))
        }
        None => None,
    };
    let box_size = match (opts.force, opts.box_size, box_size) {
        (true, Some(l), _) | (false, Some(l), None) => [l; 3],
        (_, _, Some(b)) => b,
        (_, None, None) => {
            return Err(Error::invalid(format!(
                "{shown}: no Lbox array; give it in the load options (box_size)"
            )))
        }
    };
    let first = |v: Option<Vec<f64>>| v.and_then(|v| v.first().copied());
    let pm = first(read_meta(&mut npz, &names, "particle_mass", &shown)?);
    let z = first(read_meta(&mut npz, &names, "redshift", &shown)?);
    let meta = CatalogMeta {
        box_size,
        particle_mass: opts.pick(pm, opts.particle_mass).ok_or_else(|| {
            Error::invalid(format!(
                "{shown}: no particle_mass array; give it in the load options (particle_mass)"
            ))
        })?,
        redshift: opts.pick(z, opts.redshift).ok_or_else(|| {
            Error::invalid(format!("{shown}: no redshift array; give it in the load options (redshift)"))
        })?,
        provenance: Provenance {
            source: shown.clone(),
            ..Provenance::default()
        },
    };
    HaloCatalog::from_raw(raw, meta)
}

pub(super) fn write(cat: &HaloCatalog, path: &Path) -> Result<()> {
    let shown = path.display().to_string();
    let fail = |e: String| Error::io(format!("cannot write {shown}: {e}"));
    crate::io::write_atomically(path, |tmp| {
        let file = std::fs::File::create(tmp).map_err(|e| fail(e.to_string()))?;
        let mut npz = NpzWriter::new(file);
        for c in Column::ALL {
            let res = match c {
                Column::Id => npz.add_array(c.name(), &Array1::from(cat.id.clone())),
                Column::Upid => npz.add_array(c.name(), &Array1::from(cat.upid.clone())),
                Column::Hostid => npz.add_array(c.name(), &Array1::from(cat.hostid.clone())),
                Column::Rs => npz.add_array(c.name(), &Array1::from(cat.rs())),
                _ => npz.add_array(c.name(), &ndarray::ArrayView1::from(cat.col(c))),
            };
            res.map_err(|e| fail(e.to_string()))?;
        }
        let meta = cat.meta();
        npz.add_array("Lbox", &Array1::from(meta.box_size.to_vec()))
            .map_err(|e| fail(e.to_string()))?;
        npz.add_array("particle_mass", &ndarray::arr0(meta.particle_mass))
            .map_err(|e| fail(e.to_string()))?;
        npz.add_array("redshift", &ndarray::arr0(meta.redshift))
            .map_err(|e| fail(e.to_string()))?;
        npz.finish().map_err(|e| fail(e.to_string()))?;
        Ok(())
    })
}
