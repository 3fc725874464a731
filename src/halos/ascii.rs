//! Rockstar `out_*.list` and consistent-trees `hlist_*.list` ASCII catalogues.
//!
//! - The first `#` line names the columns; hlist names carry `(index)` suffixes, which are
//!   dropped; names match case-insensitively (`ID`/`id`, `Mvir`/`mvir`, `A[x]`, ...).
//! - `Rvir` and `Rs` are in kpc/h in these files and are converted to Mpc/h; `A[x,y,z]` is
//!   kept as it is (only its direction is used); `b_to_a`, `c_to_a` (optional) are the shape,
//!   not Rockstar's `b_to_a(500c)`, `c_to_a(500c)`.
//! - Box size, particle mass and scale factor come from the comment lines
//!   (`#Box size: 25.0 Mpc/h`, `#Full box size = 250.0 Mpc/h`, `#Particle mass: 6.4e8 Msun/h`,
//!   `#a = 1.0`), else from a `scale` column, else from [`LoadOptions`].
//! - Files without `upid` (Rockstar `out_*.list`) get hosts by the geometric rule of
//!   [`super::RawHalos`].
//!
//! The file is streamed line by line into the columns it needs; nothing else is kept.

use std::io::{BufRead, BufReader};
use std::path::Path;

use super::{CatalogMeta, Column, HaloCatalog, LoadOptions, Provenance, RawHalos};
use crate::{Error, Result};

/// File column name (lower case, suffix dropped) -> catalogue column, and the divisor that
/// converts the file's unit (kpc/h -> Mpc/h for radii).
/// `b_to_a` and `c_to_a` are the halo's own shape; Rockstar's `b_to_a(500c)`, `c_to_a(500c)`
/// (inside R500c) are other columns and are not read.
const NAMES: [(&str, Column, f64); 16] = [
    ("id", Column::Id, 1.0),
    ("upid", Column::Upid, 1.0),
    ("mvir", Column::Mvir, 1.0),
    ("mpeak", Column::Mpeak, 1.0),
    ("rvir", Column::Rvir, 1e3),
    ("rs", Column::Rs, 1e3),
    ("x", Column::X, 1.0),
    ("y", Column::Y, 1.0),
    ("z", Column::Z, 1.0),
    ("vx", Column::Vx, 1.0),
    ("vy", Column::Vy, 1.0),
    ("vz", Column::Vz, 1.0),
    ("a[x]", Column::AxisAX, 1.0),
    ("a[y]", Column::AxisAY, 1.0),
    ("b_to_a", Column::BToA, 1.0),
    ("c_to_a", Column::CToA, 1.0),
];
const AXIS_Z: (&str, Column, f64) = ("a[z]", Column::AxisAZ, 1.0);

/// `b_to_a(500c)(51)` -> `b_to_a(500c)`: drops a trailing all-digit `(index)`.
fn strip_index(name: &str) -> &str {
    if let (Some(open), true) = (name.rfind('('), name.ends_with(')')) {
        let inner = &name[open + 1..name.len() - 1];
        if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) {
            return &name[..open];
        }
    }
    name
}

/// The number after the first `:` or `=` of a comment line, if the line starts with `key`.
fn comment_value(line: &str, keys: &[&str]) -> Option<f64> {
    let body = line.trim_start_matches('#').trim();
    let lower = body.to_ascii_lowercase();
    if !keys.iter().any(|k| lower.starts_with(k)) {
        return None;
    }
    let rest = body.split_once([':', '=']).map(|(_, r)| r)?;
    rest.split_whitespace()
        .next()?
        .trim_end_matches(';')
        .parse()
        .ok()
}

pub(super) fn read(path: &Path, opts: &LoadOptions) -> Result<HaloCatalog> {
    let file = std::fs::File::open(path)
        .map_err(|e| Error::io(format!("cannot open {}: {e}", path.display())))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let at = |line_no: usize| format!("{} line {line_no}", path.display());
    let mut line = String::new();
    let read_line = |reader: &mut BufReader<std::fs::File>, line: &mut String| -> Result<usize> {
        line.clear();
        reader
            .read_line(line)
            .map_err(|e| Error::io(format!("cannot read {}: {e}", path.display())))
    };

    if read_line(&mut reader, &mut line)? == 0 {
        return Err(Error::io(format!("{} is empty", path.display())));
    }
    if !line.starts_with('#') {
        return Err(Error::io(format!(
            "{}: the first line must be the '#' header of column names",
            at(1)
        )));
    }
    let header: Vec<String> = line[1..]
        .split_whitespace()
        .map(|n| strip_index(n).to_ascii_lowercase())
        .collect();
    let n_fields = header.len();
    // (field index, column, factor) for each column present.
    let wanted: Vec<(usize, Column, f64)> = NAMES
        .iter()
        .chain([AXIS_Z].iter())
        .filter_map(|&(name, c, k)| header.iter().position(|h| h == name).map(|i| (i, c, k)))
        .collect();
    let scale_field = header.iter().position(|h| h == "scale");
    let last_field = wanted
        .iter()
        .map(|w| w.0)
        .chain(scale_field)
        .max()
        .unwrap_or(0);

    let (mut box_size, mut particle_mass, mut scale) = (None, None, None);
    let mut ints: Vec<Vec<i64>> = vec![Vec::new(); wanted.len()];
    let mut floats: Vec<Vec<f64>> = vec![Vec::new(); wanted.len()];
    let mut line_no = 1;
    loop {
        line_no += 1;
        if read_line(&mut reader, &mut line)? == 0 {
            break;
        }
        if line.starts_with('#') {
            box_size = box_size.or(comment_value(&line, &["box size", "full box size"]));
            particle_mass = particle_mass.or(comment_value(&line, &["particle mass"]));
            scale = scale.or(comment_value(&line, &["a ="]));
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let values: Vec<&str> = line.split_ascii_whitespace().collect();
        if values.len() != n_fields {
            return Err(Error::io(format!(
                "{}: {} values where the header names {n_fields} columns (truncated or corrupt file?)",
                at(line_no),
                values.len()
            )));
        }
        debug_assert!(last_field < n_fields);
        for (k, &(field, c, divisor)) in wanted.iter().enumerate() {
            let text = values[field];
            if c.is_integer() {
                let v = text.parse::<i64>().map_err(|_| {
                    Error::io(format!(
                        "{}: {} is not an integer id: {text:?}",
                        at(line_no),
                        c.name()
                    ))
                })?;
                ints[k].push(v);
            } else {
                let v = text.parse::<f64>().map_err(|_| {
                    Error::io(format!(
                        "{}: {} is not a number: {text:?}",
                        at(line_no),
                        c.name()
                    ))
                })?;
                floats[k].push(v / divisor);
            }
        }
        if scale.is_none() {
            if let Some(i) = scale_field {
                scale = values[i].parse().ok();
            }
        }
    }

    let mut raw = RawHalos::new();
    for (k, &(_, c, _)) in wanted.iter().enumerate() {
        if c.is_integer() {
            raw.set_ints(c, std::mem::take(&mut ints[k]))?;
        } else {
            raw.set_floats(c, std::mem::take(&mut floats[k]))?;
        }
    }
    let need = |v: Option<f64>, what: &str| {
        v.ok_or_else(|| {
            Error::invalid(format!(
                "{}: no {what} in the comment lines; give it in the load options ({})",
                path.display(),
                what.replace(' ', "_")
            ))
        })
    };
    let l = need(opts.pick(box_size, opts.box_size), "box size")?;
    let redshift_given = opts.redshift;
    let redshift = match opts.pick(scale.map(|a| 1.0 / a - 1.0), redshift_given) {
        Some(z) => z.max(0.0),
        None => need(None, "redshift")?,
    };
    let meta = CatalogMeta {
        box_size: [l; 3],
        particle_mass: need(
            opts.pick(particle_mass, opts.particle_mass),
            "particle mass",
        )?,
        redshift,
        provenance: Provenance {
            source: path.display().to_string(),
            halo_finder: "rockstar".into(),
            simname: path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            version_name: String::new(),
            notes: format!("read from ASCII {}", path.display()),
        },
    };
    HaloCatalog::from_raw(raw, meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_suffixes() {
        assert_eq!(strip_index("A[x](48)"), "A[x]");
        assert_eq!(strip_index("b_to_a(500c)(51)"), "b_to_a(500c)");
        assert_eq!(strip_index("b_to_a(500c)"), "b_to_a(500c)");
        assert_eq!(strip_index("mvir"), "mvir");
    }

    #[test]
    fn comment_values() {
        assert_eq!(
            comment_value("#Box size: 25.000000 Mpc/h", &["box size"]),
            Some(25.0)
        );
        assert_eq!(
            comment_value("#Full box size = 250.000000 Mpc/h", &["full box size"]),
            Some(250.0)
        );
        assert_eq!(
            comment_value("#Particle mass: 6.36846e+08 Msun/h", &["particle mass"]),
            Some(6.36846e8)
        );
        assert_eq!(comment_value("#a = 1.000000", &["a ="]), Some(1.0));
        assert_eq!(
            comment_value("#Om = 0.308000; Ol = 0.692000", &["a ="]),
            None
        );
    }
}
