//! Galaxies in halos: the Watson sampler against its closed form, parameter checks, mean
//! occupations against the Zheng07 formulas, where satellites go, the signs of omega, and
//! determinism across thread counts.

use std::collections::HashMap;
use std::sync::OnceLock;

use iaemu::halos::nfw::nfw_mass;
use iaemu::halos::{Column, HaloCatalog, SyntheticUniverse};
use iaemu::hod::watson::{kappa, Watson};
use iaemu::hod::{populate, simulate, HodParams, PopulateOptions, SatelliteModel, SimulateOptions};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A 150 Mpc/h synthetic universe, made once.
fn halos() -> &'static HaloCatalog {
    static H: OnceLock<HaloCatalog> = OnceLock::new();
    H.get_or_init(|| {
        SyntheticUniverse {
            box_size: 150.0,
            grid: 64,
            seed: 11,
            ..Default::default()
        }
        .generate()
        .unwrap()
    })
}

/// The -20 magnitude point of Zheng et al. (2007) Table 1, with alignments.
fn point(mu_cen: f64, mu_sat: f64) -> HodParams {
    HodParams::from_array([mu_cen, mu_sat, 12.02, 0.26, 11.38, 13.31, 1.06]).unwrap()
}

/// Dawson's function D(x) = exp(-x^2) int_0^x exp(y^2) dy: Simpson for x < 5, the asymptotic
/// series beyond (relative error < 1e-8 there).
fn dawson(x: f64) -> f64 {
    if x < 5.0 {
        let n = 20_000;
        let h = x / n as f64;
        let f = |y: f64| (y * y - x * x).exp();
        let mut s = f(0.0) + f(x);
        for i in 1..n {
            s += f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
        }
        s * h / 3.0
    } else {
        let y = 1.0 / (2.0 * x * x);
        (1.0 + y + 3.0 * y * y + 15.0 * y.powi(3) + 105.0 * y.powi(4) + 945.0 * y.powi(5))
            / (2.0 * x)
    }
}

/// <t^2> under exp(-kappa t^2) on [-1, 1], in closed form:
/// kappa > 0: 1/(2 kappa) - exp(-kappa) / (kappa Z), Z = sqrt(pi/kappa) erf(sqrt kappa);
/// kappa = -lambda < 0: 1 / (2 sqrt(lambda) D(sqrt lambda)) - 1/(2 lambda).
fn mean_t2(kappa: f64) -> f64 {
    if kappa == 0.0 {
        1.0 / 3.0
    } else if kappa > 0.0 {
        let z = (std::f64::consts::PI / kappa).sqrt() * libm::erf(kappa.sqrt());
        0.5 / kappa - (-kappa).exp() / (kappa * z)
    } else {
        let l = -kappa;
        1.0 / (2.0 * l.sqrt() * dawson(l.sqrt())) - 0.5 / l
    }
}

#[test]
fn watson_matches_its_closed_form_for_every_strength() {
    let mut r = ChaCha8Rng::seed_from_u64(1);
    let n = 200_000;
    let mut mus: Vec<f64> = [
        -1e4, -1e3, -100.0, -10.0, -3.0, -1.0, -0.3, -0.01, 0.01, 0.3, 1.0, 3.0, 10.0, 100.0, 1e3,
        1e4,
    ]
    .iter()
    .map(|&k: &f64| -2.0 / std::f64::consts::PI * k.atan())
    .collect();
    mus.extend([-1.0, 0.0, 1.0, 0.99912, 0.9991, 0.99915, -0.99912]);
    for mu in mus {
        let w = Watson::new(mu);
        let t: Vec<f64> = (0..n).map(|_| w.sample_cos(&mut r)).collect();
        assert!(
            t.iter().all(|v| v.is_finite() && v.abs() <= 1.0),
            "mu = {mu}"
        );
        let t2: Vec<f64> = t.iter().map(|v| v * v).collect();
        let mean = t2.iter().sum::<f64>() / n as f64;
        let var = t2.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let expected = if mu == 1.0 {
            1.0
        } else if mu == -1.0 {
            0.0
        } else {
            mean_t2(kappa(mu))
        };
        let tol = 5.0 * (var / n as f64).sqrt() + 1e-12;
        assert!(
            (mean - expected).abs() <= tol,
            "mu = {mu} (kappa {}): <t^2> {mean} vs {expected} (tol {tol})",
            kappa(mu)
        );
        // Symmetric in sign.
        let positive = t.iter().filter(|&&v| v > 0.0).count() as f64 / n as f64;
        assert!(
            mu == -1.0 || (positive - 0.5).abs() < 0.01,
            "mu = {mu}: {positive} positive"
        );
    }
    // Axes are unit vectors with the sampled cosine to the reference.
    let w = Watson::new(0.7);
    let reference = [0.48, 0.6, 0.64];
    for _ in 0..1000 {
        let a = w.sample_axis(reference, &mut r);
        assert!((a.iter().map(|x| x * x).sum::<f64>() - 1.0).abs() < 1e-12);
    }
}

#[test]
fn parameters_are_checked() {
    let ok = [0.5, 0.5, 12.0, 0.3, 12.0, 13.0, 1.0];
    assert!(HodParams::from_array(ok).is_ok());
    for (k, bad, what) in [
        (0, f64::NAN, "mu_cen"),
        (1, 1.01, "mu_sat"),
        (0, -1.5, "mu_cen"),
        (3, 0.0, "sigma_logM"),
        (3, -0.1, "sigma_logM"),
        (6, f64::INFINITY, "alpha"),
        (2, f64::NAN, "logMmin"),
    ] {
        let mut v = ok;
        v[k] = bad;
        let err = HodParams::from_array(v).unwrap_err().to_string();
        assert!(err.contains(what), "{err}");
    }
    // A point that puts no galaxies in the box is an error, not NaN output.
    let empty = HodParams::from_array([0.0, 0.0, 16.5, 0.1, 16.5, 17.0, 1.0]).unwrap();
    let err = populate(halos(), &empty, 1, &PopulateOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("at least 2"), "{err}");
    assert!(simulate(halos(), &empty, 2, 1, &SimulateOptions::default()).is_err());
}

#[test]
fn mean_occupations_follow_zheng07() {
    let h = halos();
    let p = point(0.0, 0.0);
    let hosts = h.central_hosts(300.0);
    let index: HashMap<i64, usize> = hosts.iter().map(|&i| (h.id()[i], i)).collect();
    let mvir = h.col(Column::Mvir);
    let bin = |m: f64| ((m.log10() - 11.0) / 0.5).floor() as isize;
    let (mut cen, mut sat) = (HashMap::<isize, f64>::new(), HashMap::<isize, f64>::new());
    let (mut exp_cen, mut exp_sat) = (HashMap::<isize, f64>::new(), HashMap::<isize, f64>::new());
    let reps = 5;
    for seed in 0..reps {
        let g = populate(h, &p, seed, &PopulateOptions::default()).unwrap();
        for (k, id) in g.host_id.iter().enumerate() {
            let b = bin(mvir[index[id]]);
            *(if g.is_central[k] { &mut cen } else { &mut sat })
                .entry(b)
                .or_default() += 1.0;
        }
    }
    for &i in &hosts {
        *exp_cen.entry(bin(mvir[i])).or_default() += reps as f64 * p.mean_centrals(mvir[i]);
        *exp_sat.entry(bin(mvir[i])).or_default() += reps as f64 * p.mean_satellites(mvir[i]);
    }
    let mut checked = 0;
    for (b, &e) in &exp_cen {
        let o = cen.get(b).copied().unwrap_or(0.0);
        // Binomial variance is below the Poisson one: sqrt(e) is a safe upper bound.
        assert!(
            (o - e).abs() <= 4.0 * e.sqrt() + 1.0,
            "centrals, bin {b}: {o} vs {e}"
        );
        checked += 1;
    }
    for (b, &e) in &exp_sat {
        let o = sat.get(b).copied().unwrap_or(0.0);
        assert!(
            (o - e).abs() <= 4.0 * e.sqrt() + 1.0,
            "satellites, bin {b}: {o} vs {e}"
        );
    }
    assert!(checked >= 6);
    // Multiplying satellites by <Ncen> lowers them where <Ncen> < 1.
    let times = PopulateOptions {
        satellites_times_centrals: true,
        ..Default::default()
    };
    let n_plain = populate(h, &p, 9, &PopulateOptions::default())
        .unwrap()
        .is_central
        .iter()
        .filter(|c| !**c)
        .count();
    let n_times = populate(h, &p, 9, &times)
        .unwrap()
        .is_central
        .iter()
        .filter(|c| !**c)
        .count();
    let expected_times: f64 = hosts
        .iter()
        .map(|&i| p.mean_satellites(mvir[i]) * p.mean_centrals(mvir[i]))
        .sum();
    assert!(
        n_times < n_plain && (n_times as f64 - expected_times).abs() < 5.0 * expected_times.sqrt()
    );
}

#[test]
fn satellites_take_the_heaviest_subhalos_first() {
    let h = halos();
    let p = HodParams::from_array([0.0, 0.0, 11.5, 0.3, 11.0, 12.3, 1.0]).unwrap();
    let g = populate(h, &p, 3, &PopulateOptions::default()).unwrap();
    let (mpeak, x, y, z) = (
        h.col(Column::Mpeak),
        h.col(Column::X),
        h.col(Column::Y),
        h.col(Column::Z),
    );
    let mut subs: HashMap<i64, Vec<usize>> = HashMap::new();
    for i in 0..h.len() {
        if !h.is_host(i) {
            subs.entry(h.upid()[i]).or_default().push(i);
        }
    }
    for list in subs.values_mut() {
        list.sort_by(|&a, &b| mpeak[b].total_cmp(&mpeak[a]).then(a.cmp(&b)));
    }
    let mut by_host: HashMap<i64, Vec<[f64; 3]>> = HashMap::new();
    for k in 0..g.len() {
        if !g.is_central[k] {
            by_host
                .entry(g.host_id[k])
                .or_default()
                .push(g.positions[k]);
        }
    }
    let mut on_subhalos = 0;
    for (host, sats) in &by_host {
        let own = subs.get(host).map(Vec::as_slice).unwrap_or(&[]);
        for (j, s) in sats.iter().enumerate().take(own.len()) {
            let i = own[j];
            assert_eq!(*s, [x[i], y[i], z[i]], "host {host} satellite {j}");
            on_subhalos += 1;
        }
    }
    assert!(on_subhalos > 1000, "{on_subhalos}");
}

#[test]
fn nfw_satellites_follow_nfw() {
    let h = halos();
    let p = HodParams::from_array([0.0, 0.0, 11.5, 0.3, 11.0, 12.3, 1.0]).unwrap();
    let opts = PopulateOptions {
        satellites: SatelliteModel::Nfw,
        ..Default::default()
    };
    let g = populate(h, &p, 5, &opts).unwrap();
    let index: HashMap<i64, usize> = (0..h.len()).map(|i| (h.id()[i], i)).collect();
    let l = h.box_size()[0];
    let (rvir, conc) = (h.col(Column::Rvir), h.col(Column::NfwConc));
    let pos = [h.col(Column::X), h.col(Column::Y), h.col(Column::Z)];
    let mut u: Vec<f64> = (0..g.len())
        .filter(|&k| !g.is_central[k])
        .map(|k| {
            let i = index[&g.host_id[k]];
            let d2: f64 = (0..3)
                .map(|a| {
                    let d = (g.positions[k][a] - pos[a][i]).abs();
                    d.min(l - d).powi(2)
                })
                .sum();
            let c = conc[i].clamp(2.0, 20.0);
            nfw_mass(d2.sqrt() / rvir[i] * c) / nfw_mass(c)
        })
        .collect();
    let n = u.len();
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
    assert!(
        n > 5000 && d < 1.63 / (n as f64).sqrt(),
        "{n} satellites, KS distance {d}"
    );
}

/// Mean omega over the bins below `r_max` and its standard error from the realisation scatter.
fn omega_below(s: &iaemu::hod::Simulation, r_max: f64, reps: usize) -> (f64, f64) {
    let bins: Vec<usize> = (0..s.r_mid.len())
        .filter(|&k| s.r_edges[k + 1] <= r_max && s.omega[k].is_finite())
        .collect();
    let m = bins.iter().map(|&k| s.omega[k]).sum::<f64>() / bins.len() as f64;
    let v = bins
        .iter()
        .map(|&k| s.omega_var[k] / reps as f64)
        .sum::<f64>()
        / (bins.len() * bins.len()) as f64;
    (m, v.sqrt())
}

#[test]
fn omega_sign_follows_satellite_alignment() {
    let h = halos();
    let reps = 4;
    let opts = SimulateOptions::default();
    let (up, up_err) = omega_below(
        &simulate(h, &point(0.0, 0.8), reps, 2, &opts).unwrap(),
        0.6,
        reps,
    );
    let (down, down_err) = omega_below(
        &simulate(h, &point(0.0, -0.5), reps, 2, &opts).unwrap(),
        0.6,
        reps,
    );
    let (none, none_err) = omega_below(
        &simulate(h, &point(0.0, 0.0), reps, 2, &opts).unwrap(),
        0.6,
        reps,
    );
    eprintln!("1-halo omega: mu_sat 0.8 {up:.4} +- {up_err:.4}, -0.5 {down:.4} +- {down_err:.4}, 0 {none:.4} +- {none_err:.4}");
    assert!(up > 5.0 * up_err, "mu_sat = 0.8: {up} +- {up_err}");
    assert!(
        down < -5.0 * down_err,
        "mu_sat = -0.5: {down} +- {down_err}"
    );
    assert!(none.abs() < 4.0 * none_err, "mu = 0: {none} +- {none_err}");
}

#[test]
fn same_seed_same_result_on_any_thread_count() {
    let h = halos();
    let p = point(0.6, -0.3);
    let one = SimulateOptions {
        threads: Some(1),
        keep_realizations: true,
        ..Default::default()
    };
    let two = SimulateOptions {
        threads: Some(2),
        ..one.clone()
    };
    let a = simulate(h, &p, 2, 42, &one).unwrap();
    let b = simulate(h, &p, 2, 42, &two).unwrap();
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a.xi), bits(&b.xi));
    assert_eq!(bits(&a.omega), bits(&b.omega));
    assert_eq!(bits(&a.eta_var), bits(&b.eta_var));
    assert_eq!(a.n_galaxies, b.n_galaxies);
    // Realisations differ from each other, and the variance is their scatter.
    let runs = a.realizations.as_ref().unwrap();
    assert_ne!(runs[0].xi, runs[1].xi);
    let k = 10;
    let m = (runs[0].xi[k] + runs[1].xi[k]) / 2.0;
    let v = (runs[0].xi[k] - m).powi(2) + (runs[1].xi[k] - m).powi(2);
    assert!((a.xi_var[k] - v).abs() <= 1e-12 * v.abs().max(1e-300));
    let c = simulate(h, &p, 2, 43, &one).unwrap();
    assert_ne!(a.xi, c.xi);
}

#[test]
fn running_means_and_variances_match_the_realisations() {
    // 150 realisations: more than one block of them, so the running sums cross blocks. The
    // mean and variance (divisor R - 1) of the kept measurements, by two passes here.
    let h = halos();
    let opts = SimulateOptions { keep_realizations: true, ..Default::default() };
    let s = simulate(h, &point(0.5, 0.2), 150, 5, &opts).unwrap();
    let runs = s.realizations.as_ref().unwrap();
    assert_eq!(runs.len(), 150);
    type Get = fn(&iaemu::corr::Correlation) -> &Vec<f64>;
    let stats: [(Get, &[f64], &[f64]); 3] = [
        (|c| &c.xi, &s.xi, &s.xi_var),
        (|c| &c.omega, &s.omega, &s.omega_var),
        (|c| &c.eta, &s.eta, &s.eta_var),
    ];
    for (get, mean, var) in stats {
        for b in 0..mean.len() {
            let values: Vec<f64> = runs.iter().map(|c| get(c)[b]).collect();
            if values.iter().any(|v| v.is_nan()) {
                assert!(mean[b].is_nan(), "bin {b}: an empty bin in one realisation makes the mean NaN");
                continue;
            }
            let m = values.iter().sum::<f64>() / 150.0;
            let v = values.iter().map(|x| (x - m).powi(2)).sum::<f64>() / 149.0;
            assert!((mean[b] - m).abs() <= 1e-12 * m.abs().max(v.sqrt()), "bin {b}: mean {} against {m}", mean[b]);
            assert!((var[b] - v).abs() <= 1e-10 * v, "bin {b}: variance {} against {v}", var[b]);
        }
    }
    // Keeping more realisations than the memory budget allows is refused before any work.
    match simulate(h, &point(0.5, 0.2), 1 << 40, 5, &opts) {
        Err(iaemu::Error::OutOfMemory(m)) => assert!(m.contains("memory budget"), "{m}"),
        r => panic!("2^40 kept realisations: {:?}", r.map(|s| s.n_galaxies.len())),
    }
}
