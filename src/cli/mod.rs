//! The commands of the `iaemu` command line: their definition (and so their `--help` text), and
//! [`run`], which hands each to its file.

mod args;
mod common;
mod correlate;
mod demo;
mod emulator_cmd;
mod evaluate;
mod expect;
mod generate;
mod halos;
mod info;
mod merge;
mod mock;
mod populate;
mod predict;
mod simulate;
mod tabulate;
mod train;

use args::{parse_box, EmulatorArgs, LoadArgs, MeasureArgs, MockArgs, ModelArgs, Norm, TableArgs, UniverseArgs};
use clap::Subcommand;
use iaemu::dataset::Design;
use iaemu::{io, Result};
use std::path::PathBuf;

/// What `evaluate` judges a model against.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Truth {
    Mean,
    Expected,
}

/// `iaemu tabulate merge`.
#[derive(Subcommand)]
pub enum TabulateMerge {
    /// Add the shard files of one sharded `tabulate` run into one table, checking that they
    /// belong together and that none is missing.
    Merge {
        /// Shard files (OUT-stem.shard-k-of-n.npz).
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// Output table, .npz.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum Command {
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
    /// Tabulate a halo catalogue's pair sums once (docs/science.md section 11), so that `expect`
    /// gives any model point's expected xi, omega and eta in milliseconds. Sharded runs
    /// (--shard k/n, or auto under mpirun or SLURM) write OUT's stem.shard-k-of-n.npz; join them
    /// with `iaemu tabulate merge`.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Tabulate {
        #[command(subcommand)]
        merge: Option<TabulateMerge>,
        #[command(flatten)]
        source: TableArgs,
        /// This process's shard: k/n, or auto (the rank and size from mpirun or SLURM).
        #[arg(long)]
        shard: Option<String>,
        /// Width of the host-mass bins, dex.
        #[arg(long, default_value_t = 0.2)]
        mass_bin_dex: f64,
        /// Seed of the random satellite positions averaged over.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output table, .npz (required; optional to clap only so that `merge` parses).
        #[arg(long, required = true)]
        out: Option<PathBuf>,
    },
    /// Expected (noise-free) xi, omega and eta of model points from a table (docs/science.md
    /// section 11): the mean over realisations of `simulate` on the same halos, with its parts
    /// and exact Jacobian. Without --table or --halos: the default universe's table, made on
    /// first use and kept in IAEMU_CACHE_DIR (else ~/.cache/iaemu).
    Expect {
        /// The seven parameters, comma separated: mu_cen,mu_sat,logMmin,sigma_logM,logM0,logM1,alpha.
        /// Repeat for more points.
        #[arg(long, required = true, allow_hyphen_values = true)]
        params: Vec<String>,
        /// Table made by `tabulate`.
        #[arg(long, conflicts_with = "halos")]
        table: Option<PathBuf>,
        #[command(flatten)]
        source: TableArgs,
        /// Satellites multiplied by the mean central number.
        #[arg(long)]
        satellites_times_centrals: bool,
        /// Normalisation of xi.
        #[arg(long, value_enum, default_value_t = Norm::NSquared)]
        normalization: Norm,
        /// Also the derivatives in the seven parameters (JSON `jacobian`).
        #[arg(long)]
        jacobian: bool,
        /// Also the parts: cen-cen 2-halo, cen-sat 1- and 2-halo, sat-sat 1- and 2-halo.
        #[arg(long)]
        parts: bool,
        /// Write the result as JSON here instead of printing tables.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also draw the first point's three curves into this PNG file.
        #[arg(long)]
        plot: Option<PathBuf>,
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
        /// Realisations per simulated point (0 with --expected: expected correlations only).
        #[arg(long, default_value_t = 10)]
        realizations: usize,
        /// Simulate only the points whose design index is a multiple of K; the others carry
        /// only their expected correlations (needs --expected).
        #[arg(long, value_name = "K", default_value_t = 1)]
        realizations_every: usize,
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
        /// Also store each point's expected correlations (expected.npy), from a table of the
        /// halos made once.
        #[arg(long)]
        expected: bool,
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
        /// Curves to judge against: mean (the realisations' mean) or expected (the dataset's
        /// expected correlations, stored by `generate` when asked).
        #[arg(long, value_enum, default_value_t = Truth::Mean)]
        truth: Truth,
    },
    /// Print the build, the threads and the LibTorch back end.
    Info,
}

#[derive(Subcommand)]
pub enum HalosCommand {
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
    /// Describe a catalogue: counts, mass range, box, columns, the hosts' median shape, and what
    /// was derived or dropped.
    Info {
        /// halotools HDF5, Rockstar/hlist ASCII, or .npz.
        file: PathBuf,
        #[command(flatten)]
        load: LoadArgs,
    },
}

/// Runs a command, once the folders of its output files are checked.
pub fn run(command: Command) -> Result<()> {
    for path in common::output_files(&command) {
        io::check_folder(path)?;
    }
    match command {
        Command::Correlate {
            catalog,
            box_size,
            measure,
        } => correlate::run(catalog, box_size, measure),
        Command::Demo {
            universe,
            min_mass,
            measure,
        } => demo::run(universe, min_mass, measure),
        Command::Halos { command } => halos::run(command),
        Command::Mock { mock, out } => mock::run(mock, out),
        Command::Simulate {
            model,
            realizations,
            edges,
            out,
            plot,
        } => simulate::run(model, realizations, edges, out, plot),
        Command::Populate { model, out } => populate::run(model, out),
        Command::Tabulate { merge: Some(TabulateMerge::Merge { shards, out }), .. } => tabulate::merge(&shards, out),
        Command::Tabulate { merge: None, source, shard, mass_bin_dex, seed, out } => {
            let out = out.ok_or_else(|| iaemu::Error::invalid("tabulate: --out TABLE is required"))?;
            tabulate::run(tabulate::Request { source: &source, mass_bin_dex, seed }, shard.as_deref(), out)
        }
        Command::Expect {
            params,
            table,
            source,
            satellites_times_centrals,
            normalization,
            jacobian,
            parts,
            out,
            plot,
        } => {
            let defaults = iaemu::expect::TableOptions::default();
            let request = tabulate::Request { source: &source, mass_bin_dex: defaults.mass_bin_dex, seed: defaults.seed };
            let flags = expect::Flags { params, table, satellites_times_centrals, normalization, jacobian, parts, out, plot };
            expect::run(flags, request)
        }
        Command::Generate {
            design,
            n,
            realizations,
            realizations_every,
            halos: halos_file,
            load,
            seed,
            shard,
            chunk,
            edges,
            expected,
            threads,
            out,
        } => generate::run(
            design,
            n,
            (realizations, realizations_every),
            halos_file,
            load,
            seed,
            shard,
            chunk,
            (edges, expected),
            threads,
            out,
        ),
        Command::Merge { shards, out } => merge::run(shards, out),
        Command::Train {
            data,
            config,
            out,
            restart,
            device,
            threads,
        } => train::run(&data, config.as_deref(), &out, restart, device, threads),
        Command::Predict {
            emulator,
            params,
            allow_extrapolation,
            out,
            plot,
            jacobian,
        } => predict::run(
            &emulator,
            &params,
            allow_extrapolation,
            jacobian,
            out.as_deref(),
            plot.as_deref(),
        ),
        Command::Evaluate {
            emulator,
            data,
            all,
            out,
            plot,
            truth,
        } => evaluate::run(&emulator, &data, all, out.as_deref(), plot.as_deref(), truth),
        Command::Info => info::run(),
    }
}
