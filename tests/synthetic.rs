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

/// Per subhalo row: its host's row and its offset from the host's centre (periodic), Mpc/h.
fn subhalo_offsets(cat: &HaloCatalog) -> Vec<(usize, usize, [f64; 3])> {
    let index: std::collections::HashMap<i64, usize> =
        cat.id().iter().enumerate().map(|(i, &v)| (v, i)).collect();
    let pos = [cat.col(Column::X), cat.col(Column::Y), cat.col(Column::Z)];
    let l = cat.box_size()[0];
    (0..cat.len())
        .filter(|&i| !cat.is_host(i))
        .map(|i| {
            let h = index[&cat.upid()[i]];
            let d = std::array::from_fn(|k| {
                let d = pos[k][i] - pos[k][h];
                d - l * (d / l).round()
            });
            (i, h, d)
        })
        .collect()
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Mean, standard deviation (divisor n - 1) and standard error of the mean of `v`.
fn mean_sd_se(v: &[f64]) -> (f64, f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    (mean, sd, sd / n.sqrt())
}

/// A smaller universe with isotropic subhalos (`subhalo_shape_exponent` 0), made once.
fn isotropic() -> &'static HaloCatalog {
    static U: OnceLock<HaloCatalog> = OnceLock::new();
    U.get_or_init(|| {
        SyntheticUniverse { box_size: 120.0, grid: 48, seed: 5, subhalo_shape_exponent: 0.0, ..Default::default() }
            .generate()
            .unwrap()
    })
}

#[test]
fn subhalo_radii_follow_nfw() {
    let (cat, diag) = universe();
    let (rvir, conc) = (cat.col(Column::Rvir), cat.col(Column::NfwConc));
    let (b_to_a, c_to_a) = (cat.col(Column::BToA), cat.col(Column::CToA));
    let k = SyntheticUniverse::default().subhalo_shape_exponent;
    // Each subhalo's ellipsoidal radius x (the host's axes, axis ratios (b/a)^k and (c/a)^k,
    // the volume of the virial sphere) follows NFW truncated where its direction leaves the
    // virial sphere (x_max, at most 1): u = M(x) / M(x_max) is uniform if so.
    let mut u: Vec<f64> = subhalo_offsets(cat)
        .into_iter()
        .map(|(i, h, d)| {
            let (q, s) = (b_to_a[h].powf(k), c_to_a[h].powf(k));
            let major = (q * s).powf(-1.0 / 3.0);
            let semi = [major, q * major, s * major];
            let x = (0..3).map(|a| (dot(d, diag.host_axes[h][a]) / semi[a]).powi(2)).sum::<f64>().sqrt() / rvir[h];
            let r = dot(d, d).sqrt() / rvir[h];
            assert!(x <= 1.0 + 1e-9 && r <= 1.0 + 1e-9, "subhalo {} outside its host (x = {x}, r / rvir = {r})", cat.id()[i]);
            let x_max = (x / r).min(1.0);
            nfw_mass(x * conc[h]) / nfw_mass(x_max * conc[h])
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
        "{n} subhalos, KS distance to NFW in ellipsoidal radius {d:.5} (1% critical {:.5})",
        1.63 / (n as f64).sqrt()
    );
    assert!(d < 1.63 / (n as f64).sqrt());
}

/// Mean of cos^2 between subhalo offsets and their host's major axis, with its standard error.
fn subhalo_alignment(cat: &HaloCatalog) -> (f64, f64, usize) {
    let ax = [cat.col(Column::AxisAX), cat.col(Column::AxisAY), cat.col(Column::AxisAZ)];
    let c2: Vec<f64> = subhalo_offsets(cat)
        .into_iter()
        .map(|(_, h, d)| {
            let a = [ax[0][h], ax[1][h], ax[2][h]];
            dot(a, d).powi(2) / (dot(a, a) * dot(d, d))
        })
        .collect();
    let (mean, _, se) = mean_sd_se(&c2);
    (mean, se, c2.len())
}

#[test]
fn subhalos_lie_along_the_host_major_axis() {
    // N-body: 0.515 +- 0.015 over the 626 subhalos of a real 25 Mpc/h Rockstar box (hosts by
    // the containment rule); isotropic offsets give 1/3. The default exponent is calibrated to
    // it; the range is that box's 2-sigma interval.
    let (mean, se, n) = subhalo_alignment(&universe().0);
    eprintln!("<cos^2(subhalo offset, host major axis)> = {mean:.4} +- {se:.4} over {n} subhalos");
    assert!((0.485..=0.545).contains(&mean), "{mean} +- {se}");
    // With the exponent at 0 they are isotropic.
    let (mean, se, n) = subhalo_alignment(isotropic());
    eprintln!("exponent 0: <cos^2> = {mean:.4} +- {se:.4} over {n} subhalos");
    assert!((mean - 1.0 / 3.0).abs() < 4.0 * se, "{mean} +- {se}");
}

/// Over the pairs of a host and one of its own subhalos closer than 1 Mpc/h: the mean of
/// g = (a . rhat)^2 - 1/3 (the host's major axis a towards the subhalo: the central's part of
/// omega) and of h = (a . e)^2 - 1/3 (with the subhalo's axis e: the central-satellite part of
/// eta), with their standard errors.
fn central_satellite_marks(cat: &HaloCatalog) -> [(f64, f64); 2] {
    let ax = [cat.col(Column::AxisAX), cat.col(Column::AxisAY), cat.col(Column::AxisAZ)];
    let axis = |i: usize| {
        let a = [ax[0][i], ax[1][i], ax[2][i]];
        a.map(|v| v / dot(a, a).sqrt())
    };
    let (g, h): (Vec<f64>, Vec<f64>) = subhalo_offsets(cat)
        .into_iter()
        .filter(|(_, _, d)| dot(*d, *d) < 1.0)
        .map(|(i, host, d)| {
            let a = axis(host);
            (dot(a, d).powi(2) / dot(d, d) - 1.0 / 3.0, dot(a, axis(i)).powi(2) - 1.0 / 3.0)
        })
        .unzip();
    [g, h].map(|v| {
        let (mean, _, se) = mean_sd_se(&v);
        (mean, se)
    })
}

#[test]
fn centrals_align_with_their_own_satellites() {
    // Aligned subhalos: a central's axis points towards its satellites and along their radial
    // axes, so the central-satellite parts of omega and eta do not vanish (at mu_cen = mu_sat
    // = 1 they are these means times the order parameters).
    let [(g, g_se), (h, h_se)] = central_satellite_marks(&universe().0);
    eprintln!("central-own subhalo pairs below 1 Mpc/h: <g> = {g:.4} +- {g_se:.4}, <h> = {h:.4} +- {h_se:.4}");
    assert!(g > 20.0 * g_se && h > 20.0 * h_se);
    // Isotropic subhalos: both vanish.
    let [(g, g_se), (h, h_se)] = central_satellite_marks(isotropic());
    eprintln!("exponent 0: <g> = {g:.4} +- {g_se:.4}, <h> = {h:.4} +- {h_se:.4}");
    assert!(g.abs() < 4.0 * g_se && h.abs() < 4.0 * h_se);
}

#[test]
fn host_shapes_follow_the_fit() {
    use iaemu::halos::synthetic::{B_TO_A_BETA, C_TO_A_AT_1E12, C_TO_A_MASS_SLOPE, C_TO_A_SCATTER};
    let (cat, diag) = universe();
    let (m, b_to_a, c_to_a) = (cat.col(Column::Mvir), cat.col(Column::BToA), cat.col(Column::CToA));
    let mean_u = B_TO_A_BETA.0 / (B_TO_A_BETA.0 + B_TO_A_BETA.1);
    let stats = |v: &[f64]| {
        let (mean, sd, se) = mean_sd_se(v);
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        (mean, sd, s[s.len() / 2], se)
    };
    for (lo, hi) in [(10.6, 11.0), (11.0, 11.5), (11.5, 12.0), (12.0, 12.5), (12.5, 13.0), (13.0, 14.0), (14.0, 16.0)] {
        let rows = hosts_in(cat, 10f64.powf(lo), 10f64.powf(hi));
        if rows.len() < 30 {
            continue;
        }
        let s: Vec<f64> = rows.iter().map(|&i| c_to_a[i]).collect();
        let q: Vec<f64> = rows.iter().map(|&i| b_to_a[i]).collect();
        assert!(rows.iter().all(|&i| 0.0 < c_to_a[i] && c_to_a[i] <= b_to_a[i] && b_to_a[i] <= 1.0));
        // The fit at each host's mass, averaged (the truncation to [0.2, 0.99] at 3 or more
        // standard deviations moves the mean by less than 0.002).
        let fit_s = rows.iter().map(|&i| C_TO_A_AT_1E12 * (m[i] / 1e12).powf(C_TO_A_MASS_SLOPE)).sum::<f64>() / rows.len() as f64;
        let fit_q = fit_s + (1.0 - fit_s) * mean_u;
        let ((ms, sds, meds, ses), (mq, sdq, medq, seq)) = (stats(&s), stats(&q));
        eprintln!(
            "log M {lo}-{hi}: {} hosts, c/a median {meds:.3} mean {ms:.4} (fit {fit_s:.4}) sd {sds:.3}; b/a median {medq:.3} mean {mq:.4} (fit {fit_q:.4}) sd {sdq:.3}",
            rows.len()
        );
        assert!((ms - fit_s).abs() < 4.0 * ses + 0.002, "c/a mean {ms} vs {fit_s}");
        assert!((mq - fit_q).abs() < 4.0 * seq + 0.002, "b/a mean {mq} vs {fit_q}");
        // Spread: the scatter, a little less from the truncation, plus the fit's change over
        // the bin.
        assert!((C_TO_A_SCATTER - 0.015..=C_TO_A_SCATTER + 0.015).contains(&sds), "c/a sd {sds}");
    }
    // The axes are an orthonormal triad with the major axis the catalogue's.
    let ax = [cat.col(Column::AxisAX), cat.col(Column::AxisAY), cat.col(Column::AxisAZ)];
    for (h, t) in diag.host_axes.iter().enumerate().step_by(997) {
        for a in 0..3 {
            for b in 0..3 {
                let expected = if a == b { 1.0 } else { 0.0 };
                assert!((dot(t[a], t[b]) - expected).abs() < 1e-12);
            }
        }
        let major = [ax[0][h], ax[1][h], ax[2][h]];
        assert!((dot(major, t[0]).abs() - 1.0).abs() < 1e-12);
    }
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
