//! Shared test helpers: an O(N^2) brute-force reference written straight from docs/science.md
//! section 5 (ordered pairs, minimum image, linear bin search), independent of the engine; and
//! small halo files.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub struct Sample {
    pub pos: Vec<[f64; 3]>,
    pub ori: Option<Vec<[f64; 3]>>,
    pub w: Option<Vec<f64>>,
}

impl Sample {
    pub fn galaxies(&self) -> iaemu::corr::Galaxies<'_> {
        iaemu::corr::Galaxies {
            positions: &self.pos,
            orientations: self.ori.as_deref(),
            weights: self.w.as_deref(),
        }
    }
}

/// Uniform positions in the box and isotropic orientations of random length.
pub fn uniform(n: usize, l: [f64; 3], seed: u64) -> Sample {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let pos = (0..n)
        .map(|_| std::array::from_fn(|d| rng.random::<f64>() * l[d]))
        .collect();
    let ori = (0..n)
        .map(|_| loop {
            let v: [f64; 3] = std::array::from_fn(|_| 2.0 * rng.random::<f64>() - 1.0);
            let n2 = v.iter().map(|c| c * c).sum::<f64>();
            if n2 > 1e-3 && n2 <= 1.0 {
                break v;
            }
        })
        .collect();
    Sample {
        pos,
        ori: Some(ori),
        w: None,
    }
}

/// The crate's clustered, aligned mock.
pub fn clustered(n: usize, l: f64, seed: u64) -> Sample {
    let c = iaemu::mock::mock_catalog(&iaemu::mock::MockOptions {
        n_galaxies: n,
        box_size: l,
        seed,
        ..Default::default()
    })
    .unwrap();
    Sample {
        pos: c.positions,
        ori: Some(c.orientations),
        w: None,
    }
}

pub fn random_weights(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| 0.2 + 1.5 * rng.random::<f64>()).collect()
}

/// Reference statistics from ordered pairs.
pub struct Reference {
    pub pairs: Vec<u64>,
    pub xi: Vec<f64>,
    pub omega: Vec<f64>,
    pub eta: Vec<f64>,
}

fn unit(e: [f64; 3]) -> [f64; 3] {
    let n = (e[0] * e[0] + e[1] * e[1] + e[2] * e[2]).sqrt();
    e.map(|c| c / n)
}

/// Brute force over ordered pairs (i in a, j in b, i != j for auto). `keep` selects the
/// galaxies that take part (for the jackknife), which then cover `volume_fraction` of the
/// box; N^2 normalisation unless `n_n_minus_1`.
#[allow(clippy::too_many_arguments)]
pub fn brute(
    a: &Sample,
    b: Option<&Sample>,
    l: [f64; 3],
    edges: &[f64],
    n_n_minus_1: bool,
    keep_a: &dyn Fn(usize) -> bool,
    keep_b: &dyn Fn(usize) -> bool,
    volume_fraction: f64,
) -> Reference {
    let cross = b.is_some();
    let b = b.unwrap_or(a);
    let nb = edges.len() - 1;
    let (mut pairs, mut ws, mut om, mut et) =
        (vec![0u64; nb], vec![0.0; nb], vec![0.0; nb], vec![0.0; nb]);
    let wa = |i: usize| a.w.as_ref().map_or(1.0, |w| w[i]);
    let wb = |j: usize| b.w.as_ref().map_or(1.0, |w| w[j]);
    for i in (0..a.pos.len()).filter(|&i| keep_a(i)) {
        for j in (0..b.pos.len()).filter(|&j| keep_b(j)) {
            if !cross && i == j {
                continue;
            }
            let d: [f64; 3] = std::array::from_fn(|k| {
                let mut v = b.pos[j][k].rem_euclid(l[k]) - a.pos[i][k].rem_euclid(l[k]);
                v -= l[k] * (v / l[k]).round();
                v
            });
            let r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
            let Some(k) =
                (0..nb).find(|&k| r2 > edges[k] * edges[k] && r2 <= edges[k + 1] * edges[k + 1])
            else {
                continue;
            };
            let w = wa(i) * wb(j);
            pairs[k] += 1;
            ws[k] += w;
            if let Some(oa) = &a.ori {
                let ei = unit(oa[i]);
                let r = r2.sqrt();
                let p = (ei[0] * d[0] + ei[1] * d[1] + ei[2] * d[2]) / r;
                om[k] += w * p * p;
                if let Some(ob) = &b.ori {
                    let ej = unit(ob[j]);
                    let c = ei[0] * ej[0] + ei[1] * ej[1] + ei[2] * ej[2];
                    et[k] += w * c * c;
                }
            }
        }
    }
    let sum_w = |s: &Sample, keep: &dyn Fn(usize) -> bool| -> (f64, f64) {
        (0..s.pos.len())
            .filter(|&i| keep(i))
            .fold((0.0, 0.0), |(s1, s2), i| {
                let w = s.w.as_ref().map_or(1.0, |w| w[i]);
                (s1 + w, s2 + w * w)
            })
    };
    let (w1, w1sq) = sum_w(a, keep_a);
    let norm = if cross {
        w1 * sum_w(b, keep_b).0
    } else if n_n_minus_1 {
        w1 * w1 - w1sq
    } else {
        w1 * w1
    };
    let volume: f64 = volume_fraction * l.iter().product::<f64>();
    let xi = (0..nb)
        .map(|k| {
            let dv = 4.0 / 3.0 * std::f64::consts::PI * (edges[k + 1].powi(3) - edges[k].powi(3));
            ws[k] * volume / (norm * dv) - 1.0
        })
        .collect();
    let mean = |s: &[f64], has: bool| -> Vec<f64> {
        (0..nb)
            .map(|k| {
                if has && pairs[k] > 0 {
                    s[k] / ws[k] - 1.0 / 3.0
                } else {
                    f64::NAN
                }
            })
            .collect()
    };
    let omega = mean(&om, a.ori.is_some());
    let eta = mean(&et, a.ori.is_some() && b.ori.is_some());
    Reference {
        pairs,
        xi,
        omega,
        eta,
    }
}

pub fn all(_: usize) -> bool {
    true
}

/// Brute force over the whole sample.
pub fn brute_all(
    a: &Sample,
    b: Option<&Sample>,
    l: [f64; 3],
    edges: &[f64],
    n_n_minus_1: bool,
) -> Reference {
    brute(a, b, l, edges, n_n_minus_1, &all, &all, 1.0)
}

/// Asserts two curves agree to `tol` absolutely (NaN must match NaN).
pub fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        if w.is_nan() {
            assert!(g.is_nan(), "{what}[{k}]: got {g}, want NaN");
        } else {
            assert!(
                (g - w).abs() <= tol,
                "{what}[{k}]: got {g}, want {w} (diff {:e} > {tol:e})",
                (g - w).abs()
            );
        }
    }
}

/// Every number of a result with a jackknife as raw bits (NaN-aware, bit-for-bit comparison):
/// xi, omega, eta, their jackknife variances, and the pair counts.
pub fn result_bits(c: &iaemu::corr::Correlation) -> Vec<u64> {
    let jk = c.jackknife.as_ref().expect("a jackknife");
    [
        &c.xi,
        &c.omega,
        &c.eta,
        &jk.xi_var,
        &jk.omega_var,
        &jk.eta_var,
    ]
    .iter()
    .flat_map(|v| v.iter().map(|x| x.to_bits()))
    .chain(c.pairs.iter().copied())
    .collect()
}

/// A two-halo Rockstar `out_*.list` without the shape columns (b_to_a, c_to_a).
pub const ROCKSTAR_WITHOUT_SHAPES: &str = "#ID Mvir Rvir Rs X Y Z A[x] A[y] A[z]\n#Box size: 10 Mpc/h\n\
     #Particle mass: 1e8 Msun/h\n#a = 1.0\n1 1e12 200 20 1 1 1 1 0 0\n2 2e12 250 25 5 5 5 0 1 0\n";
