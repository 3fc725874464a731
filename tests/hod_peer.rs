//! iaemu's galaxy population and correlation functions against halotools 0.9.4 on the same
//! halos: the fixture in tests/fixtures/halotools_hod holds what halotools (Zheng07Cens,
//! Zheng07Sats, TrivialPhaseSpace, SubhaloPhaseSpace, CentralAlignment,
//! RadialSatelliteAlignment, then tpcf, ed_3d, ee_3d) measured on iaemu's synthetic universe
//! (box 100 Mpc/h, grid 32, seed 21), as realisation means and variances for four model points
//! (made by tests/peers/make_halotools_hod_fixture.py, see the fixture's README).
//!
//! Here the same universe is regenerated, populated by `iaemu::hod` with its own random
//! numbers, and the realisation means are compared bin by bin: the difference must be within
//! K combined standard errors, sqrt(var_iaemu / R_iaemu + var_halotools / R_halotools). Both
//! codes populate the same halos, so the scatter that matters is only that of the
//! occupation, placement and orientation draws, which is what the realisation variances hold.
//! `HOD_PEER_ALL_BINS=1` prints every bin, not only the worst one per statistic.

use std::path::Path;
use std::time::Instant;

use iaemu::halos::{Column, HaloCatalog, SyntheticUniverse};
use iaemu::hod::{populate, simulate, HodParams, PopulateOptions, SimulateOptions};
use serde_json::Value;

/// Realisations per point on the iaemu side.
const R_IAEMU: usize = 50;
/// Largest allowed |difference| / combined standard error in any bin. With R = 50 on both
/// sides the pull is close to Student-t with ~98 degrees of freedom; 4 leaves a false-alarm
/// probability of about 1e-4 per bin (~3% over the ~240 bins compared). With the test's seeds
/// the largest pull against this fixture (made from the triaxial halos) is 3.18. Against the
/// fixture before it (spherical hosts, isotropic subhalos), twenty other iaemu seed sets all
/// passed, the largest single pull being 3.75: omega in bin 12
/// of `m20_mu+0.8`, where the fixture's halotools mean (8.5e-3) sits about 2.9 of its standard
/// errors below iaemu's 600-realisation mean (1.18e-2) and two earlier halotools runs (1.10e-2,
/// 1.14e-2).
const K: f64 = 4.0;
/// Largest allowed mean squared pull over the bins of one statistic at one point: a guard
/// against an offset of about 2.5 standard errors in every bin, which the per-bin test alone
/// would let through. It is loose on purpose: the bins are strongly correlated (over 40
/// halotools realisations of the -19 point, the xi bins beyond 1.6 Mpc/h have a mean
/// correlation coefficient of 0.7 with one another, and xi at 0.3-1.3 Mpc/h follows the number
/// of satellites in the hosts above 1e14 with a coefficient of 0.85-0.93), so the mean squared
/// pull fluctuates far more than chi^2_20 / 20 would. (Measured against the fixture before the
/// triaxial halos:) an earlier fixture whose -19, mu = +0.8
/// xi sat coherently low beyond 1.6 Mpc/h (by about 2 halotools standard errors against an
/// independent 300-realisation halotools run, which iaemu matched to 0.3%) gave mean squared
/// pulls of 2.2 on average over twelve iaemu seed sets, up to 3.7. Twenty other iaemu seed sets
/// against that fixture gave at most 3.5; with the test's seeds, this one gives at most 3.6.
const MAX_MEAN_SQUARED_PULL: f64 = 6.0;

fn fixture() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/halotools_hod/expected.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("valid JSON")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().unwrap_or(f64::NAN))
        .collect()
}

/// The universe the fixture was made from, checked against what halotools read from the file.
fn universe(want: &Value) -> HaloCatalog {
    let h = &want["halos"];
    let s = &h["settings"];
    let halos = SyntheticUniverse {
        box_size: s["box"].as_f64().unwrap(),
        grid: s["grid"].as_u64().unwrap() as usize,
        seed: s["seed"].as_u64().unwrap(),
        ..Default::default()
    }
    .generate()
    .unwrap();
    assert_eq!(halos.len() as u64, h["rows"].as_u64().unwrap(), "rows");
    assert_eq!(
        halos.n_hosts() as u64,
        h["hosts"].as_u64().unwrap(),
        "hosts"
    );
    assert_eq!(
        halos.central_hosts(300.0).len() as u64,
        h["hosts_above_300_particles"].as_u64().unwrap(),
        "hosts above 300 particles"
    );
    assert_eq!(halos.box_size().to_vec(), floats(&h["Lbox"]));
    assert_eq!(halos.particle_mass(), h["particle_mass"].as_f64().unwrap());
    let sums = h["column_sums"].as_object().unwrap();
    assert!(sums.len() >= 5);
    for (name, theirs) in sums {
        let c = Column::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .unwrap_or_else(|| panic!("unknown column {name}"));
        let ours: f64 = halos.col(c).iter().sum();
        let theirs = theirs.as_f64().unwrap();
        assert!(
            (ours - theirs).abs() <= 1e-10 * theirs.abs().max(1.0),
            "{name}: sum {ours} here vs {theirs} in the file halotools read"
        );
    }
    halos
}

/// Mean and variance (divisor n - 1).
fn mean_var(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    (
        m,
        x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0),
    )
}

#[test]
fn populations_and_correlations_match_halotools() {
    let want = fixture();
    assert!(want["peer"]
        .as_str()
        .unwrap()
        .starts_with("halotools 0.9.4"));
    let t = Instant::now();
    let halos = universe(&want);
    eprintln!(
        "universe: {} halos ({} hosts) regenerated and matched in {:.1} s",
        halos.len(),
        halos.n_hosts(),
        t.elapsed().as_secs_f64()
    );

    let opts = SimulateOptions::default();
    let edges = floats(&want["r_edges"]);
    assert_eq!(edges.len(), opts.r_edges.len());
    for (a, b) in edges.iter().zip(&opts.r_edges) {
        assert!((a - b).abs() <= 1e-12 * b, "bin edges: {a} vs {b}");
    }

    let points = want["points"].as_array().unwrap();
    assert!(points.len() >= 3);
    let mut mus = Vec::new();
    let mut failures = Vec::new();
    for (ip, point) in points.iter().enumerate() {
        let name = point["name"].as_str().unwrap();
        let p: [f64; 7] = floats(&point["params"]).try_into().unwrap();
        mus.push((p[0], p[2]));
        let params = HodParams::from_array(p).unwrap();
        let r_h = point["realizations"].as_u64().unwrap() as f64;
        let t = Instant::now();
        let sim = simulate(&halos, &params, R_IAEMU, 7000 + ip as u64, &opts).unwrap();
        let r_i = R_IAEMU as f64;

        // Galaxy counts, centrals and satellites apart.
        let (mut n_cen, mut n_sat) = (Vec::new(), Vec::new());
        for k in 0..R_IAEMU {
            let g = populate(
                &halos,
                &params,
                9000 + 100 * ip as u64 + k as u64,
                &PopulateOptions::default(),
            )
            .unwrap();
            let c = g.is_central.iter().filter(|&&c| c).count();
            n_cen.push(c as f64);
            n_sat.push((g.len() - c) as f64);
        }
        for (what, ours) in [("n_cen", &n_cen), ("n_sat", &n_sat)] {
            let (m, v) = mean_var(ours);
            let (mh, vh) = (
                point[format!("{what}_mean")].as_f64().unwrap(),
                point[format!("{what}_var")].as_f64().unwrap(),
            );
            let pull = (m - mh) / (v / r_i + vh / r_h).sqrt();
            eprintln!("{name}: <{what}> iaemu {m:.1} (sd {:.1}) vs halotools {mh:.1} (sd {:.1}): pull {pull:+.2}", v.sqrt(), vh.sqrt());
            if pull.abs() > K {
                failures.push(format!("{name} {what}: pull {pull:.2}"));
            }
        }
        let (m_tot, _) = mean_var(&sim.n_galaxies.iter().map(|&n| n as f64).collect::<Vec<_>>());
        eprintln!(
            "{name}: simulate's mean galaxy count {m_tot:.1} (R = {R_IAEMU}) in {:.1} s",
            t.elapsed().as_secs_f64()
        );

        for (stat, ours, ours_var) in [
            ("xi", &sim.xi, &sim.xi_var),
            ("omega", &sim.omega, &sim.omega_var),
            ("eta", &sim.eta, &sim.eta_var),
        ] {
            let theirs = floats(&point[stat]);
            let theirs_var = floats(&point[format!("{stat}_var")]);
            assert_eq!(theirs.len(), ours.len());
            let mut pulls = Vec::new();
            for b in 0..ours.len() {
                let (a, va, h, vh) = (ours[b], ours_var[b], theirs[b], theirs_var[b]);
                if !(a.is_finite() && va.is_finite() && h.is_finite() && vh.is_finite()) {
                    continue;
                }
                let se = (va / r_i + vh / r_h).sqrt();
                assert!(se > 0.0, "{name} {stat}[{b}]: zero scatter on both sides");
                pulls.push((b, (a - h) / se, a, h, se));
            }
            assert!(
                pulls.len() >= 18,
                "{name} {stat}: only {} bins finite on both sides",
                pulls.len()
            );
            if std::env::var_os("HOD_PEER_ALL_BINS").is_some() {
                for &(b, pull, a, h, se) in &pulls {
                    eprintln!(
                        "  {name} {stat:>5}[{b:2}] r {:7.3}-{:7.3}: iaemu {a:+.5e} halotools {h:+.5e} ratio {:.4} se {se:.2e} pull {pull:+.2}",
                        edges[b],
                        edges[b + 1],
                        a / h
                    );
                }
            }
            let msp = pulls.iter().map(|p| p.1 * p.1).sum::<f64>() / pulls.len() as f64;
            let worst = pulls
                .iter()
                .max_by(|x, y| x.1.abs().total_cmp(&y.1.abs()))
                .unwrap();
            eprintln!(
                "{name} {stat:>5}: {} bins, worst pull {:+.2} in bin {} (r {:.3}-{:.3}: iaemu {:.5e} vs halotools {:.5e}, se {:.2e}), mean squared pull {msp:.2}",
                pulls.len(),
                worst.1,
                worst.0,
                edges[worst.0],
                edges[worst.0 + 1],
                worst.2,
                worst.3,
                worst.4
            );
            for &(b, pull, a, h, se) in &pulls {
                if pull.abs() > K {
                    failures.push(format!(
                        "{name} {stat}[{b}] (r {:.3}-{:.3}): iaemu {a:.6e} vs halotools {h:.6e}, pull {pull:.2} (se {se:.2e})",
                        edges[b],
                        edges[b + 1]
                    ));
                }
            }
            if msp > MAX_MEAN_SQUARED_PULL {
                failures.push(format!(
                    "{name} {stat}: mean squared pull {msp:.2} over {} bins",
                    pulls.len()
                ));
            }
        }
    }
    // The requirement: mu of +0.8, 0 and -0.5, over two HOD points.
    for mu in [0.8, 0.0, -0.5] {
        assert!(mus.iter().any(|&(m, _)| m == mu), "no point with mu = {mu}");
    }
    let mut hod: Vec<f64> = mus.iter().map(|m| m.1).collect();
    hod.dedup();
    assert!(hod.len() >= 2, "fewer than two HOD points");
    assert!(
        failures.is_empty(),
        "iaemu differs from halotools:\n  {}",
        failures.join("\n  ")
    );
}
