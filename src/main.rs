//! The `iaemu` command line.

use clap::{Args, Parser, Subcommand, ValueEnum};
use iaemu::corr::{self, Correlation, CorrelationOptions, XiNormalization};
use iaemu::dataset::{self, Design, Shard};
use iaemu::halos::{self, Column, HaloCatalog, LoadOptions, SyntheticUniverse, HOST_MIN_PARTICLES};
use iaemu::hod::{
    self, HodParams, PopulateOptions, SatelliteModel, SimulateOptions, Simulation, PARAM_NAMES,
};
use iaemu::{io, mock, Error, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "iaemu",
    version,
    about = "Galaxy intrinsic-alignment statistics, simulation and emulation"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure xi, omega and eta of a galaxy catalogue in a periodic box.
    Correlate {
        /// Catalogue: .npy (N x 3, 6 or 7 floats: x,y,z[,ex,ey,ez[,w]]) or .csv with header x,y,z,ex,ey,ez[,w].
        #[arg(long)]
        catalog: PathBuf,
        /// Box side in Mpc/h: L, or Lx,Ly,Lz.
        #[arg(long = "box", value_parser = parse_box)]
        box_size: [f64; 3],
        #[command(flatten)]
        measure: MeasureArgs,
    },
    /// Make the default synthetic universe and print xi, omega and eta of its host halos
    /// (positions and major axes) above a mass.
    Demo {
        #[command(flatten)]
        universe: UniverseArgs,
        /// Lightest host measured, Msun/h.
        #[arg(long, default_value_t = 1e12)]
        min_mass: f64,
        #[command(flatten)]
        measure: MeasureArgs,
    },
    /// Halo catalogues: make the synthetic universe, or describe a catalogue file.
    Halos {
        #[command(subcommand)]
        command: HalosCommand,
    },
    /// Write the clustered, aligned sample catalogue as an N x 6 .npy file (x,y,z,ex,ey,ez).
    Mock {
        #[command(flatten)]
        mock: MockArgs,
        /// Output .npy file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Populate halos with galaxies for one model point and measure xi, omega and eta over
    /// realisations (mean and variance).
    Simulate {
        #[command(flatten)]
        model: ModelArgs,
        /// Realisations (new random draws on the same halos).
        #[arg(long, default_value_t = 10)]
        realizations: usize,
        /// Bin edges in Mpc/h, comma separated (default: 20 log bins from 0.1 to 16).
        #[arg(long, value_delimiter = ',', num_args = 1..)]
        edges: Option<Vec<f64>>,
        /// Write the result as JSON here instead of printing a table.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also draw the three curves with error bars into this PNG file.
        #[arg(long)]
        plot: Option<PathBuf>,
    },
    /// Populate halos with galaxies for one model point and write them: .npy (N x 6: x, y, z,
    /// ex, ey, ez, readable by `correlate`) or .npz (positions, velocities, orientations,
    /// is_central, host_id).
    Populate {
        #[command(flatten)]
        model: ModelArgs,
        /// Output file, .npy or .npz.
        #[arg(long)]
        out: PathBuf,
    },
    /// Make a training dataset: a design of model points, each simulated over realisations,
    /// written in chunks (resumable) to DIR. Sharded runs (--shard k/n, or auto under mpirun or
    /// SLURM) write DIR/shard-k-of-n; join them with `iaemu merge`.
    Generate {
        /// paper (the paper's scheme) or lhs (Latin hypercube).
        #[arg(long)]
        design: Design,
        /// Number of model points.
        #[arg(long)]
        n: usize,
        /// Realisations per point.
        #[arg(long, default_value_t = 10)]
        realizations: usize,
        /// Halo catalogue; default: the synthetic universe with its default settings.
        #[arg(long)]
        halos: Option<PathBuf>,
        #[command(flatten)]
        load: LoadArgs,
        /// Seed of the design and of the galaxies.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// This process's shard: k/n, or auto (the rank and size from mpirun or SLURM).
        #[arg(long)]
        shard: Option<String>,
        /// Points per chunk file (the most a crash can lose).
        #[arg(long, default_value_t = 8)]
        chunk: usize,
        /// Bin edges in Mpc/h, comma separated (default: 20 log bins from 0.1 to 16).
        #[arg(long, value_delimiter = ',', num_args = 1..)]
        edges: Option<Vec<f64>>,
        /// Threads (default: IAEMU_NUM_THREADS, else all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Join the shard folders of one `generate` run into one dataset, checking that they
    /// belong together.
    Merge {
        /// Shard folders (DIR/shard-k-of-n).
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Train the emulator on a dataset from `generate` (resumes an interrupted run from its
    /// checkpoint, OUT.checkpoint).
    Train {
        /// Dataset folder (complete, or merged).
        #[arg(long)]
        data: PathBuf,
        /// JSON configuration: {"model": {...}, "train": {...}}; keys left out keep the paper's
        /// defaults (README, "Emulator").
        #[arg(long)]
        config: Option<PathBuf>,
        /// Output model, .safetensors.
        #[arg(long)]
        out: PathBuf,
        /// Ignore and replace an existing checkpoint of OUT instead of resuming it.
        #[arg(long)]
        restart: bool,
        /// Device: auto, cpu, cuda or cuda:N (overrides the config).
        #[arg(long)]
        device: Option<String>,
        /// LibTorch threads (overrides the config; default: IAEMU_NUM_THREADS, else all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Predict xi, omega and eta with aleatoric and epistemic uncertainties for one or more
    /// parameter points.
    Predict {
        #[command(flatten)]
        emulator: EmulatorArgs,
        /// Seven parameters per point, comma separated (mu_cen,mu_sat,logMmin,sigma_logM,logM0,
        /// logM1,alpha); repeat --params for more points.
        #[arg(long, value_delimiter = ',', num_args = 1.., required = true, allow_negative_numbers = true, action = clap::ArgAction::Append)]
        params: Vec<f64>,
        /// Predict even outside the training domain (rows are flagged).
        #[arg(long)]
        allow_extrapolation: bool,
        /// Write the result as JSON here (else print a table).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Draw the first point's curves with both uncertainties into this PNG.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// With --out: also write `jacobian`, d mean / d params by autograd (n x 3 x bins x 7,
        /// also for one point).
        #[arg(long, requires = "out")]
        jacobian: bool,
    },
    /// Measure a model on a dataset: its test split, or every row with --all (docs/science.md
    /// section 10 metrics).
    Evaluate {
        #[command(flatten)]
        emulator: EmulatorArgs,
        /// Dataset folder.
        #[arg(long)]
        data: PathBuf,
        /// Every valid row, for a dataset the model never saw (default: the model's test split,
        /// which needs the dataset it was trained on).
        #[arg(long)]
        all: bool,
        /// Write the metrics as JSON here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write the Figure-3-style PNG here, and example curves beside it (NAME-examples.png).
        #[arg(long)]
        plot: Option<PathBuf>,
    },
    /// Print the build, the threads and the LibTorch back end.
    Info,
}

/// Which model, where, and how many Monte Carlo passes.
#[derive(Args)]
struct EmulatorArgs {
    /// Model file (.safetensors); default: the built-in model.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Monte Carlo dropout passes (1: the plain prediction, no epistemic variance).
    #[arg(long, default_value_t = 20)]
    mc: usize,
    /// Seed of the dropout masks.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Device: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: String,
    /// LibTorch threads (default: IAEMU_NUM_THREADS, else all cores).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Args)]
struct MeasureArgs {
    /// Bin edges in Mpc/h, comma separated (default: 20 log bins from 0.1 to 16).
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    edges: Option<Vec<f64>>,
    /// Normalisation of xi.
    #[arg(long, value_enum, default_value_t = Norm::NSquared)]
    normalization: Norm,
    /// Jackknife with n^3 sub-volumes, for per-bin variances.
    #[arg(long)]
    jackknife: Option<usize>,
    /// With --jackknife: also write the covariance of (xi, omega, eta) to the JSON output.
    #[arg(long)]
    covariance: bool,
    /// Threads (default: IAEMU_NUM_THREADS, else all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Write the result as JSON here instead of printing a table.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// A model point and the halos it is put into.
#[derive(Args)]
struct ModelArgs {
    /// The seven parameters, comma separated: mu_cen,mu_sat,logMmin,sigma_logM,logM0,logM1,alpha.
    #[arg(long, value_delimiter = ',', num_args = 1.., required = true, allow_negative_numbers = true)]
    params: Vec<f64>,
    /// Halo catalogue (halotools HDF5, Rockstar/hlist ASCII, .npz); default: the synthetic
    /// universe with its default settings.
    #[arg(long)]
    halos: Option<PathBuf>,
    #[command(flatten)]
    load: LoadArgs,
    /// Random seed of the galaxies.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Satellites multiplied by the mean central number.
    #[arg(long)]
    satellites_times_centrals: bool,
    /// Satellite positions: auto (subhalos when present), subhalos, or nfw.
    #[arg(long, value_enum, default_value_t = Satellites::Auto)]
    satellites: Satellites,
    /// Threads (default: IAEMU_NUM_THREADS, else all cores).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Satellites {
    Auto,
    Subhalos,
    Nfw,
}

impl ModelArgs {
    fn params(&self) -> Result<HodParams> {
        let v: [f64; 7] = self.params.as_slice().try_into().map_err(|_| {
            Error::invalid(format!(
                "--params needs 7 numbers ({}), got {}",
                PARAM_NAMES.join(","),
                self.params.len()
            ))
        })?;
        HodParams::from_array(v)
    }
    fn populate_options(&self) -> PopulateOptions {
        PopulateOptions {
            satellites: match self.satellites {
                Satellites::Auto => SatelliteModel::Auto,
                Satellites::Subhalos => SatelliteModel::Subhalos,
                Satellites::Nfw => SatelliteModel::Nfw,
            },
            satellites_times_centrals: self.satellites_times_centrals,
            ..PopulateOptions::default()
        }
    }
    fn halos(&self) -> Result<HaloCatalog> {
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

#[derive(Subcommand)]
enum HalosCommand {
    /// Make the synthetic universe (docs/science.md section 8) and write it: .hdf5 (halotools cache
    /// format) or .npz.
    Synth {
        #[command(flatten)]
        universe: UniverseArgs,
        /// Output file, .hdf5 or .npz.
        #[arg(long)]
        out: PathBuf,
        /// Threads (default: IAEMU_NUM_THREADS, else all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Describe a catalogue: counts, mass range, box, columns, and what was derived or dropped.
    Info {
        /// halotools HDF5, Rockstar/hlist ASCII, or .npz.
        file: PathBuf,
        #[command(flatten)]
        load: LoadArgs,
    },
}

#[derive(Args)]
struct UniverseArgs {
    /// Box side, Mpc/h.
    #[arg(long = "box", default_value_t = 250.0)]
    box_size: f64,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// FFT grid cells per side.
    #[arg(long, default_value_t = 128)]
    grid: usize,
    /// Lightest host halo, Msun/h (default: 300 particles of 1.55e8).
    #[arg(long)]
    min_host_mass: Option<f64>,
    /// No subhalos.
    #[arg(long)]
    no_subhalos: bool,
}

impl UniverseArgs {
    /// The universe these settings describe, made on `threads` threads.
    fn universe(&self, threads: Option<usize>) -> SyntheticUniverse {
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
struct LoadArgs {
    /// Box side, Mpc/h.
    #[arg(long = "box")]
    box_size: Option<f64>,
    /// Particle mass, Msun/h.
    #[arg(long)]
    particle_mass: Option<f64>,
    #[arg(long)]
    redshift: Option<f64>,
}

/// [`halos::load`] with the command line's flags named in its messages (the library names its
/// `LoadOptions` fields).
fn load_halos(path: &Path, load: &LoadArgs) -> Result<iaemu::halos::HaloCatalog> {
    halos::load(path, &load.options()).map_err(|e| match e {
        Error::InvalidArgument(m) => Error::InvalidArgument(
            m.replace("in the load options (box_size)", "with --box")
                .replace("in the load options (redshift)", "with --redshift")
                .replace("in the load options (particle_mass)", "with --particle-mass"),
        ),
        e => e,
    })
}

impl LoadArgs {
    fn options(&self) -> LoadOptions {
        LoadOptions {
            box_size: self.box_size,
            particle_mass: self.particle_mass,
            redshift: self.redshift,
            force: false,
        }
    }
}

#[derive(Args)]
struct MockArgs {
    /// Number of galaxies.
    #[arg(long, default_value_t = 100_000)]
    n: usize,
    /// Box side, Mpc/h.
    #[arg(long = "box", default_value_t = 250.0)]
    box_size: f64,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum Norm {
    /// N^2 (halotools; the paper's data).
    NSquared,
    /// N(N-1) (Corrfunc).
    #[value(name = "n-n-minus1", alias = "nn-minus1")]
    NNMinus1,
}

fn parse_box(s: &str) -> std::result::Result<[f64; 3], String> {
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

fn main() {
    // Die quietly on a closed pipe (`iaemu halos info F | head`), as Unix tools do, instead of
    // panicking in println!.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    if let Err(e) = run(cli.command) {
        eprintln!("iaemu: {e}");
        std::process::exit(match e {
            Error::InvalidArgument(_) | Error::OutOfDomain(_) => 2,
            _ => 1,
        });
    }
}

/// Output files of a command, whose folders must exist before its work starts (formats are
/// checked where the command knows them: galaxies, halo catalogues). Generate and merge make
/// their output folder.
fn output_files(command: &Command) -> Vec<&Path> {
    fn opt(p: &Option<PathBuf>) -> Option<&Path> {
        p.as_deref()
    }
    let list: Vec<Option<&Path>> = match command {
        Command::Correlate { measure, .. } | Command::Demo { measure, .. } => vec![opt(&measure.out)],
        Command::Mock { out, .. } | Command::Populate { out, .. } | Command::Train { out, .. } => vec![Some(out)],
        Command::Halos { command: HalosCommand::Synth { out, .. } } => vec![Some(out)],
        Command::Simulate { out, plot, .. } | Command::Predict { out, plot, .. } | Command::Evaluate { out, plot, .. } => {
            vec![opt(out), opt(plot)]
        }
        _ => vec![],
    };
    list.into_iter().flatten().collect()
}

fn run(command: Command) -> Result<()> {
    for path in output_files(&command) {
        io::check_folder(path)?;
    }
    match command {
        Command::Correlate {
            catalog,
            box_size,
            measure,
        } => {
            let file = io::read_galaxies(&catalog)?;
            let n = file.positions.len();
            eprintln!(
                "{}: {n} galaxies{}",
                catalog.display(),
                if file.orientations.is_some() {
                    " with orientations"
                } else {
                    " (positions only: xi)"
                }
            );
            measure_and_report(&file.galaxies(), box_size, &measure)
        }
        Command::Demo {
            universe,
            min_mass,
            measure,
        } => {
            let halos = synthesize(&universe.universe(measure.threads))?;
            let rows: Vec<usize> = halos
                .central_hosts(HOST_MIN_PARTICLES)
                .into_iter()
                .filter(|&i| halos.col(Column::Mvir)[i] >= min_mass)
                .collect();
            let column = |c: [Column; 3]| -> Vec<[f64; 3]> {
                rows.iter().map(|&i| c.map(|c| halos.col(c)[i])).collect()
            };
            let positions = column([Column::X, Column::Y, Column::Z]);
            let axes = column([Column::AxisAX, Column::AxisAY, Column::AxisAZ]);
            eprintln!(
                "measuring {} host halos with mvir >= {min_mass:.3e} Msun/h, oriented along their major axes",
                rows.len()
            );
            let g = corr::Galaxies::new(&positions, Some(&axes));
            measure_and_report(&g, halos.box_size(), &measure)
        }
        Command::Halos {
            command: HalosCommand::Synth { universe, out, threads },
        } => {
            halos::check_output(&out)?;
            let halos = synthesize(&universe.universe(threads))?;
            halos::save(&halos, &out)?;
            eprintln!("wrote {}", out.display());
            Ok(())
        }
        Command::Halos {
            command: HalosCommand::Info { file, load },
        } => {
            let halos = load_halos(&file, &load)?;
            describe(&halos);
            Ok(())
        }
        Command::Mock { mock, out } => {
            let cat = mock::mock_catalog(&mock_options(&mock))?;
            let rows = ndarray::Array2::from_shape_fn((cat.positions.len(), 6), |(i, k)| {
                if k < 3 {
                    cat.positions[i][k]
                } else {
                    cat.orientations[i][k - 3]
                }
            });
            io::write_npy_matrix(&out, &rows)?;
            eprintln!(
                "wrote {} galaxies (box {} Mpc/h) to {}",
                rows.nrows(),
                cat.box_size,
                out.display()
            );
            Ok(())
        }
        Command::Simulate {
            model,
            realizations,
            edges,
            out,
            plot,
        } => {
            let params = model.params()?;
            let halos = model.halos()?;
            let opts = SimulateOptions {
                r_edges: edges.unwrap_or_else(corr::default_r_edges),
                populate: model.populate_options(),
                threads: model.threads,
                ..SimulateOptions::default()
            };
            let start = Instant::now();
            let s = hod::simulate(&halos, &params, realizations, model.seed, &opts)?;
            let elapsed = start.elapsed().as_secs_f64();
            let mean_n = s.n_galaxies.iter().sum::<usize>() as f64 / s.n_galaxies.len() as f64;
            eprintln!(
                "{realizations} realisations of {mean_n:.0} galaxies on average in {elapsed:.2} s"
            );
            if let Some(png) = &plot {
                let v = params.to_array();
                let title = format!(
                    "mu_cen {} mu_sat {} logMmin {} sigma_logM {} logM0 {} logM1 {} alpha {}  ({realizations} realisations, {})",
                    v[0], v[1], v[2], v[3], v[4], v[5], v[6], halos_name(&halos)
                );
                iaemu::plot::plot_simulation(png, &s, &title)?;
                eprintln!("wrote {}", png.display());
            }
            match out {
                Some(path) => {
                    let j = serde_json::json!({
                        "r_edges": s.r_edges, "r_mid": s.r_mid, "xi": s.xi, "omega": s.omega, "eta": s.eta,
                        "xi_var": s.xi_var, "omega_var": s.omega_var, "eta_var": s.eta_var,
                        "params": params.to_array(), "param_names": PARAM_NAMES,
                        "n_realizations": realizations, "seed": model.seed, "n_galaxies": s.n_galaxies,
                        "halos": halos.meta().provenance.source, "halos_simname": halos.meta().provenance.simname,
                        "halos_notes": halos.meta().provenance.notes,
                        "elapsed_s": elapsed, "iaemu_version": iaemu::VERSION,
                    });
                    write_text(
                        &path,
                        &serde_json::to_string_pretty(&j)
                            .map_err(|e| Error::Internal(e.to_string()))?,
                    )
                }
                None => {
                    print_simulation(&s);
                    Ok(())
                }
            }
        }
        Command::Populate { model, out } => {
            io::check_galaxies_output(&out)?;
            let params = model.params()?;
            let halos = model.halos()?;
            let g = iaemu::threads::install(model.threads, || {
                hod::populate(&halos, &params, model.seed, &model.populate_options())
            })??;
            let n_cen = g.is_central.iter().filter(|c| **c).count();
            eprintln!(
                "{} galaxies ({n_cen} centrals, {} satellites)",
                g.len(),
                g.len() - n_cen
            );
            io::write_galaxies(&out, &g)?;
            eprintln!("wrote {}", out.display());
            Ok(())
        }
        Command::Generate {
            design,
            n,
            realizations,
            halos: halos_file,
            load,
            seed,
            shard,
            chunk,
            edges,
            threads,
            out,
        } => {
            let shard = match shard.as_deref() {
                None => Shard::WHOLE,
                Some("auto") => Shard::from_launcher()?,
                Some(s) => Shard::parse(s)?,
            };
            let halos = match &halos_file {
                Some(path) => load_halos(path, &load)?,
                None => synthesize(&SyntheticUniverse {
                    threads,
                    ..Default::default()
                })?,
            };
            let plan = dataset::Plan {
                design,
                n_points: n,
                realizations,
                seed,
                r_edges: edges.unwrap_or_else(corr::default_r_edges),
                populate: PopulateOptions::default(),
                chunk,
                halos: dataset::HalosIdentity::of(&halos),
            };
            let bar = progress_bar(
                "{spinner} points {bar:40} {pos}/{len} {per_sec} {elapsed} (eta {eta})",
            );
            let last = std::sync::Mutex::new(Instant::now());
            let start = Instant::now();
            let progress = |done: usize, total: usize| match &bar {
                Some(b) => {
                    b.set_length(total as u64);
                    b.set_position(done as u64);
                }
                None => {
                    // Logs (SLURM, mpirun): a line at most every 10 s, and at the end.
                    let mut l = last.lock().expect("progress lock");
                    if done == total || l.elapsed().as_secs_f64() > 10.0 {
                        *l = Instant::now();
                        let rate = done as f64 / start.elapsed().as_secs_f64();
                        eprintln!(
                            "shard {}/{}: {done}/{total} points, {:.0} points/hour, eta {:.0} s",
                            shard.index,
                            shard.count,
                            rate * 3600.0,
                            (total - done) as f64 / rate.max(1e-12)
                        );
                    }
                }
            };
            let report = dataset::generate(&plan, &halos, shard, &out, threads, &progress)?;
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            eprintln!(
                "{}: {} chunks done ({} points) in {:.1} s, {} already there{}",
                report.dir.display(),
                report.chunks_done,
                report.points_done,
                report.seconds,
                report.chunks_skipped,
                if report.assembled {
                    "; dataset complete"
                } else {
                    "; join the shards with `iaemu merge`"
                }
            );
            Ok(())
        }
        Command::Merge { shards, out } => {
            dataset::merge(&shards, &out)?;
            eprintln!("merged {} shards into {}", shards.len(), out.display());
            Ok(())
        }
        Command::Train {
            data,
            config,
            out,
            restart,
            device,
            threads,
        } => emulator_cmd::train(&data, config.as_deref(), &out, restart, device, threads),
        Command::Predict {
            emulator,
            params,
            allow_extrapolation,
            out,
            plot,
            jacobian,
        } => emulator_cmd::predict(&emulator, &params, allow_extrapolation, jacobian, out.as_deref(), plot.as_deref()),
        Command::Evaluate {
            emulator,
            data,
            all,
            out,
            plot,
        } => emulator_cmd::evaluate(&emulator, &data, all, out.as_deref(), plot.as_deref()),
        Command::Info => info(),
    }
}

/// The emulator commands (`train`, `predict`, `evaluate`).
#[cfg(feature = "emulator")]
mod emulator_cmd {
    use super::*;
    use iaemu::emulator::{self, Config, Control, Emulator, PredictOptions, Rows, STATISTICS};

    fn open(a: &EmulatorArgs) -> Result<(Emulator, PredictOptions)> {
        let emu = Emulator::open(a.model.as_deref(), &a.device)?;
        let opts = PredictOptions {
            mc_passes: a.mc,
            seed: a.seed,
            allow_extrapolation: false,
            threads: a.threads,
        };
        Ok((emu, opts))
    }

    fn hms(s: f64) -> String {
        if !s.is_finite() {
            return "?".into();
        }
        let s = s.round() as u64;
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    }

    pub fn train(
        data: &Path,
        config: Option<&Path>,
        out: &Path,
        restart: bool,
        device: Option<String>,
        threads: Option<usize>,
    ) -> Result<()> {
        let mut cfg = match config {
            Some(p) => Config::from_file(p)?,
            None => Config::default(),
        };
        if let Some(d) = device {
            cfg.train.device = d;
        }
        if let Some(t) = threads {
            cfg.train.threads = t;
        }
        let data = dataset::Data::load(data)?;
        eprintln!(
            "training on {} rows of {} ({} bins), device {}, checkpoint {}",
            data.len(),
            data.meta.as_ref().map_or("?".into(), |m| format!("{:?} design, seed {}", m.plan.design, m.plan.seed)),
            data.r_edges.len() - 1,
            cfg.train.device,
            emulator::train::checkpoint_path(out).display()
        );
        let emu = emulator::train(&cfg, &data, out, restart, &mut |e| {
            eprintln!(
                "epoch {:>5}/{}  train {:>9.4}  val {:>9.4}  best {:>9.4} (epoch {})  lr {:.2e}  elapsed {}  eta {}{}",
                e.epoch,
                e.max_epochs,
                e.train_loss,
                e.validation_loss,
                e.best_validation_loss,
                e.best_epoch,
                e.lr,
                hms(e.seconds),
                hms(e.eta_seconds),
                if e.resumed { "  (from checkpoint)" } else { "" }
            );
            Control::Continue
        })?;
        let t = &emu.meta().training;
        eprintln!(
            "wrote {}: {} epochs ({}), best {} (validation loss {:.4}), {} weights, {:.0} s",
            out.display(),
            t.epochs,
            t.stopped_by,
            t.best_epoch,
            t.best_validation_loss,
            t.n_weights,
            t.seconds
        );
        if let Some(m) = &emu.meta().metrics {
            print_metrics(m);
        }
        Ok(())
    }

    fn print_metrics(m: &emulator::Metrics) {
        println!(
            "{} curves with every bin measured, {} Monte Carlo passes",
            m.n_curves, m.mc_passes
        );
        println!(
            "{:>6}  {:>8}  {:>14}  {:>12}  {:>11}  {:>11}  {:>13}",
            "", "PCC", "|frac err| med", "mean", "cover 1sig", "cover 2sig", "epi < ale"
        );
        for (name, s) in STATISTICS.iter().zip(m.by_statistic()) {
            println!(
                "{name:>6}  {:>8.4}  {:>14.4}  {:>12.4}  {:>10.1}%  {:>10.1}%  {:>12.1}%",
                s.pcc_mean,
                s.frac_err_median,
                s.frac_err_mean,
                100.0 * s.coverage_1sigma,
                100.0 * s.coverage_2sigma,
                100.0 * s.epistemic_below_aleatoric
            );
        }
    }

    pub fn predict(
        a: &EmulatorArgs,
        params: &[f64],
        allow_extrapolation: bool,
        jacobian: bool,
        out: Option<&Path>,
        plot: Option<&Path>,
    ) -> Result<()> {
        let (emu, mut opts) = open(a)?;
        opts.allow_extrapolation = allow_extrapolation;
        let start = Instant::now();
        let p = emu.predict(params, &opts)?;
        let elapsed = start.elapsed().as_secs_f64();
        let n = p.flags.len();
        let nb = emu.n_bins();
        let r_edges = emu.meta().r_edges.clone();
        let r_mid = corr::r_mid(&r_edges);
        eprintln!(
            "{n} point(s) x {} Monte Carlo passes in {:.1} ms on {}",
            opts.mc_passes,
            1e3 * elapsed,
            emu.device()
        );
        let row = |a: &ndarray::Array3<f64>, i: usize, s: usize| a.slice(ndarray::s![i, s, ..]).to_vec();
        if let Some(png) = plot {
            let v = &params[..7];
            let title = format!(
                "emulator: mu_cen {} mu_sat {} logMmin {} sigma_logM {} logM0 {} logM1 {} alpha {} ({} MC passes)",
                v[0], v[1], v[2], v[3], v[4], v[5], v[6], opts.mc_passes
            );
            let curves = iaemu::plot::Curves::of_prediction(&p, 0, &r_edges, None);
            iaemu::plot::plot_curves(png, &curves, &title)?;
            eprintln!("wrote {}", png.display());
        }
        match out {
            Some(path) => {
                let per = |a: &ndarray::Array3<f64>, s: usize| -> Vec<Vec<f64>> { (0..n).map(|i| row(a, i, s)).collect() };
                let mut j = serde_json::json!({
                    "r_edges": r_edges, "r_mid": r_mid,
                    "params": params.chunks(7).collect::<Vec<_>>(), "param_names": PARAM_NAMES,
                    "flags": p.flags, "mc_passes": opts.mc_passes, "seed": opts.seed,
                    "device": emu.device(), "model": a.model.as_ref().map_or("built-in".into(), |m| m.display().to_string()),
                    "elapsed_s": elapsed, "iaemu_version": iaemu::VERSION,
                });
                for (s, name) in STATISTICS.iter().enumerate() {
                    j[*name] = serde_json::json!(per(&p.mean, s));
                    j[format!("{name}_aleatoric_var")] = serde_json::json!(per(&p.aleatoric_var, s));
                    j[format!("{name}_epistemic_var")] = serde_json::json!(per(&p.epistemic_var, s));
                }
                if jacobian {
                    let jac = emu.jacobian(params, allow_extrapolation, opts.threads)?;
                    let rows: Vec<Vec<Vec<Vec<f64>>>> = jac
                        .jacobian
                        .outer_iter()
                        .map(|pt| pt.outer_iter().map(|st| st.outer_iter().map(|b| b.to_vec()).collect()).collect())
                        .collect();
                    j["jacobian"] = serde_json::json!(rows);
                    // The plain mean as the Jacobian's pass computes it (60 copies of each row, so
                    // equal to a one-pass prediction only to float32 rounding).
                    let means: Vec<Vec<Vec<f64>>> = (0..n).map(|i| (0..3).map(|s| row(&jac.mean, i, s)).collect()).collect();
                    j["jacobian_mean"] = serde_json::json!(means);
                }
                write_text(path, &serde_json::to_string_pretty(&j).map_err(|e| Error::Internal(e.to_string()))?)
            }
            None => {
                for i in 0..n {
                    if n > 1 {
                        println!("point {i}: {:?}", &params[7 * i..7 * i + 7]);
                    }
                    if p.flags[i] != 0 {
                        println!("(outside the training domain: flags {:#09b})", p.flags[i]);
                    }
                    println!(
                        "{:>8} {:>8} {:>8}  {:<31} {:<31} {:<31}",
                        "r_lo", "r_hi", "r_mid", "xi ± ale ± epi", "omega ± ale ± epi", "eta ± ale ± epi"
                    );
                    for k in 0..nb {
                        let cell = |s: usize| {
                            format!(
                                "{:>10.3e} ±{:<8.1e} ±{:<8.1e}",
                                p.mean[[i, s, k]],
                                p.aleatoric_var[[i, s, k]].sqrt(),
                                p.epistemic_var[[i, s, k]].sqrt()
                            )
                        };
                        println!(
                            "{:>8.4} {:>8.4} {:>8.4}  {:<31} {:<31} {:<31}",
                            r_edges[k], r_edges[k + 1], r_mid[k], cell(0), cell(1), cell(2)
                        );
                    }
                }
                println!("r in Mpc/h; ± aleatoric then epistemic standard deviation");
                Ok(())
            }
        }
    }

    pub fn evaluate(a: &EmulatorArgs, data: &Path, all: bool, out: Option<&Path>, plot: Option<&Path>) -> Result<()> {
        let (emu, opts) = open(a)?;
        let data = dataset::Data::load(data)?;
        let rows = if all { Rows::All } else { Rows::TestSplit };
        let start = Instant::now();
        let ev = emulator::evaluate(&emu, &data, rows, &opts)?;
        eprintln!(
            "{} curves x {} passes in {:.2} s; {} outside the training domain",
            ev.rows.len(),
            opts.mc_passes,
            start.elapsed().as_secs_f64(),
            ev.prediction.flags.iter().filter(|&&f| f != 0).count()
        );
        print_metrics(&ev.metrics);
        if let Some(path) = out {
            let mut j = serde_json::to_value(&ev.metrics).map_err(|e| Error::Internal(e.to_string()))?;
            j["rows"] = serde_json::json!(if all { "all" } else { "test split" });
            j["model"] = serde_json::json!(a.model.as_ref().map_or("built-in".into(), |m| m.display().to_string()));
            write_text(path, &serde_json::to_string_pretty(&j).map_err(|e| Error::Internal(e.to_string()))?)?;
        }
        if let Some(png) = plot {
            let examples = iaemu::plot::examples_path(png);
            iaemu::plot::plot_evaluation(png, &examples, &ev, &emu.meta().r_edges)?;
            eprintln!("wrote {} and {}", png.display(), examples.display());
        }
        Ok(())
    }
}

/// The emulator commands in a build without LibTorch.
#[cfg(not(feature = "emulator"))]
mod emulator_cmd {
    use super::*;
    fn unsupported() -> Result<()> {
        Err(Error::Unsupported(
            "this iaemu was built without the emulator (lite build): build with the default features".into(),
        ))
    }
    pub fn train(_: &Path, _: Option<&Path>, _: &Path, _: bool, _: Option<String>, _: Option<usize>) -> Result<()> {
        unsupported()
    }
    pub fn predict(_: &EmulatorArgs, _: &[f64], _: bool, _: bool, _: Option<&Path>, _: Option<&Path>) -> Result<()> {
        unsupported()
    }
    pub fn evaluate(_: &EmulatorArgs, _: &Path, _: bool, _: Option<&Path>, _: Option<&Path>) -> Result<()> {
        unsupported()
    }
}

/// A progress bar on stderr drawn with the indicatif `template`, when stderr is a terminal.
fn progress_bar(template: &str) -> Option<ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        let b = ProgressBar::new(0);
        b.set_style(ProgressStyle::with_template(template).expect("valid template"));
        b
    })
}

/// A short name for a catalogue: its simulation name, else its file name.
fn halos_name(h: &HaloCatalog) -> String {
    let p = &h.meta().provenance;
    if !p.simname.is_empty() {
        return p.simname.clone();
    }
    Path::new(&p.source)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text.to_string() + "\n")
        .map_err(|e| Error::io(format!("cannot write {}: {e}", path.display())))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn print_simulation(s: &Simulation) {
    let cell = |v: f64, var: f64| {
        if var.is_nan() {
            format!("{v:>11.4e}")
        } else {
            format!("{v:>11.4e} ± {:<9.2e}", var.sqrt())
        }
    };
    println!(
        "{:>8} {:>8} {:>8}  {:<23} {:<23} {:<23}",
        "r_lo", "r_hi", "r_mid", "xi", "omega", "eta"
    );
    for k in 0..s.xi.len() {
        println!(
            "{:>8.4} {:>8.4} {:>8.4}  {:<23} {:<23} {:<23}",
            s.r_edges[k],
            s.r_edges[k + 1],
            s.r_mid[k],
            cell(s.xi[k], s.xi_var[k]),
            cell(s.omega[k], s.omega_var[k]),
            cell(s.eta[k], s.eta_var[k]),
        );
    }
    println!("r in Mpc/h; ± is the standard deviation over realisations (of one realisation, not of the mean)");
}

fn synthesize(u: &SyntheticUniverse) -> Result<HaloCatalog> {
    eprintln!(
        "making the synthetic universe: box {} Mpc/h, seed {}, grid {}^3, hosts from {:.3e} Msun/h",
        u.box_size, u.seed, u.grid, u.min_host_mass
    );
    let start = Instant::now();
    // On a terminal, a spinner with the elapsed time while it is made (seconds to minutes).
    let spinner = progress_bar("{spinner} making the synthetic universe {elapsed}");
    if let Some(b) = &spinner {
        b.enable_steady_tick(std::time::Duration::from_millis(100));
    }
    let halos = u.generate();
    if let Some(b) = spinner {
        b.finish_and_clear();
    }
    let halos = halos?;
    eprintln!(
        "{} halos ({} hosts, {} subhalos) in {:.2} s",
        halos.len(),
        halos.n_hosts(),
        halos.len() - halos.n_hosts(),
        start.elapsed().as_secs_f64()
    );
    Ok(halos)
}

fn describe(h: &HaloCatalog) {
    let meta = h.meta();
    let p = &meta.provenance;
    let mvir = h.col(Column::Mvir);
    let (lo, hi) = mvir
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &m| (a.min(m), b.max(m)));
    println!("source: {}", p.source);
    for (k, v) in [
        ("simname", &p.simname),
        ("halo_finder", &p.halo_finder),
        ("version_name", &p.version_name),
    ] {
        if !v.is_empty() {
            println!("{k}: {v}");
        }
    }
    println!(
        "box: {} x {} x {} Mpc/h",
        meta.box_size[0], meta.box_size[1], meta.box_size[2]
    );
    println!(
        "particle mass: {:.6e} Msun/h   redshift: {}",
        meta.particle_mass, meta.redshift
    );
    println!(
        "halos: {} ({} hosts, {} subhalos)",
        h.len(),
        h.n_hosts(),
        h.len() - h.n_hosts()
    );
    println!("mvir: {lo:.4e} to {hi:.4e} Msun/h");
    println!(
        "hosts that can take a central (mvir > {HOST_MIN_PARTICLES} particles, non-zero axis): {}",
        h.central_hosts(HOST_MIN_PARTICLES).len()
    );
    let names: Vec<&str> = Column::ALL
        .iter()
        .filter(|c| **c != Column::Rs)
        .map(|c| c.name())
        .collect();
    println!("columns: {}", names.join(" "));
    let r = h.report();
    println!("rows read: {}", r.rows_read);
    println!(
        "dropped: {} subhalos whose host is not in the catalogue",
        r.dropped_orphans
    );
    println!("wrapped into the box: {} positions", r.wrapped_positions);
    println!(
        "hosts with an all-zero major axis (no aligned central): {}",
        r.zero_axis_hosts
    );
    for d in &r.derived {
        println!("derived: {d}");
    }
}

fn mock_options(m: &MockArgs) -> mock::MockOptions {
    mock::MockOptions {
        n_galaxies: m.n,
        box_size: m.box_size,
        seed: m.seed,
        ..Default::default()
    }
}

fn measure_and_report(g: &corr::Galaxies, box_size: [f64; 3], m: &MeasureArgs) -> Result<()> {
    let options = CorrelationOptions {
        r_edges: m.edges.clone().unwrap_or_else(corr::default_r_edges),
        box_size,
        xi_normalization: match m.normalization {
            Norm::NSquared => XiNormalization::NSquared,
            Norm::NNMinus1 => XiNormalization::NNMinusOne,
        },
        jackknife: m.jackknife,
        covariance: m.covariance,
        threads: m.threads,
    };
    let bar = progress_bar("{spinner} pairs {bar:40} {percent:>3}% {elapsed} (eta {eta})");
    let progress = |done: usize, total: usize| {
        if let Some(b) = &bar {
            b.set_length(total as u64);
            b.set_position(done as u64);
        }
    };
    let start = Instant::now();
    let result = corr::correlate(g, &options, Some(&progress))?;
    let elapsed = start.elapsed().as_secs_f64();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let threads = match m.threads {
        Some(t) => t,
        None => iaemu::threads::num_threads()?,
    };
    eprintln!("measured in {elapsed:.3} s on {threads} thread(s)");
    let wrapped = g
        .positions
        .iter()
        .filter(|p| (0..3).any(|d| !(0.0..box_size[d]).contains(&p[d])))
        .count();
    if wrapped > 0 {
        eprintln!("wrapped into the box: {wrapped} positions outside [0, L)");
    }
    match &m.out {
        Some(path) => write_json(path, &result, g.positions.len(), wrapped, box_size, elapsed, threads),
        None => {
            print_table(&result);
            Ok(())
        }
    }
}

fn write_json(
    path: &Path,
    r: &Correlation,
    n: usize,
    wrapped: usize,
    box_size: [f64; 3],
    elapsed: f64,
    threads: usize,
) -> Result<()> {
    let mut j = serde_json::json!({
        "r_edges": r.r_edges, "r_mid": r.r_mid, "xi": r.xi, "omega": r.omega, "eta": r.eta,
        "pairs": r.pairs, "n_galaxies": n, "wrapped_positions": wrapped, "box_size": box_size,
        "elapsed_s": elapsed, "threads": threads, "iaemu_version": iaemu::VERSION,
    });
    if let Some(w) = &r.weighted_pairs {
        j["weighted_pairs"] = serde_json::json!(w);
    }
    if let Some(jk) = &r.jackknife {
        j["jackknife_side"] = serde_json::json!(jk.n_side);
        j["xi_var"] = serde_json::json!(jk.xi_var);
        j["omega_var"] = serde_json::json!(jk.omega_var);
        j["eta_var"] = serde_json::json!(jk.eta_var);
        if let Some(c) = &jk.covariance {
            // rows of the 3B x 3B matrix
            let side = 3 * r.xi.len();
            j["covariance"] = serde_json::json!(c.chunks(side).collect::<Vec<_>>());
        }
    }
    let text = serde_json::to_string_pretty(&j).map_err(|e| Error::Internal(e.to_string()))?;
    std::fs::write(path, text + "\n")
        .map_err(|e| Error::io(format!("cannot write {}: {e}", path.display())))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn print_table(r: &Correlation) {
    let jk = r.jackknife.as_ref();
    let cell = |v: f64, var: Option<f64>| match var {
        Some(var) => format!("{v:>11.4e} ± {:<9.2e}", var.sqrt()),
        None => format!("{v:>11.4e}"),
    };
    println!(
        "{:>8} {:>8} {:>8} {:>12}  {:<23} {:<23} {:<23}",
        "r_lo", "r_hi", "r_mid", "pairs", "xi", "omega", "eta"
    );
    for k in 0..r.xi.len() {
        println!(
            "{:>8.4} {:>8.4} {:>8.4} {:>12}  {:<23} {:<23} {:<23}",
            r.r_edges[k],
            r.r_edges[k + 1],
            r.r_mid[k],
            r.pairs[k],
            cell(r.xi[k], jk.map(|j| j.xi_var[k])),
            cell(r.omega[k], jk.map(|j| j.omega_var[k])),
            cell(r.eta[k], jk.map(|j| j.eta_var[k])),
        );
    }
    println!(
        "r in Mpc/h; pairs are ordered pairs{}",
        if jk.is_some() {
            "; ± is the jackknife standard deviation"
        } else {
            ""
        }
    );
}

fn info() -> Result<()> {
    println!("iaemu {}", iaemu::VERSION);
    println!(
        "threads: {} (set with --threads or {})",
        iaemu::threads::num_threads()?,
        iaemu::threads::THREADS_ENV
    );
    println!(
        "logical cores: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let widest = iaemu::corr::Isa::widest().name();
    match iaemu::corr::Isa::selected() {
        Ok(isa) => println!(
            "correlation kernel: {} (widest this CPU runs: {widest}; force one with {}=baseline|avx2|avx512)",
            isa.name(),
            iaemu::corr::ISA_ENV
        ),
        Err(e) => println!("correlation kernel: {e}"),
    }
    #[cfg(feature = "emulator")]
    {
        let b = iaemu::emulator::backend();
        println!(
            "emulator: built (LibTorch {} at {})",
            b.libtorch_version, b.libtorch_lib
        );
        println!("  CUDA devices: {}  cuDNN: {}", b.cuda_devices, b.cudnn);
        println!("  device 'auto' -> {}", b.auto_device);
        println!("  LibTorch threads: {}", b.torch_threads);
        let emu = iaemu::emulator::Emulator::builtin("cpu")?;
        let m = emu.meta();
        let t = &m.training;
        println!(
            "  built-in model: {} weights, {} training rows, {} epochs, log(xi) {}",
            t.n_weights, t.n_train, t.epochs, m.config.log_xi
        );
        if let Some(mm) = &m.metrics {
            let pcc = mm.by_statistic().map(|s| format!("{:.3}", s.pcc_mean));
            println!("  test PCC xi / omega / eta: {} (stored at the end of training)", pcc.join(" / "));
        }
    }
    #[cfg(not(feature = "emulator"))]
    println!(
        "emulator: not built (lite build without LibTorch; build with the default features for it)"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    /// clap's own consistency checks (duplicate flags such as a `--threads` from two argument
    /// groups, bad defaults), which a release build would otherwise skip until a debug build
    /// panics at run time.
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
