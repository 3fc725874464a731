//! Galaxy catalogue files for the command line.
//!
//! - NumPy `.npy`: a 2-d float32 or float64 array, one row per galaxy, columns
//!   `x, y, z` (xi only), `x, y, z, ex, ey, ez`, or `x, y, z, ex, ey, ez, w`.
//! - CSV: a header naming the columns, `x,y,z` optionally followed by `ex,ey,ez` and `w`,
//!   then one row per galaxy; blank lines and lines starting with `#` are skipped.
//!
//! Positions in Mpc/h.

use crate::error::{Error, Result};
use ndarray::Array2;
use ndarray_npy::{ReadNpyError, ReadNpyExt, WriteNpyExt};
use std::path::Path;

/// A galaxy catalogue read from a file.
#[derive(Clone, Debug, PartialEq)]
pub struct GalaxyFile {
    pub positions: Vec<[f64; 3]>,
    pub orientations: Option<Vec<[f64; 3]>>,
    pub weights: Option<Vec<f64>>,
}

impl GalaxyFile {
    /// Borrowed view for [`crate::corr`].
    pub fn galaxies(&self) -> crate::corr::Galaxies<'_> {
        crate::corr::Galaxies {
            positions: &self.positions,
            orientations: self.orientations.as_deref(),
            weights: self.weights.as_deref(),
        }
    }

    /// Splits a table with one row per galaxy into its columns.
    fn from_table(a: &Array2<f64>, source: &str) -> Result<GalaxyFile> {
        let n_cols = a.ncols();
        if !matches!(n_cols, 3 | 6 | 7) {
            return Err(Error::invalid(format!(
                "{source}: expected 3 (x,y,z), 6 (x,y,z,ex,ey,ez) or 7 (..., w) columns, got {n_cols}"
            )));
        }
        let col3 = |k: usize| {
            a.outer_iter()
                .map(|r| [r[k], r[k + 1], r[k + 2]])
                .collect::<Vec<_>>()
        };
        Ok(GalaxyFile {
            positions: col3(0),
            orientations: (n_cols >= 6).then(|| col3(3)),
            weights: (n_cols == 7).then(|| a.column(6).to_vec()),
        })
    }
}

/// Reads a `.npy` or `.csv` galaxy catalogue (chosen by extension).
pub fn read_galaxies(path: &Path) -> Result<GalaxyFile> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("npy") => read_npy(path),
        Some("csv") => read_csv(path),
        _ => Err(Error::invalid(format!(
            "{}: unknown catalogue format (expected a .npy or .csv file)",
            path.display()
        ))),
    }
}

fn open(path: &Path) -> Result<std::fs::File> {
    std::fs::File::open(path).map_err(|e| Error::io(format!("cannot open {}: {e}", path.display())))
}

/// Reads a 2-d float64 or float32 `.npy` array.
pub fn read_npy_matrix(path: &Path) -> Result<Array2<f64>> {
    let bad = |e: ReadNpyError| {
        Error::io(format!(
            "{}: not a readable 2-d float .npy array: {e}",
            path.display()
        ))
    };
    match Array2::<f64>::read_npy(open(path)?) {
        Ok(a) => Ok(a),
        Err(ReadNpyError::WrongDescriptor(_)) => Array2::<f32>::read_npy(open(path)?)
            .map(|a| a.mapv(f64::from))
            .map_err(bad),
        Err(e) => Err(bad(e)),
    }
}

fn read_npy(path: &Path) -> Result<GalaxyFile> {
    GalaxyFile::from_table(&read_npy_matrix(path)?, &path.display().to_string())
}

fn read_csv(path: &Path) -> Result<GalaxyFile> {
    let name = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::io(format!("cannot read {name}: {e}")))?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let (_, header) = lines
        .next()
        .ok_or_else(|| Error::io(format!("{name}: empty file")))?;
    let cols: Vec<String> = header
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    let expected = ["x", "y", "z", "ex", "ey", "ez", "w"];
    if !matches!(cols.len(), 3 | 6 | 7) || cols.iter().zip(expected).any(|(c, e)| c != e) {
        return Err(Error::io(format!(
            "{name}: the header must be x,y,z or x,y,z,ex,ey,ez or x,y,z,ex,ey,ez,w; got {header:?}"
        )));
    }
    let mut values = Vec::new();
    let mut n_rows = 0;
    for (lineno, line) in lines {
        let before = values.len();
        for f in line.split(',') {
            values.push(
                f.trim().parse::<f64>().map_err(|e| {
                    Error::io(format!("{name}, line {}: {e}: {line:?}", lineno + 1))
                })?,
            );
        }
        if values.len() - before != cols.len() {
            return Err(Error::io(format!(
                "{name}, line {}: {} fields, the header has {}",
                lineno + 1,
                values.len() - before,
                cols.len()
            )));
        }
        n_rows += 1;
    }
    let table = Array2::from_shape_vec((n_rows, cols.len()), values)
        .map_err(|e| Error::Internal(format!("{name}: {e}")))?;
    GalaxyFile::from_table(&table, &name)
}

/// Writes `path` completely or not at all: `write` fills the sibling `<name>.partial`, which is
/// then renamed over `path`; on any failure the partial file is removed. Every file iaemu
/// writes goes through here.
pub(crate) fn write_atomically(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".partial");
    let tmp = path.with_file_name(name);
    let renamed = |()| {
        std::fs::rename(&tmp, path)
            .map_err(|e| Error::io(format!("cannot write {}: {e}", path.display())))
    };
    write(&tmp).and_then(renamed).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Writes rows as a 2-d float64 `.npy` array, through a temporary file renamed into place.
pub fn write_npy_matrix(path: &Path, a: &Array2<f64>) -> Result<()> {
    write_atomically(path, |tmp| {
        let file = std::fs::File::create(tmp)
            .map_err(|e| Error::io(format!("cannot create {}: {e}", tmp.display())))?;
        a.write_npy(std::io::BufWriter::new(file))
            .map_err(|e| Error::io(format!("cannot write {}: {e}", tmp.display())))
    })
}

/// Checks, before any work, that an output `path` has one of `extensions` (else the error
/// `hint`, e.g. "write galaxies as .npy or .npz") and that its folder exists.
pub fn check_output(path: &Path, extensions: &[&str], hint: &str) -> Result<()> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if !extensions.contains(&ext) {
        return Err(Error::invalid(format!("{}: {hint}", path.display())));
    }
    check_folder(path)
}

/// Checks, before any work, that the folder an output `path` goes into exists.
pub fn check_folder(path: &Path) -> Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => Err(Error::io(format!(
            "{}: the folder {} does not exist",
            path.display(),
            dir.display()
        ))),
        _ => Ok(()),
    }
}

/// [`check_output`] for [`write_galaxies`].
pub fn check_galaxies_output(path: &Path) -> Result<()> {
    check_output(path, &["npy", "npz"], "write galaxies as .npy or .npz")
}

/// Writes a populated galaxy catalogue: `.npy` as an N x 6 matrix (x, y, z, ex, ey, ez; what
/// [`read_galaxies`] and `iaemu correlate` read), `.npz` with the arrays `positions`,
/// `velocities`, `orientations` (N x 3), `is_central` (u8), `host_id` (i64) and `box_size`.
/// The file appears complete or not at all.
pub fn write_galaxies(path: &Path, g: &crate::hod::GalaxyCatalog) -> Result<()> {
    check_galaxies_output(path)?;
    let rows = |v: &[[f64; 3]]| Array2::from_shape_fn((v.len(), 3), |(i, k)| v[i][k]);
    match path.extension().and_then(|e| e.to_str()) {
        Some("npy") => write_npy_matrix(
            path,
            &Array2::from_shape_fn((g.len(), 6), |(i, k)| {
                if k < 3 {
                    g.positions[i][k]
                } else {
                    g.orientations[i][k - 3]
                }
            }),
        ),
        _ => write_atomically(path, |tmp| {
            let fail = |e: String| Error::io(format!("cannot write {}: {e}", path.display()));
            let file = std::fs::File::create(tmp).map_err(|e| fail(e.to_string()))?;
            let mut npz = ndarray_npy::NpzWriter::new(file);
            let flags: Vec<u8> = g.is_central.iter().map(|&c| c as u8).collect();
            npz.add_array("positions", &rows(&g.positions))
                .map_err(|e| fail(e.to_string()))?;
            npz.add_array("velocities", &rows(&g.velocities))
                .map_err(|e| fail(e.to_string()))?;
            npz.add_array("orientations", &rows(&g.orientations))
                .map_err(|e| fail(e.to_string()))?;
            npz.add_array("is_central", &ndarray::Array1::from(flags))
                .map_err(|e| fail(e.to_string()))?;
            npz.add_array("host_id", &ndarray::Array1::from(g.host_id.clone()))
                .map_err(|e| fail(e.to_string()))?;
            npz.add_array("box_size", &ndarray::Array1::from(g.box_size.to_vec()))
                .map_err(|e| fail(e.to_string()))?;
            npz.finish().map_err(|e| fail(e.to_string()))?;
            Ok(())
        }),
    }
}

/// FNV-1a 64 of a sequence of 8-byte words, each taken little-endian: the fingerprint of
/// datasets and of the halo catalogues behind expectation tables.
pub(crate) fn fnv1a(words: impl IntoIterator<Item = u64>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for w in words {
        for b in w.to_le_bytes() {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}
