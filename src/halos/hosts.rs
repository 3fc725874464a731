//! Validation of raw columns and the derived columns of [`HaloCatalog`] (docs/science.md section 7):
//! missing columns, non-finite values, duplicate ids, shapes, the host hierarchy, orphans,
//! wrapping.


use super::{CatalogMeta, Column, HaloCatalog, LoadReport, RawHalos};
use crate::{Error, Result};

const REQUIRED: [Column; 9] = [
    Column::Id,
    Column::Mvir,
    Column::Rvir,
    Column::X,
    Column::Y,
    Column::Z,
    Column::AxisAX,
    Column::AxisAY,
    Column::AxisAZ,
];

pub(super) fn build(mut raw: RawHalos, meta: CatalogMeta) -> Result<HaloCatalog> {
    check_meta(&meta)?;
    let mut missing: Vec<&str> = REQUIRED
        .iter()
        .filter(|&&c| !raw.has(c))
        .map(|c| c.name())
        .collect();
    if !raw.has(Column::NfwConc) && !raw.has(Column::Rs) {
        missing.push("halo_nfw_conc (or halo_rs)");
    }
    if !missing.is_empty() {
        return Err(Error::io(format!(
            "missing required columns: {}",
            missing.join(", ")
        )));
    }
    let lengths = raw.lengths();
    let n = lengths[0].1;
    if let Some((name, len)) = lengths.iter().find(|(_, l)| *l != n) {
        return Err(Error::io(format!(
            "columns differ in length: {} has {n} rows but {name} has {len}",
            lengths[0].0
        )));
    }
    if n == 0 {
        return Err(Error::io("the catalogue has no halos".to_string()));
    }
    let mut report = LoadReport {
        rows_read: n,
        ..LoadReport::default()
    };

    let id = raw.take_ints(Column::Id).expect("checked above");
    let mut f: Vec<Vec<f64>> = vec![Vec::new(); Column::STORED_FLOAT.len()];
    for c in Column::STORED_FLOAT {
        if let Some(v) = raw.take_floats(c) {
            f[c.float_slot().expect("stored")] = v;
        }
    }
    let slot = |c: Column| c.float_slot().expect("stored column");

    // Finite and positive where physics requires it.
    for c in [
        Column::X,
        Column::Y,
        Column::Z,
        Column::AxisAX,
        Column::AxisAY,
        Column::AxisAZ,
    ] {
        check_finite(&f[slot(c)], c, false)?;
    }
    for c in [Column::Mvir, Column::Rvir] {
        check_finite(&f[slot(c)], c, true)?;
    }
    for c in [Column::Mpeak, Column::MvirHostHalo, Column::NfwConc] {
        if !f[slot(c)].is_empty() {
            check_finite(&f[slot(c)], c, true)?;
        }
    }
    for c in [Column::Vx, Column::Vy, Column::Vz] {
        if !f[slot(c)].is_empty() {
            check_finite(&f[slot(c)], c, false)?;
        }
    }
    if f[slot(Column::NfwConc)].is_empty() {
        let rs = raw.take_floats(Column::Rs).expect("checked above");
        check_finite(&rs, Column::Rs, true)?;
        let rvir = &f[slot(Column::Rvir)];
        f[slot(Column::NfwConc)] = rvir.iter().zip(&rs).map(|(r, s)| r / s).collect();
        report
            .derived
            .push("halo_nfw_conc = halo_rvir / halo_rs".into());
    }
    check_unique(&id)?;
    shapes(&mut f, n, &mut report)?;

    // Positions into [0, L).
    for (axis, c) in [Column::X, Column::Y, Column::Z].into_iter().enumerate() {
        let l = meta.box_size[axis];
        for v in f[slot(c)].iter_mut() {
            if !(0.0..l).contains(v) {
                *v = v.rem_euclid(l);
                if *v >= l {
                    *v = 0.0; // rem_euclid of a tiny negative number rounds up to l
                }
                report.wrapped_positions += 1;
            }
        }
    }

    let mut upid = match raw.take_ints(Column::Upid) {
        Some(u) => u,
        None => {
            report.derived.push(
                "halo_upid: from the most massive halo down, a halo is a subhalo of the most \
                 massive host whose rvir contains its centre, else a host"
                    .into(),
            );
            derive_upid(
                &id,
                &f[slot(Column::Mvir)],
                &f[slot(Column::Rvir)],
                [
                    &f[slot(Column::X)],
                    &f[slot(Column::Y)],
                    &f[slot(Column::Z)],
                ],
                meta.box_size,
            )
        }
    };
    // halo_hostid follows from halo_upid (docs/science.md section 7); a file's own column is
    // checked against that and replaced where it disagrees.
    let mut hostid: Vec<i64> = id
        .iter()
        .zip(&upid)
        .map(|(&i, &u)| if u == -1 { i } else { u })
        .collect();
    match raw.take_ints(Column::Hostid) {
        None => report
            .derived
            .push("halo_hostid = halo_id for hosts, halo_upid for subhalos".into()),
        Some(given) => {
            let differ = given.iter().zip(&hostid).filter(|(a, b)| a != b).count();
            if differ > 0 {
                report.derived.push(format!(
                    "halo_hostid replaced on {differ} rows where it disagreed with halo_upid \
                     (halo_id for hosts, halo_upid for subhalos)"
                ));
            }
        }
    }

    // Orphans: subhalos whose host is not a host in this catalogue.
    let index = super::IdIndex::new(id.iter().enumerate().map(|(i, &v)| (v, i)));
    let keep: Vec<bool> = (0..n)
        .map(|i| upid[i] == -1 || index.get(hostid[i]).is_some_and(|h| upid[h] == -1))
        .collect();
    report.dropped_orphans = keep.iter().filter(|&&k| !k).count();
    // The index stays valid unless rows are dropped.
    let (mut id, mut index) = (id, Some(index));
    if report.dropped_orphans > 0 {
        let retain = |v: &mut Vec<i64>| {
            let mut it = keep.iter();
            v.retain(|_| *it.next().expect("same length"));
        };
        retain(&mut id);
        retain(&mut upid);
        retain(&mut hostid);
        for col in f.iter_mut().filter(|c| !c.is_empty()) {
            let mut it = keep.iter();
            col.retain(|_| *it.next().expect("same length"));
        }
        index = None;
    }
    let n = id.len();

    if f[slot(Column::MvirHostHalo)].is_empty() {
        let index = index
            .unwrap_or_else(|| super::IdIndex::new(id.iter().enumerate().map(|(i, &v)| (v, i))));
        let mvir = &f[slot(Column::Mvir)];
        // Every host id is a row's id once the orphans are gone.
        f[slot(Column::MvirHostHalo)] =
            hostid.iter().map(|&h| index.get(h).map_or(f64::NAN, |k| mvir[k])).collect();
        report
            .derived
            .push("halo_mvir_host_halo = halo_mvir of the host".into());
    }
    if f[slot(Column::Mpeak)].is_empty() {
        f[slot(Column::Mpeak)] = f[slot(Column::Mvir)].clone();
        report
            .derived
            .push("halo_mpeak = halo_mvir (no peak mass in the input)".into());
    }
    let no_velocity: Vec<&str> = [Column::Vx, Column::Vy, Column::Vz]
        .into_iter()
        .filter(|&c| f[slot(c)].is_empty())
        .map(|c| c.name())
        .collect();
    for c in [Column::Vx, Column::Vy, Column::Vz] {
        if f[slot(c)].is_empty() {
            f[slot(c)] = vec![0.0; n];
        }
    }
    if !no_velocity.is_empty() {
        report.derived.push(format!(
            "{} = 0 (absent from the input)",
            no_velocity.join(", ")
        ));
    }

    let (ax, ay, az) = (
        &f[slot(Column::AxisAX)],
        &f[slot(Column::AxisAY)],
        &f[slot(Column::AxisAZ)],
    );
    report.zero_axis_hosts = (0..n)
        .filter(|&i| upid[i] == -1 && ax[i] == 0.0 && ay[i] == 0.0 && az[i] == 0.0)
        .count();

    Ok(HaloCatalog {
        id,
        upid,
        hostid,
        f,
        meta,
        report,
    })
}

fn check_meta(meta: &CatalogMeta) -> Result<()> {
    if meta.box_size.iter().any(|l| !l.is_finite() || *l <= 0.0) {
        return Err(Error::invalid(format!(
            "box size {:?} Mpc/h: each side must be finite and positive",
            meta.box_size
        )));
    }
    if !meta.particle_mass.is_finite() || meta.particle_mass <= 0.0 {
        return Err(Error::invalid(format!(
            "particle mass {} Msun/h: must be finite and positive",
            meta.particle_mass
        )));
    }
    if !meta.redshift.is_finite() || meta.redshift < 0.0 {
        return Err(Error::invalid(format!(
            "redshift {}: must be finite and >= 0",
            meta.redshift
        )));
    }
    Ok(())
}

fn check_finite(v: &[f64], c: Column, positive: bool) -> Result<()> {
    let bad = |x: f64| !x.is_finite() || (positive && x <= 0.0);
    if let Some(row) = v.iter().position(|&x| bad(x)) {
        let count = v.iter().filter(|&&x| bad(x)).count();
        let need = if positive {
            "finite and positive"
        } else {
            "finite"
        };
        return Err(Error::io(format!(
            "column {} must be {need}: row {row} holds {} ({count} such rows)",
            c.name(),
            v[row]
        )));
    }
    Ok(())
}

/// How far `halo_c_to_a` may exceed `halo_b_to_a` on a row: rounding in text files.
const SHAPE_ORDER_TOLERANCE: f64 = 1e-6;

/// The optional shape columns `halo_b_to_a`, `halo_c_to_a`: NaN on every row when absent; an
/// exact 0 (Rockstar's mark of a shape it could not measure) becomes NaN; NaN is unknown; any
/// other value must lie in (0, 1], and c/a may exceed b/a by at most [`SHAPE_ORDER_TOLERANCE`]
/// where both are known.
fn shapes(f: &mut [Vec<f64>], n: usize, report: &mut LoadReport) -> Result<()> {
    let mut absent = Vec::new();
    for c in [Column::BToA, Column::CToA] {
        let v = &mut f[c.float_slot().expect("stored column")];
        if v.is_empty() {
            *v = vec![f64::NAN; n];
            absent.push(c.name());
            continue;
        }
        let bad = |x: f64| !x.is_nan() && x != 0.0 && !(x > 0.0 && x <= 1.0);
        if let Some(row) = v.iter().position(|&x| bad(x)) {
            let count = v.iter().filter(|&&x| bad(x)).count();
            return Err(Error::io(format!(
                "column {} must lie in (0, 1] (an axis ratio; 0 or NaN for a shape not \
                 measured): row {row} holds {} ({count} such rows)",
                c.name(),
                v[row]
            )));
        }
        let zeros = v.iter().filter(|&&x| x == 0.0).count();
        if zeros > 0 {
            for x in v.iter_mut().filter(|x| **x == 0.0) {
                *x = f64::NAN;
            }
            report.derived.push(format!(
                "{} = NaN (unknown) on {zeros} rows where the input holds 0 (a shape the halo \
                 finder did not measure)",
                c.name()
            ));
        }
    }
    if !absent.is_empty() {
        report.derived.push(format!(
            "{} = NaN (absent from the input: shape unknown)",
            absent.join(", ")
        ));
    }
    let (b, c) = (
        &f[Column::BToA.float_slot().expect("stored")],
        &f[Column::CToA.float_slot().expect("stored")],
    );
    let bad = |i: usize| c[i] > b[i] + SHAPE_ORDER_TOLERANCE; // false where either is NaN
    if let Some(row) = (0..n).find(|&i| bad(i)) {
        let count = (0..n).filter(|&i| bad(i)).count();
        return Err(Error::io(format!(
            "column halo_c_to_a must not exceed halo_b_to_a (c <= b <= a; are the columns \
             swapped?): row {row} holds c/a = {} and b/a = {} ({count} such rows)",
            c[row], b[row]
        )));
    }
    Ok(())
}

fn check_unique(id: &[i64]) -> Result<()> {
    let mut order: Vec<usize> = (0..id.len()).collect();
    order.sort_unstable_by_key(|&i| (id[i], i));
    for w in order.windows(2) {
        if id[w[0]] == id[w[1]] {
            return Err(Error::io(format!(
                "duplicate halo_id {} at rows {} and {}",
                id[w[0]], w[0], w[1]
            )));
        }
    }
    Ok(())
}

/// `halo_upid` for files without one. Going from the most massive halo down (ties: the lower
/// row first), a halo is a subhalo of the most massive host already found whose rvir contains
/// its centre (periodic distances), else a host (-1). A halo inside a subhalo but outside every
/// host's rvir is therefore a host, and every upid names a top-level host.
fn derive_upid(
    id: &[i64],
    mvir: &[f64],
    rvir: &[f64],
    pos: [&Vec<f64>; 3],
    box_size: [f64; 3],
) -> Vec<i64> {
    let n = id.len();
    let r_max = rvir.iter().cloned().fold(0.0, f64::max);
    // Cells at least r_max wide, so a containing halo lies in the 27 cells around.
    let cells: [usize; 3] =
        std::array::from_fn(|a| ((box_size[a] / r_max.max(1e-12)).floor() as usize).clamp(1, 128));
    let cell_of = |i: usize| -> [usize; 3] {
        std::array::from_fn(|a| {
            ((pos[a][i] / box_size[a] * cells[a] as f64) as usize).min(cells[a] - 1)
        })
    };
    let flat = |c: [usize; 3]| (c[2] * cells[1] + c[1]) * cells[0] + c[0];
    let n_cells = cells.iter().product::<usize>();
    let mut start = vec![0usize; n_cells + 1];
    let cell_idx: Vec<usize> = (0..n).map(|i| flat(cell_of(i))).collect();
    for &c in &cell_idx {
        start[c + 1] += 1;
    }
    for c in 0..n_cells {
        start[c + 1] += start[c];
    }
    let mut fill = start.clone();
    let mut members = vec![0usize; n];
    for (i, &c) in cell_idx.iter().enumerate() {
        members[fill[c]] = i;
        fill[c] += 1;
    }
    let heavier = |a: usize, b: usize| mvir[a] > mvir[b] || (mvir[a] == mvir[b] && a < b);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by(|&a, &b| {
        if heavier(a, b) {
            std::cmp::Ordering::Less
        } else {
            std::cmp::Ordering::Greater
        }
    });
    // Hosts are decided from the heaviest down: a halo is a host unless its centre lies inside
    // the rvir of a host already decided (so always a heavier one).
    let mut host_of: Vec<Option<Option<usize>>> = vec![None; n]; // None = not yet decided
    for &i in &order {
        let c = cell_of(i);
        let span = |a: usize| -> Vec<usize> {
            let m = cells[a] as isize;
            let mut v: Vec<usize> = (-1..=1)
                .map(|d| (c[a] as isize + d).rem_euclid(m) as usize)
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let (sx, sy, sz) = (span(0), span(1), span(2));
        let mut best: Option<usize> = None;
        for &cz in &sz {
            for &cy in &sy {
                for &cx in &sx {
                    let k = flat([cx, cy, cz]);
                    for &j in &members[start[k]..start[k + 1]] {
                        if host_of[j] != Some(None) {
                            continue; // undecided (lighter) or a subhalo
                        }
                        let mut d2 = 0.0;
                        for a in 0..3 {
                            let mut d = (pos[a][i] - pos[a][j]).abs();
                            d = d.min(box_size[a] - d);
                            d2 += d * d;
                        }
                        if d2 < rvir[j] * rvir[j] && best.is_none_or(|b| heavier(j, b)) {
                            best = Some(j);
                        }
                    }
                }
            }
        }
        host_of[i] = Some(best);
    }
    host_of
        .iter()
        .map(|h| h.flatten().map_or(-1, |j| id[j]))
        .collect()
}
