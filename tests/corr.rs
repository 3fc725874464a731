//! The correlation engine against the brute-force reference, invariances, null tests and bad
//! input.

mod common;

use common::*;
use iaemu::corr::{self, Correlation, CorrelationOptions, Galaxies, XiNormalization};
use iaemu::Error;

fn options(l: [f64; 3], edges: Vec<f64>) -> CorrelationOptions {
    CorrelationOptions {
        r_edges: edges,
        box_size: l,
        ..CorrelationOptions::cubic(1.0)
    }
}

fn check_against(got: &Correlation, want: &Reference) {
    assert_eq!(got.pairs, want.pairs, "pair counts");
    assert_close(
        "xi",
        &got.xi,
        &want.xi,
        1e-9 * want.xi.iter().fold(1.0f64, |m, v| m.max(v.abs())),
    );
    assert_close("omega", &got.omega, &want.omega, 1e-10);
    assert_close("eta", &got.eta, &want.eta, 1e-10);
}

fn linear_edges(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    (0..=n)
        .map(|k| lo + (hi - lo) * k as f64 / n as f64)
        .collect()
}

#[test]
fn auto_matches_brute_force_random_and_clustered() {
    let l = [40.0; 3];
    for (name, s) in [
        ("uniform", uniform(2500, l, 1)),
        ("clustered", clustered(2500, 40.0, 2)),
    ] {
        let got =
            corr::correlate(&s.galaxies(), &options(l, corr::default_r_edges()), None).unwrap();
        let want = brute_all(&s, None, l, &corr::default_r_edges(), false);
        assert!(
            want.pairs.iter().sum::<u64>() > 50_000,
            "{name}: too few pairs to test"
        );
        check_against(&got, &want);
    }
}

#[test]
fn weights_boxes_edges_and_normalisation_match_brute_force() {
    // Non-cubic box, linear bins, weights, N(N-1).
    let l = [40.0, 34.0, 52.0];
    let mut s = clustered(2000, 34.0, 3);
    s.w = Some(random_weights(2000, 4));
    let edges = linear_edges(0.5, 12.0, 9);
    let mut o = options(l, edges.clone());
    o.xi_normalization = XiNormalization::NNMinusOne;
    let got = corr::correlate(&s.galaxies(), &o, None).unwrap();
    check_against(&got, &brute(&s, None, l, &edges, true, &all, &all, 1.0));
    let wp = got.weighted_pairs.expect("weighted pairs reported");
    assert!(wp
        .iter()
        .zip(&got.pairs)
        .any(|(w, &p)| (w - p as f64).abs() > 1e-6));
}

#[test]
fn boxes_barely_larger_than_two_r_max_match_brute_force() {
    // 33 Mpc/h: no alias-free grid exists, every pair takes the minimum image.
    // 36 Mpc/h: a fine grid with a wide stencil.
    for side in [33.0, 36.0, 48.0] {
        let l = [side; 3];
        let s = uniform(1500, l, 5);
        let got =
            corr::correlate(&s.galaxies(), &options(l, corr::default_r_edges()), None).unwrap();
        check_against(
            &got,
            &brute_all(&s, None, l, &corr::default_r_edges(), false),
        );
    }
}

#[test]
fn positions_only_give_xi_and_nan_alignments() {
    let l = [40.0; 3];
    let mut s = uniform(1500, l, 6);
    s.ori = None;
    let got = corr::correlate(&s.galaxies(), &options(l, corr::default_r_edges()), None).unwrap();
    check_against(
        &got,
        &brute_all(&s, None, l, &corr::default_r_edges(), false),
    );
    assert!(got.omega.iter().chain(&got.eta).all(|v| v.is_nan()));
}

#[test]
fn cross_matches_brute_force() {
    let l = [40.0; 3];
    let a = clustered(1500, 40.0, 7);
    let mut b = uniform(1800, l, 8);
    b.w = Some(random_weights(1800, 9));
    let o = options(l, corr::default_r_edges());
    let got = corr::cross_correlate(&a.galaxies(), &b.galaxies(), &o, None).unwrap();
    check_against(
        &got,
        &brute_all(&a, Some(&b), l, &corr::default_r_edges(), false),
    );
    // Sample 2 without orientations: omega still defined, eta NaN.
    b.ori = None;
    let got = corr::cross_correlate(&a.galaxies(), &b.galaxies(), &o, None).unwrap();
    let want = brute_all(&a, Some(&b), l, &corr::default_r_edges(), false);
    check_against(&got, &want);
    assert!(got.eta.iter().all(|v| v.is_nan()));
}

#[test]
fn jackknife_matches_brute_force_leave_one_out() {
    let l = [40.0; 3];
    let side = 2usize;
    let s = clustered(1200, 40.0, 10);
    let edges = linear_edges(1.0, 10.0, 6);
    let mut o = options(l, edges.clone());
    o.jackknife = Some(side);
    o.covariance = true;
    let got = corr::correlate(&s.galaxies(), &o, None).unwrap();
    let jk = got.jackknife.as_ref().expect("jackknife");
    let label = |p: [f64; 3]| -> usize {
        let c: [usize; 3] =
            std::array::from_fn(|d| ((p[d] / (l[d] / side as f64)) as usize).min(side - 1));
        (c[0] * side + c[1]) * side + c[2]
    };
    let k_total = side * side * side;
    let samples: Vec<Vec<f64>> = (0..k_total)
        .map(|k| {
            let keep = |i: usize| label(s.pos[i]) != k;
            let r = brute(
                &s,
                None,
                l,
                &edges,
                false,
                &keep,
                &keep,
                (k_total - 1) as f64 / k_total as f64,
            );
            [r.xi, r.omega, r.eta].concat()
        })
        .collect();
    let dim = samples[0].len();
    let kf = k_total as f64;
    let mean: Vec<f64> = (0..dim)
        .map(|i| samples.iter().map(|v| v[i]).sum::<f64>() / kf)
        .collect();
    let cov = |i: usize, j: usize| {
        (kf - 1.0) / kf
            * samples
                .iter()
                .map(|v| (v[i] - mean[i]) * (v[j] - mean[j]))
                .sum::<f64>()
    };
    let nb = edges.len() - 1;
    let rel = |g: f64, w: f64| (g - w).abs() <= 1e-8 * w.abs().max(1e-12);
    for k in 0..nb {
        assert!(
            rel(jk.xi_var[k], cov(k, k)),
            "xi_var[{k}] {} vs {}",
            jk.xi_var[k],
            cov(k, k)
        );
        assert!(rel(jk.omega_var[k], cov(nb + k, nb + k)), "omega_var[{k}]");
        assert!(
            rel(jk.eta_var[k], cov(2 * nb + k, 2 * nb + k)),
            "eta_var[{k}]"
        );
    }
    let c = jk.covariance.as_ref().expect("covariance");
    for i in 0..dim {
        for j in 0..dim {
            assert!(
                rel(c[i * dim + j], cov(i, j)) || (c[i * dim + j] - cov(i, j)).abs() < 1e-14,
                "cov[{i},{j}]"
            );
        }
    }
}

#[test]
fn same_bits_for_any_thread_count() {
    let l = [60.0; 3];
    let s = clustered(20_000, 60.0, 11);
    let mut o = options(l, corr::default_r_edges());
    o.jackknife = Some(3);
    let runs: Vec<Correlation> = [1, 2, 3, 5]
        .iter()
        .map(|&t| {
            o.threads = Some(t);
            corr::correlate(&s.galaxies(), &o, None).unwrap()
        })
        .collect();
    for r in &runs[1..] {
        assert_eq!(result_bits(r), result_bits(&runs[0]));
    }
}

#[test]
fn invariant_under_orientation_sign_length_box_translation_and_permutation() {
    let l = [50.0; 3];
    let s = clustered(6000, 50.0, 12);
    let o = options(l, corr::default_r_edges());
    let base = corr::correlate(&s.galaxies(), &o, None).unwrap();
    let close = |r: &Correlation, what: &str| {
        assert_eq!(r.pairs, base.pairs, "{what}: pairs");
        assert_close(&format!("{what}: xi"), &r.xi, &base.xi, 1e-9);
        assert_close(&format!("{what}: omega"), &r.omega, &base.omega, 1e-12);
        assert_close(&format!("{what}: eta"), &r.eta, &base.eta, 1e-12);
    };
    // Flip the sign of every other orientation and rescale all of them.
    let ori: Vec<[f64; 3]> = s
        .ori
        .as_ref()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, e)| e.map(|c| if i % 2 == 0 { -3.7 * c } else { 0.01 * c }))
        .collect();
    close(
        &corr::correlate(&Galaxies::new(&s.pos, Some(&ori)), &o, None).unwrap(),
        "orientation sign/length",
    );
    // Translate by whole boxes (wrapped back in).
    let moved: Vec<[f64; 3]> = s
        .pos
        .iter()
        .enumerate()
        .map(|(i, p)| [p[0] + 50.0, p[1] - 100.0 * (i % 3) as f64, p[2] + 150.0])
        .collect();
    close(
        &corr::correlate(&Galaxies::new(&moved, s.ori.as_deref()), &o, None).unwrap(),
        "box translation",
    );
    // Permute the galaxies.
    let n = s.pos.len();
    let perm: Vec<usize> = (0..n).map(|i| (i * 7919 + 13) % n).collect();
    assert!({
        let mut p = perm.clone();
        p.sort();
        p.dedup();
        p.len() == n
    });
    let pos: Vec<[f64; 3]> = perm.iter().map(|&i| s.pos[i]).collect();
    let ori: Vec<[f64; 3]> = perm.iter().map(|&i| s.ori.as_ref().unwrap()[i]).collect();
    close(
        &corr::correlate(&Galaxies::new(&pos, Some(&ori)), &o, None).unwrap(),
        "permutation",
    );
}

#[test]
fn uniform_random_is_consistent_with_zero() {
    let l = [100.0; 3];
    let s = uniform(60_000, l, 13);
    let mut o = options(l, corr::default_r_edges());
    o.jackknife = Some(4);
    let r = corr::correlate(&s.galaxies(), &o, None).unwrap();
    let jk = r.jackknife.as_ref().unwrap();
    for (name, v, var) in [
        ("xi", &r.xi, &jk.xi_var),
        ("omega", &r.omega, &jk.omega_var),
        ("eta", &r.eta, &jk.eta_var),
    ] {
        let z: Vec<f64> = v
            .iter()
            .zip(var.iter())
            .map(|(x, s2)| x / s2.sqrt())
            .collect();
        let within_2 = z.iter().filter(|z| z.abs() < 2.0).count();
        assert!(
            z.iter().all(|z| z.abs() < 4.5),
            "{name}: a bin is far from 0: z = {z:?}"
        );
        assert!(
            within_2 >= 15,
            "{name}: only {within_2}/20 bins within 2 sigma: z = {z:?}"
        );
        let chi2: f64 = z.iter().map(|z| z * z).sum();
        assert!(chi2 < 45.0, "{name}: chi2 = {chi2} for 20 bins");
    }
}

#[test]
fn clustered_aligned_mock_has_signal() {
    // Guards the tests above against a mock without clustering or alignment.
    let l = [60.0; 3];
    let s = clustered(20_000, 60.0, 14);
    let r = corr::correlate(&s.galaxies(), &options(l, corr::default_r_edges()), None).unwrap();
    assert!(r.xi[5] > 10.0, "xi at 0.4 Mpc/h: {}", r.xi[5]);
    assert!(r.omega[5] > 0.02, "omega at 0.4 Mpc/h: {}", r.omega[5]);
}

fn err(r: Result<Correlation, Error>) -> String {
    match r {
        Err(Error::InvalidArgument(m)) => m,
        other => panic!("expected an invalid-argument error, got {other:?}"),
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let l = [40.0; 3];
    let s = uniform(10, l, 15);
    let o = options(l, corr::default_r_edges());
    let with = |pos: &[[f64; 3]], ori: &[[f64; 3]], o: &CorrelationOptions| {
        corr::correlate(&Galaxies::new(pos, Some(ori)), o, None)
    };
    let ori = s.ori.clone().unwrap();

    let mut p = s.pos.clone();
    p[3][1] = f64::NAN;
    assert!(err(with(&p, &ori, &o)).contains("position of galaxy 3"));
    let mut e = ori.clone();
    e[4][2] = f64::INFINITY;
    assert!(err(with(&s.pos, &e, &o)).contains("orientation of galaxy 4"));
    e[4] = [0.0; 3];
    assert!(err(with(&s.pos, &e, &o)).contains("zero length"));
    assert!(err(with(&s.pos[..1], &ori[..1], &o)).contains("at least 2 galaxies"));
    assert!(err(with(&s.pos, &ori[..9], &o)).contains("10 positions but 9 orientations"));
    let w = vec![1.0; 9];
    let g = Galaxies {
        positions: &s.pos,
        orientations: None,
        weights: Some(&w),
    };
    assert!(err(corr::correlate(&g, &o, None)).contains("weights"));

    let mut bad = o.clone();
    bad.box_size = [40.0, 31.9, 40.0];
    assert!(err(with(&s.pos, &ori, &bad)).contains("half the box"));
    bad = o.clone();
    bad.r_edges = vec![0.1, 1.0, 1.0, 2.0];
    assert!(err(with(&s.pos, &ori, &bad)).contains("strictly increasing"));
    bad.r_edges = vec![0.0, 1.0, 2.0];
    assert!(err(with(&s.pos, &ori, &bad)).contains("positive"));
    bad.r_edges = vec![1.0, f64::NAN];
    assert!(err(with(&s.pos, &ori, &bad)).contains("finite"));
    bad.r_edges = vec![1.0];
    assert!(err(with(&s.pos, &ori, &bad)).contains("at least 2 bin edges"));
    bad = o.clone();
    bad.jackknife = Some(1);
    assert!(err(with(&s.pos, &ori, &bad)).contains("jackknife"));
    bad = o.clone();
    bad.covariance = true;
    assert!(err(with(&s.pos, &ori, &bad)).contains("covariance"));
    bad = o.clone();
    bad.box_size = [f64::NAN, 40.0, 40.0];
    assert!(err(with(&s.pos, &ori, &bad)).contains("box side x"));
    bad = o.clone();
    bad.threads = Some(0);
    assert!(err(with(&s.pos, &ori, &bad)).contains("thread"));
}

#[test]
fn default_edges_follow_the_science_document() {
    let e = corr::default_r_edges();
    assert_eq!(e.len(), 21);
    assert_eq!((e[0], e[20]), (0.1, 16.0));
    let ratio = (16.0f64 / 0.1).powf(1.0 / 20.0);
    for w in e.windows(2) {
        approx::assert_relative_eq!(w[1] / w[0], ratio, max_relative = 1e-12);
    }
}

/// Pairs exactly on a bin edge fall in the bin below it ((r_k, r_k+1], docs/science.md section
/// 5), and a pair exactly at r_min is left out, for edge sets that take each of the kernel's
/// bin lookups: the default edges and powers of two (edges on binade boundaries) by binade,
/// linear edges (three in one binade) and a wide range by table, two edges closer than any
/// table cell by comparison.
#[test]
fn separations_on_a_bin_edge_fall_in_the_bin_below() {
    let powers_of_two: Vec<f64> = (-2..=4).map(|k| 2f64.powi(k)).collect();
    let wide: Vec<f64> = (0..=8).map(|k| 0.001 * 2f64.powf(k as f64 * 14.0 / 8.0)).collect();
    for edges in [
        corr::default_r_edges(),
        powers_of_two,
        linear_edges(0.5, 12.0, 9),
        wide,
        vec![0.5, 1.0, 1.0 + 1e-12, 1.2, 2.0, 4.0],
    ] {
        let nb = edges.len() - 1;
        let r_max = edges[nb];
        // One pair per slot of a (y, z) grid spaced beyond r_max: (0, y, z) and (d, y, z), so
        // that the separation is d exactly, at every edge and between each two.
        let spacing = r_max + 1.0;
        let seps: Vec<f64> = edges
            .iter()
            .copied()
            .chain(edges.windows(2).map(|w| 0.5 * (w[0] + w[1])))
            .collect();
        let side = (seps.len() as f64).sqrt().ceil() as usize;
        let l = spacing * side as f64;
        let mut pos = Vec::new();
        for (k, &d) in seps.iter().enumerate() {
            let (y, z) = ((k % side) as f64 * spacing, (k / side) as f64 * spacing);
            pos.push([0.0, y, z]);
            pos.push([d, y, z]);
        }
        let s = Sample { pos, ori: None, w: None };
        let got = corr::correlate(&s.galaxies(), &options([l; 3], edges.clone()), None).unwrap();
        // Each bin k: the pair at edge k + 1 and the one between edges k and k + 1, two
        // ordered pairs each.
        assert_eq!(got.pairs, vec![4; nb], "edges {edges:?}");
    }
}
