//! The argument groups that several commands share, and their conversions to the library's
//! options.

use super::common::synthesize;
use clap::{Args, ValueEnum};
use iaemu::halos::{self, HaloCatalog, LoadOptions, SyntheticUniverse};
use iaemu::hod::{HodParams, PopulateOptions, SatelliteModel, PARAM_NAMES};
use iaemu::{Error, Result};
use std::path::{Path, PathBuf};

/// Which model, where, and how many Monte Carlo passes.
#[derive(Args)]
pub struct EmulatorArgs {
    /// Model file (.safetensors); default: the built-in model.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Monte Carlo dropout passes (1: the plain prediction, no epistemic variance).
    #[arg(long, default_value_t = 20)]
    pub mc: usize,
    /// Seed of the dropout masks.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Device: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// LibTorch threads (default: IAEMU_NUM_THREADS, else all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Args)]
pub struct MeasureArgs {
    /// Bin edges in Mpc/h, comma separated (default: 20 log bins from 0.1 to 16).
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub edges: Option<Vec<f64>>,
    /// Normalisation of xi.
    #[arg(long, value_enum, default_value_t = Norm::NSquared)]
    pub normalization: Norm,
    /// Jackknife with n^3 sub-volumes, for per-bin variances.
    #[arg(long)]
    pub jackknife: Option<usize>,
    /// With --jackknife: also write the covariance of (xi, omega, eta) to the JSON output.
    #[arg(long)]
    pub covariance: bool,
    /// Threads (default: IAEMU_NUM_THREADS, else all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Write the result as JSON here instead of printing a table.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// A model point and the halos it is put into.
#[derive(Args)]
pub struct ModelArgs {
    /// The seven parameters, comma separated: mu_cen,mu_sat,logMmin,sigma_logM,logM0,logM1,alpha.
    #[arg(long, value_delimiter = ',', num_args = 1.., required = true, allow_negative_numbers = true)]
    pub params: Vec<f64>,
    /// Halo catalogue (halotools HDF5, Rockstar/hlist ASCII, .npz); default: the synthetic
    /// universe with its default settings.
    #[arg(long)]
    pub halos: Option<PathBuf>,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Random seed of the galaxies.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Satellites multiplied by the mean central number.
    #[arg(long)]
    pub satellites_times_centrals: bool,
    /// Satellite positions: auto (subhalos when present), subhalos, or nfw.
    #[arg(long, value_enum, default_value_t = Satellites::Auto)]
    pub satellites: Satellites,
    /// Threads (default: IAEMU_NUM_THREADS, else all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// The halos a table of expected correlations is made of, its bins and satellite model
/// (`tabulate`, `expect`).
#[derive(Args)]
pub struct TableArgs {
    /// Halo catalogue (halotools HDF5, Rockstar/hlist ASCII, .npz); default: the synthetic
    /// universe with its default settings. (`expect` tabulates it and does not keep the table.)
    #[arg(long)]
    pub halos: Option<PathBuf>,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Bin edges in Mpc/h, comma separated (default: 20 log bins from 0.1 to 16; with
    /// a table given to `expect`, those of the table).
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub edges: Option<Vec<f64>>,
    /// Satellite positions: auto (subhalos when present), subhalos, or nfw.
    #[arg(long, value_enum, default_value_t = Satellites::Auto)]
    pub satellites: Satellites,
    /// Threads (default: IAEMU_NUM_THREADS, else all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Satellites {
    Auto,
    Subhalos,
    Nfw,
}

impl ModelArgs {
    pub fn params(&self) -> Result<HodParams> {
        let v: [f64; 7] = self.params.as_slice().try_into().map_err(|_| {
            Error::invalid(format!(
                "--params needs 7 numbers ({}), got {}",
                PARAM_NAMES.join(","),
                self.params.len()
            ))
        })?;
        HodParams::from_array(v)
    }
    pub fn populate_options(&self) -> PopulateOptions {
        PopulateOptions {
            satellites: self.satellites.model(),
            satellites_times_centrals: self.satellites_times_centrals,
            ..PopulateOptions::default()
        }
    }
    pub fn halos(&self) -> Result<HaloCatalog> {
        match &self.halos {
            Some(path) => {
                let h = load_halos(path, &self.load)?;
                eprintln!(
                    "{}: {} halos ({} hosts)",
                    path.display(),
                    h.len(),
                    h.n_hosts()
                );
                Ok(h)
            }
            None => synthesize(&SyntheticUniverse {
                threads: self.threads,
                ..Default::default()
            }),
        }
    }
}

#[derive(Args)]
pub struct UniverseArgs {
    /// Box side, Mpc/h.
    #[arg(long = "box", default_value_t = 250.0)]
    pub box_size: f64,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// FFT grid cells per side.
    #[arg(long, default_value_t = 128)]
    pub grid: usize,
    /// Lightest host halo, Msun/h (default: 300 particles of 1.55e8).
    #[arg(long)]
    pub min_host_mass: Option<f64>,
    /// No subhalos.
    #[arg(long)]
    pub no_subhalos: bool,
}

impl UniverseArgs {
    /// The universe these settings describe, made on `threads` threads.
    pub fn universe(&self, threads: Option<usize>) -> SyntheticUniverse {
        let d = SyntheticUniverse::default();
        SyntheticUniverse {
            box_size: self.box_size,
            seed: self.seed,
            grid: self.grid,
            min_host_mass: self.min_host_mass.unwrap_or(d.min_host_mass),
            subhalos: !self.no_subhalos,
            threads,
            ..d
        }
    }
}

/// Values for catalogue files that lack them (ASCII without comment lines, bare .npz).
#[derive(Args)]
pub struct LoadArgs {
    /// Box side, Mpc/h.
    #[arg(long = "box")]
    pub box_size: Option<f64>,
    /// Particle mass, Msun/h.
    #[arg(long)]
    pub particle_mass: Option<f64>,
    #[arg(long)]
    pub redshift: Option<f64>,
}

/// [`halos::load`] with the command line's flags named in its messages (the library names its
/// `LoadOptions` fields).
pub fn load_halos(path: &Path, load: &LoadArgs) -> Result<iaemu::halos::HaloCatalog> {
    halos::load(path, &load.options()).map_err(|e| match e {
        Error::InvalidArgument(m) => Error::InvalidArgument(
            m.replace("in the load options (box_size)", "with --box")
                .replace("in the load options (redshift)", "with --redshift")
                .replace(
                    "in the load options (particle_mass)",
                    "with --particle-mass",
                ),
        ),
        e => e,
    })
}

impl LoadArgs {
    pub fn options(&self) -> LoadOptions {
        LoadOptions {
            box_size: self.box_size,
            particle_mass: self.particle_mass,
            redshift: self.redshift,
            force: false,
        }
    }
}

#[derive(Args)]
pub struct MockArgs {
    /// Number of galaxies.
    #[arg(long, default_value_t = 100_000)]
    pub n: usize,
    /// Box side, Mpc/h.
    #[arg(long = "box", default_value_t = 250.0)]
    pub box_size: f64,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Norm {
    /// N^2 (halotools; the paper's data).
    NSquared,
    /// N(N-1) (Corrfunc).
    #[value(name = "n-n-minus1", alias = "nn-minus1")]
    NNMinus1,
}

impl Norm {
    pub fn xi_normalization(self) -> iaemu::corr::XiNormalization {
        match self {
            Norm::NSquared => iaemu::corr::XiNormalization::NSquared,
            Norm::NNMinus1 => iaemu::corr::XiNormalization::NNMinusOne,
        }
    }
}

impl Satellites {
    pub fn model(self) -> SatelliteModel {
        match self {
            Satellites::Auto => SatelliteModel::Auto,
            Satellites::Subhalos => SatelliteModel::Subhalos,
            Satellites::Nfw => SatelliteModel::Nfw,
        }
    }
}

pub fn parse_box(s: &str) -> std::result::Result<[f64; 3], String> {
    let v: Vec<f64> = s
        .split(',')
        .map(|p| p.trim().parse::<f64>().map_err(|e| format!("{p:?}: {e}")))
        .collect::<std::result::Result<_, _>>()?;
    match v[..] {
        [l] => Ok([l; 3]),
        [x, y, z] => Ok([x, y, z]),
        _ => Err(format!("expected L or Lx,Ly,Lz, got {s:?}")),
    }
}
