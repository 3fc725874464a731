//! The synthetic universe: a halo catalogue made from a seed that stands in for an N-body run
//! (docs/science.md section 8). How it is made, at redshift 0:
//!
//! 1. **Linear field.** Unit white noise on an n^3 grid, coloured by the Eisenstein-Hu linear
//!    P(k) normalised to sigma8 (see [`crate::cosmology`]).
//! 2. **Host masses.** Host counts per 0.25 dex mass bin are Poisson draws around the box
//!    volume times the Tinker et al. (2008) mass function; masses inside a bin follow it too.
//! 3. **Host positions.** Each mass bin has its own lognormal density field made from the same
//!    white noise, with correlation function exactly `b^2 xi_lin` on the grid (b the Tinker et
//!    al. 2010 bias averaged over the bin): the Gaussian field's correlation is
//!    `ln(1 + b^2 xi_lin)` (Coles & Jones 1991; the lognormal mock recipe of Agrawal et al.
//!    2017). Hosts are placed in cells with probability proportional to that density, uniformly
//!    inside a cell.
//! 4. **Shapes.** The tidal tensor of the linear field smoothed on `tidal_smoothing` is
//!    interpolated (trilinearly between cell centres) to each host's position; the host's axes
//!    (major, intermediate, minor) are the eigenvectors of `-T/rms + axis_scatter * N` in
//!    decreasing order of eigenvalue, with T the traceless tidal tensor and N a random symmetric
//!    matrix of unit rms, so major axes prefer the direction of tidal stretching (which points
//!    towards nearby mass) with scatter. Axis ratios: c/a is normal with mean
//!    [`C_TO_A_AT_1E12`] (M / 1e12 Msun/h)^[`C_TO_A_MASS_SLOPE`] (the mass dependence of Allgood
//!    et al. 2006) and standard deviation [`C_TO_A_SCATTER`], kept in [0.2, 0.99]; b/a = c/a +
//!    (1 - c/a) u with u ~ Beta[`B_TO_A_BETA`] (normalisation, scatter and u measured on a real
//!    Rockstar box, docs/science.md section 8).
//! 5. **Concentrations** from Dutton & Maccio (2014) with 0.11 dex lognormal scatter; rvir from
//!    the Bryan & Norman (1998) virial overdensity; velocities from linear theory on the grid.
//! 6. **Subhalos.** Their peak masses follow the unevolved subhalo mass function of van den
//!    Bosch, Tormen & Giocoli (2005), `dN/dln(psi) = 0.22 psi^-0.91 exp(-6 psi^3)` with
//!    psi = mpeak / M_host, down to `min_host_mass`, thinned by `subhalo_survival`; positions
//!    follow the host's NFW profile in ellipsoidal radius x (inside x = 1), the ellipsoid
//!    aligned with the host's axes with axis ratios (b/a)^k and (c/a)^k (k =
//!    `subhalo_shape_exponent`) and the volume of the virial sphere, drawn again until inside
//!    the virial sphere, so that subhalos lie preferentially along the host's major axis as in
//!    N-body halos; today's mass is mpeak
//!    times a stripping factor growing with x (0.3 at the centre to 1 at x = 1, 0.1 dex
//!    scatter); major axes point to the host centre with scatter; velocities add the host's
//!    virial dispersion.
//!
//! Limits, where it does not stand in for an N-body run: no halo exclusion or non-linear
//! clustering below the grid cell (about 2 Mpc/h by default), so the 1-halo/2-halo transition
//! and small-scale halo clustering are not realistic; no assembly bias; velocities are linear
//! theory only (no virial motions of hosts); no modes larger than the box; the subhalo
//! stripping and survival are simple recipes, not a merger history.
//!
//! Determinism: every random number comes from a ChaCha8 stream keyed by (seed, purpose, block)
//! and FFTs transform each line independently, so the catalogue is the same for any thread count.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson, StandardNormal};
use rayon::prelude::*;

use super::nfw::nfw_radius;
use super::{CatalogMeta, Column, HaloCatalog, Provenance, RawHalos};
use crate::cosmology::{simpson, Cosmology, LinearTheory, G_NEWTON};
use crate::fft::{freq, Fft3, C64};
use crate::random::{norm, stream, unit_vector};
use crate::{Error, Result};

/// Hosts per random-number block (subhalos, shapes, concentrations).
const BLOCK: usize = 4096;
/// Width of the mass bins that share one lognormal field, in dex.
const BIN_DEX: f64 = 0.25;
/// van den Bosch, Tormen & Giocoli (2005) unevolved subhalo mass function parameters.
const SHMF: (f64, f64, f64, f64) = (0.22, 0.91, 6.0, 3.0);
/// Scatter of log10 concentration at fixed mass (Dutton & Maccio 2014).
const CONC_SCATTER_DEX: f64 = 0.11;
/// Host c/a at 1e12 Msun/h: the fit s = 0.604 - 0.051 log10(M / 1e12) to the 312 hosts above
/// 300 particles of a real 25 Mpc/h Rockstar box (median c/a 0.62, b/a 0.80).
pub const C_TO_A_AT_1E12: f64 = 0.60;
/// Power of host mass in the mean c/a (Allgood et al. 2006: s proportional to M^-0.05; the
/// Rockstar box's fit above is -0.051 per dex, this is -0.069 per dex at c/a = 0.6).
pub const C_TO_A_MASS_SLOPE: f64 = -0.05;
/// Standard deviation of c/a at fixed mass (0.12 to 0.13 per mass bin in the Rockstar box;
/// Allgood et al. 2006 give 0.1 for the inner halo).
pub const C_TO_A_SCATTER: f64 = 0.12;
/// Beta parameters of u = (b/a - c/a) / (1 - c/a): mean 0.42, standard deviation 0.22, as
/// measured in the Rockstar box (0.421 and 0.219).
pub const B_TO_A_BETA: (f64, f64) = (1.71, 2.36);

/// Settings of the synthetic universe. Lengths in Mpc/h, masses in Msun/h.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SyntheticUniverse {
    /// Side of the periodic cubic box.
    pub box_size: f64,
    pub seed: u64,
    /// Lightest host halo (and lightest subhalo peak mass).
    pub min_host_mass: f64,
    /// Particle mass written with the catalogue (host selection counts particles).
    pub particle_mass: f64,
    /// FFT grid cells per side (even, 8 to 512).
    pub grid: usize,
    pub cosmology: Cosmology,
    /// Whether to make subhalos.
    pub subhalos: bool,
    /// Share of accreted subhalos that survive to today.
    pub subhalo_survival: f64,
    /// Noise added to the normalised tidal tensor before taking a host's major axis (0 = the
    /// tidal stretching direction exactly).
    pub axis_scatter: f64,
    /// Gaussian smoothing radius of the tidal field.
    pub tidal_smoothing: f64,
    /// Power k of the host's axis ratios in the ellipsoid subhalos follow ((b/a)^k, (c/a)^k):
    /// 0 places them isotropically, 1 follows the host's shape, more is more elongated (the
    /// default is calibrated to the subhalo anisotropy of N-body halos, docs/science.md
    /// section 8).
    pub subhalo_shape_exponent: f64,
    /// Threads (None: the library default, see [`crate::threads`]).
    #[serde(skip)]
    pub threads: Option<usize>,
}

impl Default for SyntheticUniverse {
    /// A 250 Mpc/h box with hosts down to 300 particles of 1.55e8 Msun/h, as Bolshoi-Planck.
    fn default() -> Self {
        SyntheticUniverse {
            box_size: 250.0,
            seed: 1,
            min_host_mass: 300.0 * 1.55e8,
            particle_mass: 1.55e8,
            grid: 128,
            cosmology: Cosmology::default(),
            subhalos: true,
            subhalo_survival: 0.3,
            axis_scatter: 2.0,
            tidal_smoothing: 2.0,
            subhalo_shape_exponent: SUBHALO_SHAPE_EXPONENT,
            threads: None,
        }
    }
}

/// Default of [`SyntheticUniverse::subhalo_shape_exponent`].
pub const SUBHALO_SHAPE_EXPONENT: f64 = 1.8;

/// What the generator knows beyond the catalogue, for checks: per row, the direction of
/// tidal stretching at the halo (hosts) or towards the host centre (subhalos); per host (the
/// first rows), its major, intermediate and minor axes.
#[derive(Clone, Debug)]
pub struct Diagnostics {
    pub stretch_axis: Vec<[f64; 3]>,
    pub host_axes: Vec<[[f64; 3]; 3]>,
}

struct Host {
    mass: f64,
    pos: [f64; 3],
}

impl SyntheticUniverse {
    /// Checks the settings; returns the linear theory the generator then uses.
    fn validate(&self) -> Result<LinearTheory> {
        let pos = |v: f64| v.is_finite() && v > 0.0;
        if !pos(self.box_size) || self.box_size > 4000.0 {
            return Err(Error::invalid(format!(
                "box_size {} Mpc/h: must be in (0, 4000]",
                self.box_size
            )));
        }
        if !(8..=512).contains(&self.grid) || !self.grid.is_multiple_of(2) {
            return Err(Error::invalid(format!(
                "grid {}: must be even and in [8, 512]",
                self.grid
            )));
        }
        if !pos(self.min_host_mass) || !(1e8..=1e15).contains(&self.min_host_mass) {
            return Err(Error::invalid(format!(
                "min_host_mass {:e} Msun/h: must be in [1e8, 1e15]",
                self.min_host_mass
            )));
        }
        if !pos(self.particle_mass) {
            return Err(Error::invalid(format!(
                "particle_mass {}: must be finite and positive",
                self.particle_mass
            )));
        }
        if !(0.0..=1.0).contains(&self.subhalo_survival) {
            return Err(Error::invalid(format!(
                "subhalo_survival {}: must be in [0, 1]",
                self.subhalo_survival
            )));
        }
        if !(self.axis_scatter.is_finite() && self.axis_scatter >= 0.0) {
            return Err(Error::invalid(format!(
                "axis_scatter {}: must be finite and >= 0",
                self.axis_scatter
            )));
        }
        if !(self.tidal_smoothing.is_finite() && self.tidal_smoothing >= 0.0) {
            return Err(Error::invalid(format!(
                "tidal_smoothing {}: must be finite and >= 0",
                self.tidal_smoothing
            )));
        }
        if !(0.0..=10.0).contains(&self.subhalo_shape_exponent) {
            return Err(Error::invalid(format!(
                "subhalo_shape_exponent {}: must be in [0, 10]",
                self.subhalo_shape_exponent
            )));
        }
        // Rough count guard: more than ~50 million hosts is not what this generator is for.
        let lt = LinearTheory::new(self.cosmology)?;
        let n = lt.number_density(self.min_host_mass, 1e16) * self.box_size.powi(3);
        if n > 5e7 {
            return Err(Error::invalid(format!(
                "{n:.3e} hosts expected: raise min_host_mass or shrink box_size (limit 5e7)"
            )));
        }
        Ok(lt)
    }

    /// Makes the catalogue.
    pub fn generate(&self) -> Result<HaloCatalog> {
        self.generate_with_diagnostics().map(|(c, _)| c)
    }

    /// Makes the catalogue, calling `stage(name)` as each of its five stages starts (the
    /// linear field, host masses and positions, the tidal field and velocities, host
    /// properties, subhalos), for progress reports.
    pub fn generate_reporting(&self, stage: &(dyn Fn(&str) + Sync)) -> Result<HaloCatalog> {
        self.generate_inner(Some(stage)).map(|(c, _)| c)
    }

    /// Makes the catalogue and returns what the generator knows about it (for checks).
    pub fn generate_with_diagnostics(&self) -> Result<(HaloCatalog, Diagnostics)> {
        self.generate_inner(None)
    }

    fn generate_inner(&self, stage: Option<&(dyn Fn(&str) + Sync)>) -> Result<(HaloCatalog, Diagnostics)> {
        let lt = self.validate()?;
        // The density, noise and tidal fields on the grid (at most about 48 bytes a cell,
        // measured; twice that as the bound).
        let cells = (self.grid as f64).powi(3);
        crate::memory::ensure(&format!("the synthetic universe on a {}^3 grid", self.grid), cells * 96.0)?;
        crate::threads::install(self.threads, || self.build(lt, stage))?
    }

    fn build(&self, lt: LinearTheory, stage: Option<&(dyn Fn(&str) + Sync)>) -> Result<(HaloCatalog, Diagnostics)> {
        let stage = |name: &str| {
            if let Some(f) = stage {
                f(name)
            }
        };
        let n = self.grid;
        let l = self.box_size;
        let cells = n * n * n;
        let cell_len = l / n as f64;
        let v_cell = cell_len.powi(3);
        let fft = Fft3::new(n);
        let kf = 2.0 * std::f64::consts::PI / l;
        let kvec = |idx: usize| -> [f64; 3] {
            let (x, y, z) = (idx % n, (idx / n) % n, idx / (n * n));
            [kf * freq(x, n), kf * freq(y, n), kf * freq(z, n)]
        };

        stage("linear field");
        // 1. White noise and its transform; the linear P(k) / V_cell on the grid.
        let mut noise = vec![C64::default(); cells];
        noise
            .par_chunks_mut(n * n)
            .enumerate()
            .for_each(|(z, plane)| {
                let mut r = stream(self.seed, 1, z as u64);
                for v in plane.iter_mut() {
                    *v = C64::new(r.sample(StandardNormal), 0.0);
                }
            });
        fft.forward(&mut noise);
        let pk: Vec<f64> = (0..cells)
            .into_par_iter()
            .map(|i| {
                let k = kvec(i);
                lt.power((k[0] * k[0] + k[1] * k[1] + k[2] * k[2]).sqrt()) / v_cell
            })
            .collect();
        let mut xi_grid: Vec<C64> = pk.par_iter().map(|&p| C64::new(p, 0.0)).collect();
        fft.inverse_normalized(&mut xi_grid);

        stage("host masses and positions");
        // 2-3. Host masses and positions, one lognormal field per mass bin.
        let lo = self.min_host_mass.log10();
        let volume = l.powi(3);
        let mut bins = Vec::new();
        let mut a = lo;
        while lt.number_density(10f64.powf(a), 1e16) * volume > 1e-3 && a < 16.0 {
            let b = a + BIN_DEX;
            let (m1, m2) = (10f64.powf(a), 10f64.powf(b));
            let expected = lt.number_density(m1, m2) * volume;
            let weighted = simpson(m1.ln(), m2.ln(), 16, |lm| {
                let m = lm.exp();
                lt.bias(m) * lt.dn_dlnm(m)
            });
            let bias = weighted / lt.number_density(m1, m2);
            bins.push((a, b, expected, bias));
            a = b;
        }
        let mut hosts: Vec<Host> = Vec::new();
        for (bin, &(a, b, expected, bias)) in bins.iter().enumerate() {
            let mut r = stream(self.seed, 2, bin as u64);
            let count = if expected > 0.0 {
                Poisson::new(expected)
                    .map(|p| p.sample(&mut r) as usize)
                    .unwrap_or(0)
            } else {
                0
            };
            if count == 0 {
                continue;
            }
            let cdf = self.lognormal_cdf(&fft, &noise, &xi_grid, bias * bias);
            let masses = MassSampler::new(&lt, 10f64.powf(a), 10f64.powf(b));
            let total = *cdf.last().expect("cells > 0");
            for _ in 0..count {
                let mass = masses.sample(r.random());
                let u = r.random::<f64>() * total;
                let cell = cdf.partition_point(|&c| c <= u).min(cells - 1);
                let (x, y, z) = (cell % n, (cell / n) % n, cell / (n * n));
                let pos = [x, y, z]
                    .map(|c| ((c as f64 + r.random::<f64>()) * cell_len).min(l * (1.0 - 1e-15)));
                hosts.push(Host { mass, pos });
            }
        }
        let n_hosts = hosts.len();
        if n_hosts == 0 {
            return Err(Error::invalid(
                "the settings give no host halos: enlarge the box or lower min_host_mass",
            ));
        }

        stage("tidal field and velocities");
        // 4-5. Tidal tensor and linear velocities at each host, interpolated trilinearly
        // between the cell centres around it (periodic).
        let interpolate = |g: &[C64], pos: [f64; 3]| -> f64 {
            let t = pos.map(|p| p / cell_len - 0.5);
            let i0 = t.map(|v| v.floor());
            (0..8)
                .map(|k| {
                    let (mut idx, mut w) = (0, 1.0);
                    for d in (0..3).rev() {
                        let up = (k >> d) & 1;
                        let f = t[d] - i0[d];
                        idx = idx * n + (i0[d] as i64 + up as i64).rem_euclid(n as i64) as usize;
                        w *= if up == 1 { f } else { 1.0 - f };
                    }
                    w * g[idx].re
                })
                .sum()
        };
        let smooth = self.tidal_smoothing;
        let field_at_hosts = |f: &(dyn Fn([f64; 3], f64) -> C64 + Sync)| -> Vec<f64> {
            let mut g: Vec<C64> = (0..cells)
                .into_par_iter()
                .map(|i| {
                    let k = kvec(i);
                    let k2 = k[0] * k[0] + k[1] * k[1] + k[2] * k[2];
                    if k2 == 0.0 {
                        return C64::default();
                    }
                    noise[i] * pk[i].sqrt() * (-0.5 * k2 * smooth * smooth).exp() * f(k, k2)
                })
                .collect();
            fft.inverse_normalized(&mut g);
            hosts.par_iter().map(|h| interpolate(&g, h.pos)).collect()
        };
        const PAIRS: [(usize, usize); 6] = [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)];
        let tidal: Vec<Vec<f64>> = PAIRS
            .iter()
            .map(|&(i, j)| field_at_hosts(&|k, k2| C64::new(k[i] * k[j] / k2, 0.0)))
            .collect();
        let growth_rate = self.cosmology.omega_m.powf(0.55);
        let velocity: Vec<Vec<f64>> = (0..3)
            .map(|i| field_at_hosts(&|k, k2| C64::new(0.0, 100.0 * growth_rate * k[i] / k2)))
            .collect();
        let traceless = |h: usize| -> [[f64; 3]; 3] {
            let t = |p: usize| tidal[p][h];
            let tr = (t(0) + t(1) + t(2)) / 3.0;
            [
                [t(0) - tr, t(3), t(4)],
                [t(3), t(1) - tr, t(5)],
                [t(4), t(5), t(2) - tr],
            ]
        };
        let frob = |m: &[[f64; 3]; 3]| m.iter().flatten().map(|v| v * v).sum::<f64>();
        let rms = ((0..n_hosts).map(|h| frob(&traceless(h))).sum::<f64>() / n_hosts as f64)
            .sqrt()
            .max(1e-300);

        stage("host properties");
        // Per-host properties, in blocks with their own random streams.
        let b_to_a_u = rand_distr::Beta::new(B_TO_A_BETA.0, B_TO_A_BETA.1)
            .map_err(|e| Error::Internal(format!("the b/a distribution: {e}")))?;
        let host_props: Vec<HostProps> = (0..n_hosts.div_ceil(BLOCK))
            .into_par_iter()
            .flat_map_iter(|block| {
                let mut r = stream(self.seed, 3, block as u64);
                let mut r_shape = stream(self.seed, 5, block as u64);
                let range = block * BLOCK..((block + 1) * BLOCK).min(n_hosts);
                range
                    .map(|h| {
                        let t = traceless(h);
                        let stretch = eigenvectors(&t.map(|row| row.map(|v| -v)))[0];
                        let noise_m = random_symmetric(&mut r);
                        let s: [[f64; 3]; 3] = std::array::from_fn(|i| {
                            std::array::from_fn(|j| {
                                -t[i][j] / rms + self.axis_scatter * noise_m[i][j]
                            })
                        });
                        let axes = eigenvectors(&s);
                        let m = hosts[h].mass;
                        let c_scatter: f64 = r.sample(StandardNormal);
                        let conc = lt.concentration(m) * 10f64.powf(CONC_SCATTER_DEX * c_scatter);
                        let (b_to_a, c_to_a) = shape_of(m, &b_to_a_u, &mut r_shape);
                        HostProps {
                            axes,
                            stretch,
                            conc,
                            rvir: lt.rvir(m),
                            b_to_a,
                            c_to_a,
                        }
                    })
                    .collect::<Vec<_>>()
            })
            .collect();

        let mut cols = Columns::default();
        let mut stretch_axis = Vec::with_capacity(n_hosts);
        for (h, (host, p)) in hosts.iter().zip(&host_props).enumerate() {
            let vel = [velocity[0][h], velocity[1][h], velocity[2][h]];
            let shape = [p.b_to_a, p.c_to_a];
            cols.push(
                h as i64, -1, host.mass, host.mass, p.rvir, p.conc, host.pos, vel, p.axes[0], shape,
            );
            stretch_axis.push(p.stretch);
        }

        stage("subhalos");
        // 6. Subhalos.
        if self.subhalos && self.subhalo_survival > 0.0 {
            let shmf = SubhaloMassFunction::new();
            let subs: Vec<Vec<SubRow>> = (0..n_hosts.div_ceil(BLOCK))
                .into_par_iter()
                .map(|block| {
                    let mut r = stream(self.seed, 4, block as u64);
                    let range = block * BLOCK..((block + 1) * BLOCK).min(n_hosts);
                    range
                        .flat_map(|h| {
                            self.subhalos_of(h, &hosts[h], &host_props[h], &shmf, &lt, &b_to_a_u, &mut r)
                        })
                        .collect()
                })
                .collect();
            for (next_id, s) in (n_hosts as i64..).zip(subs.into_iter().flatten()) {
                let host = &hosts[s.host];
                let hv = [
                    velocity[0][s.host],
                    velocity[1][s.host],
                    velocity[2][s.host],
                ];
                let pos: [f64; 3] =
                    std::array::from_fn(|d| (host.pos[d] + s.offset[d]).rem_euclid(l));
                let vel: [f64; 3] = std::array::from_fn(|d| hv[d] + s.dv[d]);
                cols.push(
                    next_id,
                    s.host as i64,
                    s.mvir,
                    s.mpeak,
                    lt.rvir(s.mvir),
                    s.conc,
                    pos,
                    vel,
                    s.axis,
                    s.shape,
                );
                let rn = norm(s.offset).max(1e-300);
                stretch_axis.push(s.offset.map(|v| v / rn));
            }
        }

        let notes = serde_json::json!({ "generator": "iaemu SyntheticUniverse", "settings": self })
            .to_string();
        let meta = CatalogMeta {
            box_size: [l; 3],
            particle_mass: self.particle_mass,
            redshift: 0.0,
            provenance: Provenance {
                source: "synthetic".into(),
                simname: "iaemu_synthetic".into(),
                halo_finder: "iaemu".into(),
                version_name: format!("iaemu-{}-seed{}", crate::VERSION, self.seed),
                notes,
            },
        };
        let cat = HaloCatalog::from_raw(cols.into_raw()?, meta)?;
        let host_axes = host_props.iter().map(|p| p.axes).collect();
        Ok((cat, Diagnostics { stretch_axis, host_axes }))
    }

    /// Cumulative cell weights of a lognormal field with grid correlation `b2 * xi_grid`.
    fn lognormal_cdf(&self, fft: &Fft3, noise: &[C64], xi_grid: &[C64], b2: f64) -> Vec<f64> {
        let mut g: Vec<C64> = xi_grid
            .par_iter()
            .map(|x| C64::new((1.0 + b2 * x.re).max(1e-6).ln(), 0.0))
            .collect();
        fft.forward(&mut g);
        g.par_iter_mut()
            .zip(noise)
            .for_each(|(v, w)| *v = *w * v.re.max(0.0).sqrt());
        fft.inverse_normalized(&mut g);
        let g_max = g.par_iter().map(|v| v.re).reduce(|| f64::MIN, f64::max);
        let mut acc = 0.0;
        g.iter()
            .map(|v| {
                acc += (v.re - g_max).exp();
                acc
            })
            .collect()
    }

    fn subhalos_of(
        &self,
        h: usize,
        host: &Host,
        props: &HostProps,
        shmf: &SubhaloMassFunction,
        lt: &LinearTheory,
        b_to_a_u: &rand_distr::Beta<f64>,
        r: &mut ChaCha8Rng,
    ) -> Vec<SubRow> {
        let psi_min = self.min_host_mass / host.mass;
        if psi_min >= 1.0 {
            return Vec::new();
        }
        let mean = self.subhalo_survival * shmf.above(psi_min);
        let count = Poisson::new(mean)
            .map(|p| p.sample(r) as usize)
            .unwrap_or(0);
        let sigma_v = (G_NEWTON * host.mass / props.rvir).sqrt() / std::f64::consts::SQRT_2;
        // Semi-axes of the ellipsoid x = 1 along the host's axes, in units of rvir: ratios
        // (b/a)^k and (c/a)^k, the volume of the unit sphere.
        let k = self.subhalo_shape_exponent;
        let (q, s) = (props.b_to_a.powf(k), props.c_to_a.powf(k));
        let major = (q * s).powf(-1.0 / 3.0);
        let semi = [major, q * major, s * major];
        (0..count)
            .map(|_| {
                let mpeak = host.mass * shmf.sample(psi_min, r.random());
                // Drawn again until inside the virial sphere (halo finders' membership).
                let (x, offset) = loop {
                    let x = nfw_radius(props.conc, r.random());
                    let u = unit_vector(r);
                    let offset: [f64; 3] = std::array::from_fn(|d| {
                        (0..3).map(|a| u[a] * semi[a] * props.axes[a][d]).sum::<f64>() * x * props.rvir
                    });
                    if norm(offset) <= props.rvir {
                        break (x, offset);
                    }
                };
                let r_off = norm(offset).max(1e-300);
                let dir = offset.map(|v| v / r_off);
                let strip_scatter: f64 = r.sample(StandardNormal);
                let strip = ((0.3 + 0.7 * x) * 10f64.powf(0.1 * strip_scatter)).min(1.0);
                let mvir = mpeak * strip;
                let noisy: [f64; 3] =
                    std::array::from_fn(|d| -dir[d] + 0.6 * r.sample::<f64, _>(StandardNormal));
                let nn = norm(noisy).max(1e-300);
                let c_scatter: f64 = r.sample(StandardNormal);
                SubRow {
                    host: h,
                    mvir,
                    mpeak,
                    conc: lt.concentration(mvir) * 10f64.powf(CONC_SCATTER_DEX * c_scatter),
                    offset,
                    dv: std::array::from_fn(|_| sigma_v * r.sample::<f64, _>(StandardNormal)),
                    axis: noisy.map(|v| v / nn),
                    shape: {
                        let (b, c) = shape_of(mvir, b_to_a_u, r);
                        [b, c]
                    },
                }
            })
            .collect()
    }
}

struct HostProps {
    /// Major, intermediate and minor axes.
    axes: [[f64; 3]; 3],
    stretch: [f64; 3],
    conc: f64,
    rvir: f64,
    b_to_a: f64,
    c_to_a: f64,
}

struct SubRow {
    host: usize,
    mvir: f64,
    mpeak: f64,
    conc: f64,
    offset: [f64; 3],
    dv: [f64; 3],
    axis: [f64; 3],
    /// b/a, c/a.
    shape: [f64; 2],
}

#[derive(Default)]
struct Columns {
    id: Vec<i64>,
    upid: Vec<i64>,
    f: Vec<Vec<f64>>,
}

impl Columns {
    const FLOATS: [Column; 15] = [
        Column::Mvir,
        Column::Mpeak,
        Column::Rvir,
        Column::NfwConc,
        Column::X,
        Column::Y,
        Column::Z,
        Column::Vx,
        Column::Vy,
        Column::Vz,
        Column::AxisAX,
        Column::AxisAY,
        Column::AxisAZ,
        Column::BToA,
        Column::CToA,
    ];

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        id: i64,
        upid: i64,
        mvir: f64,
        mpeak: f64,
        rvir: f64,
        conc: f64,
        pos: [f64; 3],
        vel: [f64; 3],
        axis: [f64; 3],
        shape: [f64; 2],
    ) {
        if self.f.is_empty() {
            self.f = vec![Vec::new(); Self::FLOATS.len()];
        }
        self.id.push(id);
        self.upid.push(upid);
        let values = [
            mvir, mpeak, rvir, conc, pos[0], pos[1], pos[2], vel[0], vel[1], vel[2], axis[0],
            axis[1], axis[2], shape[0], shape[1],
        ];
        for (col, v) in self.f.iter_mut().zip(values) {
            col.push(v);
        }
    }

    fn into_raw(self) -> Result<RawHalos> {
        let mut raw = RawHalos::new();
        raw.set_ints(Column::Id, self.id)?;
        raw.set_ints(Column::Upid, self.upid)?;
        for (c, v) in Self::FLOATS.into_iter().zip(self.f) {
            raw.set_floats(c, v)?;
        }
        Ok(raw)
    }
}

/// Inverse-CDF sampler of the mass function inside one bin (tabulated in ln M).
struct MassSampler {
    ln_m: Vec<f64>,
    cum: Vec<f64>,
}

impl MassSampler {
    fn new(lt: &LinearTheory, m1: f64, m2: f64) -> Self {
        let k = 64;
        let ln_m: Vec<f64> = (0..=k)
            .map(|i| m1.ln() + (m2.ln() - m1.ln()) * i as f64 / k as f64)
            .collect();
        let mut cum = vec![0.0];
        for w in ln_m.windows(2) {
            let mid = (0.5 * (w[0] + w[1])).exp();
            let last = *cum.last().expect("non-empty");
            cum.push(last + lt.dn_dlnm(mid) * (w[1] - w[0]));
        }
        MassSampler { ln_m, cum }
    }

    fn sample(&self, u: f64) -> f64 {
        let target = u * self.cum.last().expect("non-empty");
        let i = self
            .cum
            .partition_point(|&c| c <= target)
            .clamp(1, self.cum.len() - 1);
        let f = (target - self.cum[i - 1]) / (self.cum[i] - self.cum[i - 1]).max(1e-300);
        (self.ln_m[i - 1] + f * (self.ln_m[i] - self.ln_m[i - 1])).exp()
    }
}

/// Cumulative unevolved subhalo mass function above psi, tabulated in ln psi.
struct SubhaloMassFunction {
    ln_psi: Vec<f64>,
    /// above[i] = integral from psi_i to 1 of dN/dln(psi).
    above: Vec<f64>,
}

impl SubhaloMassFunction {
    fn new() -> Self {
        let (gamma, alpha, beta, omega) = SHMF;
        let k = 2000;
        let lo = (1e-8f64).ln();
        let ln_psi: Vec<f64> = (0..=k).map(|i| lo * (1.0 - i as f64 / k as f64)).collect();
        let dn = |lp: f64| {
            let p = lp.exp();
            gamma * p.powf(-alpha) * (-beta * p.powf(omega)).exp()
        };
        let mut above = vec![0.0; k + 1];
        for i in (0..k).rev() {
            let (a, b) = (ln_psi[i], ln_psi[i + 1]);
            above[i] = above[i + 1] + 0.5 * (dn(a) + dn(b)) * (b - a);
        }
        SubhaloMassFunction { ln_psi, above }
    }

    fn interp(&self, lp: f64) -> f64 {
        let step = self.ln_psi[1] - self.ln_psi[0];
        let t = ((lp - self.ln_psi[0]) / step).clamp(0.0, (self.ln_psi.len() - 1) as f64 - 1e-9);
        let i = t as usize;
        self.above[i] + (t - i as f64) * (self.above[i + 1] - self.above[i])
    }

    /// Mean number of subhalos with psi above `psi`.
    fn above(&self, psi: f64) -> f64 {
        self.interp(psi.ln())
    }

    /// A psi in [psi_min, 1) drawn from the mass function.
    fn sample(&self, psi_min: f64, u: f64) -> f64 {
        let target = u * self.above(psi_min);
        // `above` decreases with psi: bisect in ln psi.
        let (mut a, mut b) = (psi_min.ln(), 0.0);
        for _ in 0..60 {
            let mid = 0.5 * (a + b);
            if self.interp(mid) > target {
                a = mid;
            } else {
                b = mid;
            }
        }
        (0.5 * (a + b)).exp()
    }
}

/// Axis ratios (b/a, c/a) of a halo of mass `m` (Msun/h), drawn as the module's step 4 says;
/// `u` is the distribution of (b/a - c/a) / (1 - c/a).
fn shape_of(m: f64, u: &rand_distr::Beta<f64>, r: &mut ChaCha8Rng) -> (f64, f64) {
    let mean = C_TO_A_AT_1E12 * (m / 1e12).powf(C_TO_A_MASS_SLOPE);
    let c_to_a = loop {
        let v = mean + C_TO_A_SCATTER * r.sample::<f64, _>(StandardNormal);
        if (0.2..=0.99).contains(&v) {
            break v;
        }
    };
    (c_to_a + (1.0 - c_to_a) * u.sample(r), c_to_a)
}

/// A random symmetric 3x3 matrix (Gaussian orthogonal ensemble) with unit expected
/// Frobenius norm squared.
#[allow(clippy::needless_range_loop)] // matrix indices read better
fn random_symmetric(r: &mut ChaCha8Rng) -> [[f64; 3]; 3] {
    let s_diag = (1.0f64 / 6.0).sqrt();
    let s_off = (1.0f64 / 12.0).sqrt();
    let mut m = [[0.0; 3]; 3];
    for i in 0..3 {
        m[i][i] = s_diag * r.sample::<f64, _>(StandardNormal);
        for j in i + 1..3 {
            let v = s_off * r.sample::<f64, _>(StandardNormal);
            m[i][j] = v;
            m[j][i] = v;
        }
    }
    m
}

/// Unit eigenvectors of a symmetric 3x3 matrix in decreasing order of eigenvalue (cyclic
/// Jacobi): an orthonormal triad.
#[allow(clippy::needless_range_loop)] // matrix indices read better
fn eigenvectors(m: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let mut a = *m;
    let mut v = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    for _ in 0..50 {
        let off = a[0][1].abs() + a[0][2].abs() + a[1][2].abs();
        if off < 1e-15 * (a[0][0].abs() + a[1][1].abs() + a[2][2].abs() + 1e-300) {
            break;
        }
        for (p, q) in [(0, 1), (0, 2), (1, 2)] {
            if a[p][q] == 0.0 {
                continue;
            }
            let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
            let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
            let t = if theta == 0.0 { 1.0 } else { t };
            let c = 1.0 / (t * t + 1.0).sqrt();
            let s = t * c;
            for k in 0..3 {
                let (akp, akq) = (a[k][p], a[k][q]);
                a[k][p] = c * akp - s * akq;
                a[k][q] = s * akp + c * akq;
            }
            for k in 0..3 {
                let (apk, aqk) = (a[p][k], a[q][k]);
                a[p][k] = c * apk - s * aqk;
                a[q][k] = s * apk + c * aqk;
            }
            for row in v.iter_mut() {
                let (vp, vq) = (row[p], row[q]);
                row[p] = c * vp - s * vq;
                row[q] = s * vp + c * vq;
            }
        }
    }
    let mut order = [0, 1, 2];
    order.sort_by(|&i, &j| a[j][j].total_cmp(&a[i][i]));
    order.map(|k| [v[0][k], v[1][k], v[2][k]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigenvector_of_known_matrix() {
        // Rotation of diag(3, 1, -2) by 30 degrees about z.
        let (c, s) = (30f64.to_radians().cos(), 30f64.to_radians().sin());
        let r = [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]];
        let d = [3.0, 1.0, -2.0];
        let m: [[f64; 3]; 3] = std::array::from_fn(|i| {
            std::array::from_fn(|j| (0..3).map(|k| r[i][k] * d[k] * r[j][k]).sum())
        });
        let [v, w, z] = eigenvectors(&m);
        assert!((v[0] * c + v[1] * s).abs() > 1.0 - 1e-12, "{v:?}");
        assert!((-w[0] * s + w[1] * c).abs() > 1.0 - 1e-12, "{w:?}");
        assert!(z[2].abs() > 1.0 - 1e-12, "{z:?}");
        let diag = eigenvectors(&[[1.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 2.0]]);
        assert!((diag[0][1].abs() - 1.0).abs() < 1e-12);
        assert!((diag[1][2].abs() - 1.0).abs() < 1e-12);
        assert!((diag[2][0].abs() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn subhalo_mass_function_integral() {
        // Against direct integration of 0.22 psi^-0.91 exp(-6 psi^3) from 1e-3 to 1.
        let shmf = SubhaloMassFunction::new();
        let n = 200_000;
        let (a, b) = ((1e-3f64).ln(), 0.0);
        let h = (b - a) / n as f64;
        let direct: f64 = (0..n)
            .map(|i| {
                let p = (a + (i as f64 + 0.5) * h).exp();
                0.22 * p.powf(-0.91) * (-6.0 * p.powi(3)).exp() * h
            })
            .sum();
        assert!((shmf.above(1e-3) - direct).abs() < 1e-4 * direct);
    }
}
