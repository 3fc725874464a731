//! The synthetic universe checked like a physicist would (docs/science.md section 8): its mass
//! function against the Tinker et al. (2008) formula, its large-scale halo clustering against
//! b^2 times the linear correlation function, subhalo radii against NFW, and major axes against
//! the tidal field (with the omega and eta that follow). Also determinism across thread counts.

use std::sync::OnceLock;
use std::time::Instant;

use iaemu::corr::{correlate, CorrelationOptions, Galaxies};
use iaemu::cosmology::LinearTheory;
use iaemu::halos::nfw::nfw_mass;
use iaemu::halos::synthetic::Diagnostics;
use iaemu::halos::{Column, HaloCatalog, SyntheticUniverse};

/// The default universe, made once for all the checks.
fn universe() -> &'static (HaloCatalog, Diagnostics) {
    static U: OnceLock<(HaloCatalog, Diagnostics)> = OnceLock::new();
    U.get_or_init(|| {
        let t = Instant::now();
        let u = SyntheticUniverse::default()
            .generate_with_diagnostics()
            .unwrap();
        eprintln!(
            "default synthetic universe: {} halos ({} hosts) in {:.2} s",
            u.0.len(),
            u.0.n_hosts(),
            t.elapsed().as_secs_f64()
        );
        u
    })
}

fn theory() -> LinearTheory {
    LinearTheory::new(Default::default()).unwrap()
}

fn positions(cat: &HaloCatalog, rows: &[usize]) -> Vec<[f64; 3]> {
    let (x, y, z) = (cat.col(Column::X), cat.col(Column::Y), cat.col(Column::Z));
    rows.iter().map(|&i| [x[i], y[i], z[i]]).collect()
}

fn axes(cat: &HaloCatalog, rows: &[usize]) -> Vec<[f64; 3]> {
    let (x, y, z) = (
        cat.col(Column::AxisAX),
        cat.col(Column::AxisAY),
        cat.col(Column::AxisAZ),
    );
    rows.iter().map(|&i| [x[i], y[i], z[i]]).collect()
}

fn hosts_in(cat: &HaloCatalog, m1: f64, m2: f64) -> Vec<usize> {
    let m = cat.col(Column::Mvir);
    (0..cat.len())
        .filter(|&i| cat.is_host(i) && m[i] >= m1 && m[i] < m2)
        .collect()
}

#[test]
fn mass_function_within_poisson_errors() {
    let (cat, _) = universe();
    let lt = theory();
    let volume = cat.box_size()[0].powi(3);
    let mut chi2 = 0.0;
    let mut k = 0;
    let mut lo = 11.0;
    while lo < 14.5 - 1e-9 {
        let (m1, m2) = (10f64.powf(lo), 10f64.powf(lo + 0.5));
        let observed = hosts_in(cat, m1, m2).len() as f64;
        let expected = lt.number_density(m1, m2) * volume;
        let pull = (observed - expected) / expected.sqrt();
        eprintln!(
            "log M [{lo:.1}, {:.1}): {observed} hosts, expected {expected:.1}, pull {pull:+.2}",
            lo + 0.5
        );
        assert!(
            pull.abs() < 3.5,
            "mass bin {lo}: {observed} vs {expected:.1}"
        );
        chi2 += pull * pull;
        k += 1;
        lo += 0.5;
    }
    // 7 bins: chi^2 above 24.3 has probability 0.001.
    assert!(chi2 < 24.3, "chi2 = {chi2} for {k} bins");
}

#[test]
fn large_scale_clustering_follows_linear_bias() {
    let (cat, _) = universe();
    let lt = theory();
    let r_edges: Vec<f64> = (0..=6).map(|i| 10.0 * 4f64.powf(i as f64 / 6.0)).collect();
    for (m1, m2) in [(1e11, 1e12), (3e12, 1e14)] {
        let rows = hosts_in(cat, m1, m2);
        let pos = positions(cat, &rows);
        let opts = CorrelationOptions {
            r_edges: r_edges.clone(),
            ..CorrelationOptions::cubic(cat.box_size()[0])
        };
        let res = correlate(&Galaxies::new(&pos, None), &opts, None).unwrap();
        // Number-weighted Tinker 2010 bias over the sample's own masses.
        let m = cat.col(Column::Mvir);
        let b = rows.iter().map(|&i| lt.bias(m[i])).sum::<f64>() / rows.len() as f64;
        for (k, &xi) in res.xi.iter().enumerate() {
            let r = res.r_mid[k];
            let expected = b * b * lt.xi_linear(r);
            let ratio = xi / expected;
            eprintln!("M [{m1:.0e}, {m2:.0e}) n={} b={b:.3}: r={r:5.2} xi={xi:.4} b^2 xi_lin={expected:.4} ratio {ratio:.3}", rows.len());
            assert!(
                (ratio - 1.0).abs() < 0.2,
                "M [{m1:e}, {m2:e}) r = {r}: xi {xi} vs {expected}"
            );
        }
    }
}

#[test]
fn subhalo_radii_follow_nfw() {
    let (cat, _) = universe();
    let index: std::collections::HashMap<i64, usize> =
        cat.id().iter().enumerate().map(|(i, &v)| (v, i)).collect();
    let (x, y, z) = (cat.col(Column::X), cat.col(Column::Y), cat.col(Column::Z));
    let (rvir, conc) = (cat.col(Column::Rvir), cat.col(Column::NfwConc));
    let l = cat.box_size()[0];
    // u = NFW enclosed-mass fraction at each subhalo's radius: uniform on [0, 1] if NFW.
    let mut u: Vec<f64> = (0..cat.len())
        .filter(|&i| !cat.is_host(i))
        .map(|i| {
            let h = index[&cat.upid()[i]];
            let d2: f64 = [x, y, z]
                .iter()
                .map(|c| {
                    let d = (c[i] - c[h]).abs();
                    d.min(l - d).powi(2)
                })
                .sum();
            let s = d2.sqrt() / rvir[h];
            assert!(
                s <= 1.0 + 1e-9,
                "subhalo {} outside its host's rvir",
                cat.id()[i]
            );
            nfw_mass(s * conc[h]) / nfw_mass(conc[h])
        })
        .collect();
    let n = u.len();
    assert!(n > 1000, "only {n} subhalos");
    u.sort_by(f64::total_cmp);
    let d = u
        .iter()
        .enumerate()
        .map(|(k, &v)| {
            (v - k as f64 / n as f64)
                .abs()
                .max(((k + 1) as f64 / n as f64 - v).abs())
        })
        .fold(0.0, f64::max);
    // Kolmogorov-Smirnov at the 1% level.
    eprintln!(
        "{n} subhalos, KS distance to NFW {d:.5} (1% critical {:.5})",
        1.63 / (n as f64).sqrt()
    );
    assert!(d < 1.63 / (n as f64).sqrt());
}

#[test]
fn major_axes_follow_the_tidal_field() {
    let (cat, diag) = universe();
    let hosts: Vec<usize> = (0..cat.len()).filter(|&i| cat.is_host(i)).collect();
    let ax = axes(cat, &hosts);
    let mean_cos = hosts
        .iter()
        .zip(&ax)
        .map(|(&i, a)| {
            let s = diag.stretch_axis[i];
            (a[0] * s[0] + a[1] * s[1] + a[2] * s[2]).abs()
        })
        .sum::<f64>()
        / hosts.len() as f64;
    // Isotropic axes give 1/2 with a standard error of 0.289 / sqrt(N).
    let sigma = 0.289 / (hosts.len() as f64).sqrt();
    eprintln!("mean |cos(major axis, tidal stretching)| = {mean_cos:.4} over {} hosts (isotropic 0.5 +- {sigma:.5})", hosts.len());
    assert!(mean_cos > 0.5 + 20.0 * sigma);

    // And so hosts aligned with their axes have omega > 0 and eta > 0 on 2-halo scales.
    let rows = hosts_in(cat, 1e12, 1e16);
    let (pos, ori) = (positions(cat, &rows), axes(cat, &rows));
    let opts = CorrelationOptions {
        r_edges: vec![3.0, 6.0, 12.0, 24.0],
        jackknife: Some(4),
        ..CorrelationOptions::cubic(cat.box_size()[0])
    };
    let res = correlate(&Galaxies::new(&pos, Some(&ori)), &opts, None).unwrap();
    let jk = res.jackknife.as_ref().unwrap();
    for k in 0..3 {
        let (w, ws) = (res.omega[k], jk.omega_var[k].sqrt());
        let (e, es) = (res.eta[k], jk.eta_var[k].sqrt());
        eprintln!(
            "r {:.1}-{:.1}: omega {w:.5} +- {ws:.5}, eta {e:.5} +- {es:.5}",
            opts.r_edges[k],
            opts.r_edges[k + 1]
        );
        assert!(w > 3.0 * ws, "omega at bin {k}: {w} +- {ws}");
    }
    assert!(
        res.eta[0] > 3.0 * jk.eta_var[0].sqrt(),
        "eta at the first bin"
    );
}

#[test]
fn same_seed_same_catalogue_on_any_thread_count() {
    let small = SyntheticUniverse {
        box_size: 80.0,
        grid: 32,
        seed: 9,
        ..Default::default()
    };
    let one = SyntheticUniverse {
        threads: Some(1),
        ..small.clone()
    }
    .generate()
    .unwrap();
    let two = SyntheticUniverse {
        threads: Some(2),
        ..small.clone()
    }
    .generate()
    .unwrap();
    assert_eq!(one.id(), two.id());
    assert_eq!(one.upid(), two.upid());
    for c in Column::ALL
        .into_iter()
        .filter(|c| !c.is_integer() && *c != Column::Rs)
    {
        let (a, b) = (one.col(c), two.col(c));
        assert!(
            a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()),
            "{}",
            c.name()
        );
    }
    let other = SyntheticUniverse { seed: 10, ..small }.generate().unwrap();
    assert_ne!(one.col(Column::X), other.col(Column::X));
}

#[test]
fn bad_settings_are_errors() {
    for (u, what) in [
        (
            SyntheticUniverse {
                box_size: -1.0,
                ..Default::default()
            },
            "box_size",
        ),
        (
            SyntheticUniverse {
                box_size: f64::NAN,
                ..Default::default()
            },
            "box_size",
        ),
        (
            SyntheticUniverse {
                grid: 33,
                ..Default::default()
            },
            "grid",
        ),
        (
            SyntheticUniverse {
                min_host_mass: 0.0,
                ..Default::default()
            },
            "min_host_mass",
        ),
        (
            SyntheticUniverse {
                subhalo_survival: 1.5,
                ..Default::default()
            },
            "subhalo_survival",
        ),
        (
            SyntheticUniverse {
                box_size: 4000.0,
                min_host_mass: 1e9,
                ..Default::default()
            },
            "hosts expected",
        ),
    ] {
        let err = u.generate().unwrap_err().to_string();
        assert!(err.contains(what), "{err}");
    }
}
