//! Training datasets at scale: a design of model points, each simulated over realisations on
//! one halo catalogue, written as NumPy files (docs/science.md section 9).
//!
//! A dataset folder holds:
//! - `meta.json`: design, seeds, sizes, bin edges, populate options, halo catalogue
//!   provenance, code version, and the shard (`k` of `n`) when sharded;
//! - `chunks/chunk-NNNNNN.npz`: the finished points of one chunk (`params`, `mean`, `var`,
//!   `valid`, `n_galaxies`), each written beside and renamed into place, so a crash or a kill
//!   loses at most the chunk in flight and never damages a finished one; a re-run skips
//!   finished chunks;
//! - when every chunk is done (an unsharded run, or [`merge`]): `params.npy` (N x 7),
//!   `mean.npy` and `var.npy` (N x 3 x n_bins, rows xi, omega, eta), `valid.npy` (N, 1 where
//!   the point gave at least two galaxies; the other rows of `mean` and `var` are NaN),
//!   `n_galaxies.npy` (N, mean galaxies per realisation) and `r_edges.npy`; with
//!   [`Plan::expected`] also `expected.npy` (N x 3 x n_bins): each point's expected
//!   correlations ([`crate::expect`]) on the same halos, the noise-free mean of its
//!   realisations (NaN where the point is not valid), and `single.npy` (N x 3 x n_bins): the
//!   first realisation's curves, what a model's coverage of single realisations is judged on.
//!
//! With [`Plan::expected`], realisations may go to only every k-th point
//! ([`Plan::realizations_every`]): realisations are the cost of a dataset, the expected
//! correlations cost about a millisecond a point. A point without realisations has NaN in
//! `mean`, `var` and `single`, is valid where its expectation is, and `n_galaxies` holds its
//! expected galaxy count.
//!
//! Point i of the design is simulated with a seed drawn from (seed, i), so a dataset does not
//! depend on chunking, sharding or thread counts: a sharded run merged is the same as one run.
//!
//! Sharding ([`Shard`]): a shard takes the chunks whose number is its index modulo the shard
//! count; under MPI or SLURM each process finds its own ([`Shard::from_launcher`]).

pub mod design;

use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::{Array1, Array2, Array3, Axis};
use ndarray_npy::{NpzReader, NpzWriter, WriteNpyExt};
use rand::Rng;
use serde::{Deserialize, Serialize};

pub use design::Design;
pub use crate::shard::Shard;

use crate::halos::HaloCatalog;
use crate::hod::{self, HodParams, PopulateOptions, SimulateOptions, PARAM_NAMES};
use crate::io::write_atomically;
use crate::random::stream;
use crate::{Error, Result};

/// Format tag of `meta.json`.
pub const FORMAT: &str = "iaemu-dataset-1";

/// Everything that defines a dataset (what `meta.json` records and a re-run must match).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub design: Design,
    pub n_points: usize,
    pub realizations: usize,
    pub seed: u64,
    pub r_edges: Vec<f64>,
    pub populate: PopulateOptions,
    /// Points per chunk file.
    pub chunk: usize,
    /// Where the halos came from: source, simulation name, notes (generator settings), count.
    pub halos: HalosIdentity,
    /// Also store each point's expected correlations (`expected.npy`), from a table of the
    /// halos made once with the dataset's bins and satellite model.
    #[serde(default)]
    pub expected: bool,
    /// Realisations go to the points whose design index is a multiple of this (1: every
    /// point); the others carry only their expected correlations, so more than 1 needs
    /// `expected`.
    #[serde(default = "one")]
    pub realizations_every: usize,
}

fn one() -> usize {
    1
}

impl Plan {
    /// Whether design point `i` is simulated (has realisations).
    pub fn realised(&self, i: usize) -> bool {
        self.realizations > 0 && i % self.realizations_every == 0
    }
}

/// What identifies a halo catalogue in a dataset's metadata.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HalosIdentity {
    pub source: String,
    pub simname: String,
    pub notes: String,
    pub n_halos: usize,
    pub box_size: [f64; 3],
}

impl HalosIdentity {
    pub fn of(h: &HaloCatalog) -> Self {
        let p = &h.meta().provenance;
        HalosIdentity {
            source: p.source.clone(),
            simname: p.simname.clone(),
            notes: p.notes.clone(),
            n_halos: h.len(),
            box_size: h.box_size(),
        }
    }
}

/// `meta.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub format: String,
    pub iaemu_version: String,
    pub param_names: Vec<String>,
    pub plan: Plan,
    pub shard: Shard,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::io(format!("{}: {e}", path.display()))
}

fn read_meta(dir: &Path) -> Result<Option<Meta>> {
    let path = dir.join("meta.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let meta: Meta = serde_json::from_str(&text)
                .map_err(|e| io_err(&path, format!("not a dataset meta.json ({e})")))?;
            if meta.format != FORMAT {
                return Err(io_err(
                    &path,
                    format!("format {:?}, expected {FORMAT:?}", meta.format),
                ));
            }
            Ok(Some(meta))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(&path, e)),
    }
}

fn write_meta(dir: &Path, meta: &Meta) -> Result<()> {
    let path = dir.join("meta.json");
    let text = serde_json::to_string_pretty(meta).map_err(|e| Error::Internal(e.to_string()))?;
    write_atomically(&path, |tmp| {
        std::fs::write(tmp, text + "\n").map_err(|e| io_err(tmp, e))
    })
}

fn chunk_path(dir: &Path, c: usize) -> PathBuf {
    dir.join("chunks").join(format!("chunk-{c:06}.npz"))
}

/// The finished points of one chunk.
struct Chunk {
    params: Array2<f64>,
    mean: Array3<f64>,
    var: Array3<f64>,
    valid: Array1<u8>,
    n_galaxies: Array1<f64>,
    expected: Option<Array3<f64>>,
    single: Option<Array3<f64>>,
}

fn write_chunk(path: &Path, c: &Chunk) -> Result<()> {
    write_atomically(path, |tmp| {
        let file = std::fs::File::create(tmp).map_err(|e| io_err(tmp, e))?;
        let mut npz = NpzWriter::new(file);
        npz.add_array("params", &c.params)
            .map_err(|e| io_err(tmp, e))?;
        npz.add_array("mean", &c.mean).map_err(|e| io_err(tmp, e))?;
        npz.add_array("var", &c.var).map_err(|e| io_err(tmp, e))?;
        npz.add_array("valid", &c.valid)
            .map_err(|e| io_err(tmp, e))?;
        npz.add_array("n_galaxies", &c.n_galaxies)
            .map_err(|e| io_err(tmp, e))?;
        for (name, a) in [("expected", &c.expected), ("single", &c.single)] {
            if let Some(a) = a {
                npz.add_array(name, a).map_err(|e| io_err(tmp, e))?;
            }
        }
        let file = npz.finish().map_err(|e| io_err(tmp, e))?;
        file.sync_all().map_err(|e| io_err(tmp, e))
    })
}

fn read_chunk(path: &Path) -> Result<Chunk> {
    let file = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
    let mut npz = NpzReader::new(file).map_err(|e| io_err(path, format!("damaged chunk ({e})")))?;
    let bad = |e: ndarray_npy::ReadNpzError| io_err(path, format!("damaged chunk ({e})"));
    let names = npz.names().map_err(bad)?;
    let has = |name: &str| names.iter().any(|n| n.trim_end_matches(".npy") == name);
    Ok(Chunk {
        expected: if has("expected") { Some(npz.by_name("expected").map_err(bad)?) } else { None },
        single: if has("single") { Some(npz.by_name("single").map_err(bad)?) } else { None },
        params: npz.by_name("params").map_err(bad)?,
        mean: npz.by_name("mean").map_err(bad)?,
        var: npz.by_name("var").map_err(bad)?,
        valid: npz.by_name("valid").map_err(bad)?,
        n_galaxies: npz.by_name("n_galaxies").map_err(bad)?,
    })
}

/// Writes the curves of xi, omega and eta (in that row order) as point `j` of `to`.
fn put_curves(to: &mut Array3<f64>, j: usize, curves: [&Vec<f64>; 3]) {
    for (row, curve) in curves.into_iter().enumerate() {
        for (b, &v) in curve.iter().enumerate() {
            to[[j, row, b]] = v;
        }
    }
}

/// The seed of design point `i`.
fn point_seed(seed: u64, i: usize) -> u64 {
    stream(seed, 21, i as u64).random()
}

/// What [`generate`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateReport {
    /// The folder written (a `shard-k-of-n` folder inside `out` when sharded).
    pub dir: PathBuf,
    pub chunks_done: usize,
    pub chunks_skipped: usize,
    pub points_done: usize,
    /// Whether the final arrays were written (unsharded runs).
    pub assembled: bool,
    pub seconds: f64,
}

/// An upper bound of the memory of a dataset's arrays of `n` points and `n_bins` bins (the
/// parameters, means, variances, validity and galaxy counts) while they are assembled: the
/// chunks read back and the joined arrays, each once.
fn dataset_bytes(n: usize, n_bins: usize) -> f64 {
    2.0 * n as f64 * (7 + 9 * n_bins + 2) as f64 * 8.0
}

/// Runs (or resumes) the shard `shard` of `plan` on `halos`, writing into `out` (or
/// `out/shard-k-of-n`). `progress(points_done, points_total)` is called after each point.
pub fn generate(
    plan: &Plan,
    halos: &HaloCatalog,
    shard: Shard,
    out: &Path,
    threads: Option<usize>,
    progress: &dyn Fn(usize, usize),
) -> Result<GenerateReport> {
    if plan.chunk == 0 || plan.realizations_every == 0 {
        return Err(Error::invalid("chunk and realizations_every must be at least 1"));
    }
    if !plan.expected && (plan.realizations == 0 || plan.realizations_every > 1) {
        return Err(Error::invalid(
            "points without realisations carry only their expected correlations: \
             ask for them (--expected), or give every point at least 1 realisation",
        ));
    }
    if HalosIdentity::of(halos) != plan.halos {
        return Err(Error::Internal(
            "the plan's halo identity is not the catalogue's".into(),
        ));
    }
    // The design's points, and the assembled arrays when this run writes them.
    crate::memory::ensure(
        &format!("a dataset of {} points", plan.n_points),
        dataset_bytes(plan.n_points, plan.r_edges.len().saturating_sub(1)),
    )?;
    let points = design::points(plan.design, plan.n_points, plan.seed)?;
    let dir = if shard.count > 1 {
        out.join(format!("shard-{}-of-{}", shard.index, shard.count))
    } else {
        out.to_path_buf()
    };
    std::fs::create_dir_all(dir.join("chunks")).map_err(|e| io_err(&dir, e))?;
    let meta = Meta {
        format: FORMAT.into(),
        iaemu_version: crate::VERSION.into(),
        param_names: PARAM_NAMES.iter().map(|s| s.to_string()).collect(),
        plan: plan.clone(),
        shard,
    };
    match read_meta(&dir)? {
        Some(old) if old.plan != meta.plan || old.shard != meta.shard => {
            return Err(Error::invalid(format!(
                "{} holds a different run (design, seed, sizes, edges, options, halos or shard differ): \
                 choose another --out, or remove it to start again",
                dir.display()
            )))
        }
        Some(old) if old.iaemu_version != meta.iaemu_version => {
            return Err(Error::invalid(format!(
                "{} was started by iaemu {}; this is {}: finish it with that version or start again",
                dir.display(),
                old.iaemu_version,
                meta.iaemu_version
            )))
        }
        Some(_) => {}
        None => write_meta(&dir, &meta)?,
    }
    let n_chunks = plan.n_points.div_ceil(plan.chunk);
    let mine: Vec<usize> = (0..n_chunks)
        .filter(|&c| shard.takes(c))
        .collect();
    let todo: Vec<usize> = mine
        .iter()
        .copied()
        .filter(|&c| !chunk_path(&dir, c).exists())
        .collect();
    let total_points: usize = todo
        .iter()
        .map(|&c| ((c + 1) * plan.chunk).min(plan.n_points) - c * plan.chunk)
        .sum();
    let opts = SimulateOptions {
        r_edges: plan.r_edges.clone(),
        populate: plan.populate,
        threads,
        keep_realizations: plan.expected,
        ..SimulateOptions::default()
    };
    let nb = plan.r_edges.len().saturating_sub(1);
    let start = Instant::now();
    let prepared =
        crate::threads::install(threads, || hod::PreparedHalos::new(halos, &plan.populate))??;
    // The table of expected correlations, made once (when asked for and points remain).
    let table = if plan.expected && !todo.is_empty() {
        let options = crate::expect::TableOptions {
            r_edges: plan.r_edges.clone(),
            satellites: plan.populate.satellites,
            min_host_particles: plan.populate.min_host_particles,
            threads,
            ..Default::default()
        };
        Some(crate::expect::Table::build(halos, &options, None)?)
    } else {
        None
    };
    let expect_options = crate::expect::ExpectOptions {
        satellites_times_centrals: plan.populate.satellites_times_centrals,
        ..Default::default()
    };
    let mut done = 0;
    for &c in &todo {
        let rows = c * plan.chunk..((c + 1) * plan.chunk).min(plan.n_points);
        let m = rows.len();
        let mut chunk = Chunk {
            params: Array2::zeros((m, 7)),
            mean: Array3::from_elem((m, 3, nb), f64::NAN),
            var: Array3::from_elem((m, 3, nb), f64::NAN),
            valid: Array1::zeros(m),
            n_galaxies: Array1::zeros(m),
            expected: table.as_ref().map(|_| Array3::from_elem((m, 3, nb), f64::NAN)),
            single: table.as_ref().map(|_| Array3::from_elem((m, 3, nb), f64::NAN)),
        };
        for (j, i) in rows.enumerate() {
            let p: &HodParams = &points[i];
            for (k, v) in p.to_array().into_iter().enumerate() {
                chunk.params[[j, k]] = v;
            }
            let simulated = if plan.realised(i) {
                match hod::simulate_prepared(&prepared, p, plan.realizations, point_seed(plan.seed, i), &opts) {
                    Ok(s) => {
                        let (mean, var) = (&mut chunk.mean, &mut chunk.var);
                        put_curves(mean, j, [&s.xi, &s.omega, &s.eta]);
                        put_curves(var, j, [&s.xi_var, &s.omega_var, &s.eta_var]);
                        if let (Some(single), Some(first)) =
                            (chunk.single.as_mut(), s.realizations.as_ref().and_then(|r| r.first()))
                        {
                            put_curves(single, j, [&first.xi, &first.omega, &first.eta]);
                        }
                        chunk.valid[j] = 1;
                        chunk.n_galaxies[j] =
                            s.n_galaxies.iter().sum::<usize>() as f64 / s.n_galaxies.len() as f64;
                        true
                    }
                    // Too few galaxies for this point: recorded as invalid, not a failed run.
                    Err(Error::InvalidArgument(msg)) if msg.contains("at least 2") => false,
                    Err(e) => return Err(e),
                }
            } else {
                false
            };
            // The expectation of a simulated point, or of one without realisations; a point the
            // expectation refuses (too few galaxies on average, or too many satellites) keeps
            // NaN.
            if let (Some(t), Some(e)) = (&table, chunk.expected.as_mut()) {
                if simulated || !plan.realised(i) {
                    match t.expect(p, &expect_options, false) {
                        Ok(x) => {
                            put_curves(e, j, [&x.xi, &x.omega, &x.eta]);
                            if !simulated {
                                chunk.valid[j] = 1;
                                chunk.n_galaxies[j] = x.n_galaxies;
                            }
                        }
                        Err(Error::InvalidArgument(_)) => {}
                        Err(err) => return Err(err),
                    }
                }
            }
            done += 1;
            progress(done, total_points);
        }
        write_chunk(&chunk_path(&dir, c), &chunk)?;
    }
    let assembled = if shard.count == 1 {
        assemble(std::slice::from_ref(&dir), &dir)?;
        true
    } else {
        false
    };
    Ok(GenerateReport {
        dir,
        chunks_done: todo.len(),
        chunks_skipped: mine.len() - todo.len(),
        points_done: done,
        assembled,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Joins the shard folders `dirs` (made by [`generate`] with the same plan) into `out`,
/// after checking that they belong together: same format, version and plan, the same shard
/// count, every shard exactly once, and every chunk present.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<()> {
    if dirs.is_empty() {
        return Err(Error::invalid("merge needs at least one shard folder"));
    }
    assemble(dirs, out)
}

fn assemble(dirs: &[PathBuf], out: &Path) -> Result<()> {
    let mut metas = Vec::new();
    for d in dirs {
        metas.push(read_meta(d)?.ok_or_else(|| {
            Error::io(format!(
                "{}: no meta.json (not a dataset folder)",
                d.display()
            ))
        })?);
    }
    let first = &metas[0];
    for (d, m) in dirs.iter().zip(&metas) {
        if m.plan != first.plan
            || m.iaemu_version != first.iaemu_version
            || m.shard.count != first.shard.count
        {
            return Err(Error::invalid(format!(
                "{} does not belong with {}: its design, seed, sizes, edges, options, halos, version or shard count differ",
                d.display(),
                dirs[0].display()
            )));
        }
    }
    let count = first.shard.count;
    let mut seen = vec![None; count];
    for (d, m) in dirs.iter().zip(&metas) {
        if let Some(other) = seen[m.shard.index].replace(d) {
            return Err(Error::invalid(format!(
                "shard {}/{count} appears twice: {} and {}",
                m.shard.index,
                other.display(),
                d.display()
            )));
        }
    }
    if let Some(k) = seen.iter().position(Option::is_none) {
        return Err(Error::invalid(format!("shard {k}/{count} is missing")));
    }
    let plan = &first.plan;
    let (n, nb) = (plan.n_points, plan.r_edges.len() - 1);
    crate::memory::ensure(&format!("assembling a dataset of {n} points"), dataset_bytes(n, nb))?;
    let mut params = Array2::<f64>::zeros((n, 7));
    let mut mean = Array3::<f64>::zeros((n, 3, nb));
    let mut var = Array3::<f64>::zeros((n, 3, nb));
    let mut valid = Array1::<u8>::zeros(n);
    let mut n_galaxies = Array1::<f64>::zeros(n);
    let mut expected = plan.expected.then(|| Array3::<f64>::zeros((n, 3, nb)));
    // Chunks made before single.npy existed have none: the dataset then has none either.
    let mut single = plan.expected.then(|| Array3::<f64>::zeros((n, 3, nb)));
    for c in 0..n.div_ceil(plan.chunk) {
        let dir = seen[c % count].expect("all shards seen");
        let path = chunk_path(dir, c);
        if !path.exists() {
            return Err(Error::invalid(format!(
                "{} is missing: finish that shard first (re-run it; it resumes)",
                path.display()
            )));
        }
        let chunk = read_chunk(&path)?;
        let a = c * plan.chunk;
        let m = chunk.params.nrows();
        if m != (a + plan.chunk).min(n) - a || chunk.mean.shape() != [m, 3, nb] {
            return Err(io_err(&path, "chunk has the wrong shape"));
        }
        params
            .slice_mut(ndarray::s![a..a + m, ..])
            .assign(&chunk.params);
        mean.slice_mut(ndarray::s![a..a + m, .., ..])
            .assign(&chunk.mean);
        var.slice_mut(ndarray::s![a..a + m, .., ..])
            .assign(&chunk.var);
        valid.slice_mut(ndarray::s![a..a + m]).assign(&chunk.valid);
        n_galaxies
            .slice_mut(ndarray::s![a..a + m])
            .assign(&chunk.n_galaxies);
        if let Some(all) = expected.as_mut() {
            let e = chunk.expected.as_ref().filter(|e| e.shape() == [m, 3, nb]).ok_or_else(|| {
                io_err(&path, "chunk has no expected correlations of the right shape (damaged chunk)")
            })?;
            all.slice_mut(ndarray::s![a..a + m, .., ..]).assign(e);
        }
        match chunk.single.as_ref().filter(|e| e.shape() == [m, 3, nb]) {
            Some(e) => {
                if let Some(all) = single.as_mut() {
                    all.slice_mut(ndarray::s![a..a + m, .., ..]).assign(e);
                }
            }
            None => single = None,
        }
    }
    std::fs::create_dir_all(out).map_err(|e| io_err(out, e))?;
    let npy = |name: &str,
               write: &dyn Fn(
        std::fs::File,
    ) -> std::result::Result<(), ndarray_npy::WriteNpyError>| {
        write_atomically(&out.join(name), |tmp| {
            let f = std::fs::File::create(tmp).map_err(|e| io_err(tmp, e))?;
            write(f).map_err(|e| io_err(tmp, e))
        })
    };
    npy("params.npy", &|f| params.write_npy(f))?;
    npy("mean.npy", &|f| mean.write_npy(f))?;
    npy("var.npy", &|f| var.write_npy(f))?;
    npy("valid.npy", &|f| valid.write_npy(f))?;
    npy("n_galaxies.npy", &|f| n_galaxies.write_npy(f))?;
    npy("r_edges.npy", &|f| {
        Array1::from(plan.r_edges.clone()).write_npy(f)
    })?;
    if let Some(e) = &expected {
        npy("expected.npy", &|f| e.write_npy(f))?;
    }
    if let Some(e) = &single {
        npy("single.npy", &|f| e.write_npy(f))?;
    }
    if dirs.len() > 1 || dirs[0] != out {
        write_meta(
            out,
            &Meta {
                shard: Shard::WHOLE,
                ..first.clone()
            },
        )?;
    }
    Ok(())
}

/// What a model's predictions are judged against ([`Data::truth`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Truth {
    /// The mean of each point's realisations (`mean.npy`).
    Mean,
    /// Each point's expected correlations (`expected.npy`): the noise-free mean.
    Expected,
}

/// A finished dataset read back: what training and evaluation use.
#[derive(Clone, Debug)]
pub struct Data {
    /// `meta.json`; None for data made in memory ([`Data::from_arrays`]).
    pub meta: Option<Meta>,
    /// n x 7, in [`PARAM_NAMES`] order.
    pub params: Array2<f64>,
    /// n x 3 x n_bins means over realisations (rows xi, omega, eta); NaN where not valid.
    pub mean: Array3<f64>,
    /// n x 3 x n_bins expected correlations, when the dataset has them (`expected.npy`).
    pub expected: Option<Array3<f64>>,
    /// n x 3 x n_bins curves of each point's first realisation (`single.npy`), when the
    /// dataset has them; NaN where the point has no realisations.
    pub single: Option<Array3<f64>>,
    /// n x 3 x n_bins variances over realisations.
    pub var: Array3<f64>,
    /// 1 where the point gave a measurement.
    pub valid: Array1<u8>,
    /// Mpc/h, n_bins + 1.
    pub r_edges: Vec<f64>,
}

impl Data {
    /// Reads `dir` (a dataset folder with every chunk done, the output of [`merge`], or one
    /// finished shard folder, whose points are every `count`-th chunk of the design) and
    /// checks that its arrays agree with each other and with `meta.json`.
    pub fn load(dir: &Path) -> Result<Data> {
        use ndarray_npy::ReadNpyExt;
        let meta = read_meta(dir)?.ok_or_else(|| {
            Error::io(format!("{}: no meta.json (not a dataset folder)", dir.display()))
        })?;
        if meta.shard.count > 1 && !dir.join("params.npy").exists() {
            return Self::load_shard(dir, meta);
        }
        fn read<T: ReadNpyExt>(dir: &Path, name: &str) -> Result<T> {
            let path = dir.join(name);
            let file = std::fs::File::open(&path).map_err(|e| {
                io_err(
                    &path,
                    format!("{e} (a dataset is complete when every chunk is done, or after `iaemu merge`)"),
                )
            })?;
            T::read_npy(std::io::BufReader::new(file))
                .map_err(|e| io_err(&path, format!("not the expected array ({e})")))
        }
        let params: Array2<f64> = read(dir, "params.npy")?;
        let mean: Array3<f64> = read(dir, "mean.npy")?;
        let var: Array3<f64> = read(dir, "var.npy")?;
        let valid: Array1<u8> = read(dir, "valid.npy")?;
        let r_edges: Array1<f64> = read(dir, "r_edges.npy")?;
        let optional = |name: &str| -> Result<Option<Array3<f64>>> {
            if dir.join(name).exists() { Ok(Some(read(dir, name)?)) } else { Ok(None) }
        };
        let (expected, single) = (optional("expected.npy")?, optional("single.npy")?);
        let n = params.nrows();
        let nb = r_edges.len().saturating_sub(1);
        if params.ncols() != PARAM_NAMES.len()
            || mean.shape() != [n, 3, nb]
            || var.shape() != [n, 3, nb]
            || valid.len() != n
            || nb == 0
            || r_edges.to_vec() != meta.plan.r_edges
            || [&expected, &single].iter().any(|a| a.as_ref().is_some_and(|e| e.shape() != [n, 3, nb]))
        {
            return Err(Error::io(format!(
                "{}: arrays disagree: params {:?}, mean {:?}, var {:?}, valid {}, {} bin edges (meta.json has {})",
                dir.display(),
                params.shape(),
                mean.shape(),
                var.shape(),
                valid.len(),
                r_edges.len(),
                meta.plan.r_edges.len()
            )));
        }
        Ok(Data {
            meta: Some(meta),
            params,
            mean,
            expected,
            single,
            var,
            valid,
            r_edges: r_edges.to_vec(),
        })
    }

    fn load_shard(dir: &Path, meta: Meta) -> Result<Data> {
        /// One optional array of every chunk joined; None when the plan has none or a chunk lacks it.
        fn cat_optional(
            parts: &[Chunk],
            f: &dyn Fn(&Chunk) -> Option<&Array3<f64>>,
            wanted: bool,
        ) -> Result<Option<Array3<f64>>> {
            match parts.iter().map(|c| f(c).map(|e| e.view())).collect::<Option<Vec<_>>>() {
                Some(views) if wanted => Ok(Some(
                    ndarray::concatenate(Axis(0), &views).map_err(|e| Error::Internal(e.to_string()))?,
                )),
                _ => Ok(None),
            }
        }
        let plan = &meta.plan;
        let nb = plan.r_edges.len() - 1;
        let chunks: Vec<usize> = (0..plan.n_points.div_ceil(plan.chunk))
            .filter(|&c| meta.shard.takes(c))
            .collect();
        let mut parts = Vec::with_capacity(chunks.len());
        for c in chunks {
            let path = chunk_path(dir, c);
            if !path.exists() {
                return Err(Error::invalid(format!(
                    "{} is missing: finish this shard first (re-run it; it resumes)",
                    path.display()
                )));
            }
            let chunk = read_chunk(&path)?;
            if chunk.mean.shape()[1..] != [3, nb] || chunk.params.ncols() != PARAM_NAMES.len() {
                return Err(io_err(&path, "chunk has the wrong shape"));
            }
            parts.push(chunk);
        }
        let cat2 = |f: &dyn Fn(&Chunk) -> ndarray::ArrayView2<f64>| {
            ndarray::concatenate(Axis(0), &parts.iter().map(f).collect::<Vec<_>>())
        };
        let cat3 = |f: &dyn Fn(&Chunk) -> ndarray::ArrayView3<f64>| {
            ndarray::concatenate(Axis(0), &parts.iter().map(f).collect::<Vec<_>>())
        };
        let bad = |e: ndarray::ShapeError| Error::Internal(e.to_string());
        let valid: Vec<u8> = parts.iter().flat_map(|c| c.valid.iter().copied()).collect();
        Ok(Data {
            params: cat2(&|c| c.params.view()).map_err(bad)?,
            mean: cat3(&|c| c.mean.view()).map_err(bad)?,
            expected: cat_optional(&parts, &|c| c.expected.as_ref(), plan.expected)?,
            single: cat_optional(&parts, &|c| c.single.as_ref(), plan.expected)?,
            var: cat3(&|c| c.var.view()).map_err(bad)?,
            valid: Array1::from(valid),
            r_edges: plan.r_edges.clone(),
            meta: Some(meta),
        })
    }

    /// Data made in memory (for example a test problem), checked for consistent shapes.
    pub fn from_arrays(
        params: Array2<f64>,
        mean: Array3<f64>,
        var: Array3<f64>,
        valid: Array1<u8>,
        r_edges: Vec<f64>,
    ) -> Result<Data> {
        let (n, nb) = (params.nrows(), r_edges.len().saturating_sub(1));
        if params.ncols() != PARAM_NAMES.len()
            || mean.shape() != [n, 3, nb]
            || var.shape() != [n, 3, nb]
            || valid.len() != n
            || nb == 0
        {
            return Err(Error::invalid(format!(
                "dataset arrays disagree: params {:?}, mean {:?}, var {:?}, valid {}, {} bin edges",
                params.shape(),
                mean.shape(),
                var.shape(),
                valid.len(),
                r_edges.len()
            )));
        }
        Ok(Data {
            meta: None,
            params,
            mean,
            expected: None,
            single: None,
            var,
            valid,
            r_edges,
        })
    }

    /// The curves a model is judged against: the realisation means, or the expected
    /// correlations (an error naming `generate --expected` when the dataset has none).
    pub fn truth(&self, truth: Truth) -> Result<&Array3<f64>> {
        match truth {
            Truth::Mean => Ok(&self.mean),
            Truth::Expected => self.expected.as_ref().ok_or_else(|| {
                Error::invalid("this dataset has no expected correlations (generate it with --expected)")
            }),
        }
    }

    pub fn len(&self) -> usize {
        self.params.nrows()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// FNV-1a hash of the parameters, means and expected correlations (when present): tells
    /// whether a model was trained on this data.
    pub fn fingerprint(&self) -> u64 {
        crate::io::fnv1a(self.params.iter().chain(self.mean.iter()).chain(self.expected.iter().flatten()).map(|x| x.to_bits()))
    }

    /// The data with each point's expected correlations (n x 3 x n_bins), as `expected.npy`
    /// would give them; an error for another shape.
    pub fn with_expected(mut self, expected: Array3<f64>) -> Result<Data> {
        if expected.shape() != self.mean.shape() {
            return Err(Error::invalid(format!(
                "expected correlations of shape {:?} for means of shape {:?}",
                expected.shape(),
                self.mean.shape()
            )));
        }
        self.expected = Some(expected);
        Ok(self)
    }
}
