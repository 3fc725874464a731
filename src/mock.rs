//! A small clustered, aligned galaxy catalogue made from a seed: the sample the demonstration
//! and the tests measure. It is a toy (Gaussian groups inside Gaussian superclusters), not the
//! synthetic universe of docs/science.md section 8: it only has to carry real clustering and
//! alignments on 1-halo and 2-halo scales.
//!
//! - Superclusters: centres uniform in the box; groups scatter around them (sigma
//!   `supercluster_radius`), each group's axis pointing at its supercluster centre plus noise
//!   (a tidal-like 2-halo alignment).
//! - Groups: one central at the centre, oriented along the group axis plus noise; satellites
//!   at isotropic Gaussian offsets (sigma `group_radius`), oriented radially plus noise.
//! - A share `field_fraction` of galaxies uniform in the box with random orientations.

use crate::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson, StandardNormal};

/// Settings of [`mock_catalog`]. Lengths in Mpc/h.
#[derive(Clone, Debug)]
pub struct MockOptions {
    pub n_galaxies: usize,
    pub box_size: f64,
    pub seed: u64,
    /// Mean galaxies per group (central included).
    pub group_size: f64,
    pub group_radius: f64,
    /// Mean groups per supercluster.
    pub supercluster_size: f64,
    pub supercluster_radius: f64,
    /// Share of unclustered galaxies.
    pub field_fraction: f64,
    /// Noise added to unit alignment directions before normalising (0 = perfect alignment).
    pub alignment_noise: f64,
}

impl Default for MockOptions {
    fn default() -> Self {
        MockOptions {
            n_galaxies: 100_000,
            box_size: 250.0,
            seed: 1,
            group_size: 8.0,
            group_radius: 0.4,
            supercluster_size: 20.0,
            supercluster_radius: 4.0,
            field_fraction: 0.2,
            alignment_noise: 0.7,
        }
    }
}

/// Positions (Mpc/h, in `[0, box_size)`) and unit orientations.
#[derive(Clone, Debug)]
pub struct MockCatalog {
    pub box_size: f64,
    pub positions: Vec<[f64; 3]>,
    pub orientations: Vec<[f64; 3]>,
}

fn gaussian3(rng: &mut ChaCha8Rng, sigma: f64) -> [f64; 3] {
    std::array::from_fn(|_| {
        let v: f64 = StandardNormal.sample(rng);
        sigma * v
    })
}

fn unit(v: [f64; 3]) -> [f64; 3] {
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    if n > 0.0 {
        v.map(|c| c / n)
    } else {
        [0.0, 0.0, 1.0]
    }
}

/// `dir` plus isotropic noise, normalised.
fn noisy(rng: &mut ChaCha8Rng, dir: [f64; 3], noise: f64) -> [f64; 3] {
    let d = unit(dir);
    let e = gaussian3(rng, noise);
    unit([d[0] + e[0], d[1] + e[1], d[2] + e[2]])
}

impl MockOptions {
    /// Checks every setting: at least one galaxy, a positive box, group and supercluster sizes
    /// that make sense, finite radii and noise, a field share in [0, 1].
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str, v: f64| Err(Error::invalid(format!("mock: {what} = {v}")));
        if self.n_galaxies == 0 {
            return Err(Error::invalid("mock: the catalogue needs at least one galaxy"));
        }
        if !(self.box_size.is_finite() && self.box_size > 0.0) {
            return bad("box size (must be positive)", self.box_size);
        }
        if !(self.group_size.is_finite() && self.group_size >= 1.0) {
            return bad("group size (at least 1: the central)", self.group_size);
        }
        if !(self.supercluster_size.is_finite() && self.supercluster_size > 0.0) {
            return bad("supercluster size (must be positive)", self.supercluster_size);
        }
        for (what, v) in [
            ("group radius", self.group_radius),
            ("supercluster radius", self.supercluster_radius),
            ("alignment noise", self.alignment_noise),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(&format!("{what} (must be finite and >= 0)"), v);
            }
        }
        if !(0.0..=1.0).contains(&self.field_fraction) {
            return bad("field fraction (must be in [0, 1])", self.field_fraction);
        }
        Ok(())
    }
}

/// Makes the catalogue; the same options give the same catalogue everywhere. Invalid options,
/// or more galaxies than the memory budget holds (48 bytes each, and as much again for a
/// file), are an error.
pub fn mock_catalog(o: &MockOptions) -> Result<MockCatalog> {
    o.validate()?;
    crate::memory::ensure(&format!("a mock catalogue of {} galaxies", o.n_galaxies), o.n_galaxies as f64 * 96.0)?;
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
    let l = o.box_size;
    let wrap = |p: [f64; 3]| p.map(|v| v.rem_euclid(l).min(l * (1.0 - f64::EPSILON)));
    let n_field = (o.field_fraction * o.n_galaxies as f64).round() as usize;
    let n_clustered = o.n_galaxies - n_field;
    let mut positions = Vec::with_capacity(o.n_galaxies);
    let mut orientations = Vec::with_capacity(o.n_galaxies);
    let poisson = |mean: f64| Poisson::new(mean).map_err(|e| Error::invalid(format!("mock: Poisson mean {mean}: {e}")));
    let groups_per_sc = poisson(o.supercluster_size)?;
    let sats_per_group = poisson((o.group_size - 1.0).max(1e-9))?;
    'outer: while positions.len() < n_clustered {
        let sc: [f64; 3] = std::array::from_fn(|_| rng.random::<f64>() * l);
        let n_groups = (groups_per_sc.sample(&mut rng) as usize).max(1);
        for _ in 0..n_groups {
            let offset = gaussian3(&mut rng, o.supercluster_radius);
            let centre = [sc[0] + offset[0], sc[1] + offset[1], sc[2] + offset[2]];
            // Stretched along the supercluster direction: the axis points at its centre.
            let axis = noisy(&mut rng, offset, o.alignment_noise);
            positions.push(wrap(centre));
            orientations.push(noisy(&mut rng, axis, o.alignment_noise));
            let n_sats = sats_per_group.sample(&mut rng) as usize;
            for _ in 0..n_sats {
                if positions.len() >= n_clustered {
                    break 'outer;
                }
                let d = gaussian3(&mut rng, o.group_radius);
                positions.push(wrap([centre[0] + d[0], centre[1] + d[1], centre[2] + d[2]]));
                orientations.push(noisy(&mut rng, d, o.alignment_noise));
            }
            if positions.len() >= n_clustered {
                break 'outer;
            }
        }
    }
    for _ in 0..n_field {
        positions.push(std::array::from_fn(|_| rng.random::<f64>() * l));
        orientations.push(unit(std::array::from_fn(|_| {
            let v: f64 = StandardNormal.sample(&mut rng);
            v
        })));
    }
    Ok(MockCatalog {
        box_size: l,
        positions,
        orientations,
    })
}
