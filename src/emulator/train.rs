//! Training (docs/science.md section 10): Gaussian NLL summed over the three heads (beta-NLL as an
//! option), or with noise-free targets the squared error of the means and the sample-variance
//! likelihood of one realisation's variance ([`Targets`]), AdamW with decoupled weight decay, a step schedule, gradient clipping, early
//! stopping on the validation loss with the best weights kept, a seeded train / validation /
//! test split, and a checkpoint from which an interrupted run resumes where it stopped.
//!
//! The checkpoint (`<out>.checkpoint`, a safetensors file) holds the current and best
//! weights, AdamW's moments and the loop state, and is written every `checkpoint_every`
//! epochs through a temporary file; a re-run with the same configuration and data resumes
//! from it (the epochs after it are replayed exactly: batch order and dropout are seeded per
//! epoch), and it is removed once the model is written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::{Array2, Array3, Axis};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::config::{Config, Targets, TrainConfig};
use super::file::{self, ModelMeta, TrainingRecord};
use super::net::{params_tensor, Mode, Net};
use super::transform::Normalization;
use super::{device_name, set_torch_threads, torch, torch_rng_lock, Emulator, PredictOptions};
use crate::dataset::{Data, Truth};
use crate::hod::PARAM_NAMES;
use crate::random::stream;
use crate::{Error, Result};

const CHECKPOINT_FORMAT: &str = "iaemu-checkpoint-1";
const ADAM_BETA1: f64 = 0.9;
const ADAM_BETA2: f64 = 0.999;
const ADAM_EPS: f64 = 1e-8;

/// One epoch's numbers, given to the progress callback.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochReport {
    /// 1-based.
    pub epoch: usize,
    pub max_epochs: usize,
    /// Mean loss over the epoch's batches (standardised units, summed over the three heads).
    pub train_loss: f64,
    pub validation_loss: f64,
    pub best_validation_loss: f64,
    pub best_epoch: usize,
    pub lr: f64,
    /// Seconds since this run (or resumption) started.
    pub seconds: f64,
    /// Estimate of the seconds left to `max_epochs` (early stopping may end sooner).
    pub eta_seconds: f64,
    /// True for epochs replayed from a checkpoint's history (reported, not recomputed).
    pub resumed: bool,
}

/// What the progress callback returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Continue,
    /// Stop now, keeping the best model so far (it is still written).
    Stop,
}

/// Rows with a measurement and finite parameters, and the count of the others.
pub fn usable_rows(data: &Data) -> (Vec<usize>, usize) {
    let rows: Vec<usize> = (0..data.len())
        .filter(|&i| data.valid[i] == 1 && data.params.row(i).iter().all(|x| x.is_finite()))
        .collect();
    let unusable = data.len() - rows.len();
    (rows, unusable)
}

/// The seeded train / validation / test split of the usable rows.
pub fn split(data: &Data, cfg: &TrainConfig) -> Result<(Vec<usize>, Vec<usize>, Vec<usize>)> {
    let (mut rows, _) = usable_rows(data);
    rows.shuffle(&mut stream(cfg.seed, 30, 0));
    let n = rows.len();
    let n_train = (cfg.split[0] * n as f64).round() as usize;
    let n_val = ((cfg.split[1] * n as f64).round() as usize).min(n - n_train.min(n));
    if n_train < 2 || n_val < 1 {
        return Err(Error::invalid(format!(
            "{n} usable rows give {n_train} training and {n_val} validation rows with split {:?}: need at least 2 and 1",
            cfg.split
        )));
    }
    let test = rows.split_off(n_train + n_val);
    let val = rows.split_off(n_train);
    Ok((rows, val, test))
}

/// The rows' parameters, mean targets and variances over realisations.
fn gather(data: &Data, targets: &Array3<f64>, rows: &[usize]) -> (Array2<f64>, Array3<f64>, Array3<f64>) {
    (data.params.select(Axis(0), rows), targets.select(Axis(0), rows), data.var.select(Axis(0), rows))
}

/// Standardised training tensors of some rows: parameters, mean targets and their mask, and
/// with [`Targets::Expected`] one realisation's variances and their mask.
struct Rows {
    x: Tensor,
    y: Tensor,
    mask: Tensor,
    var: Option<(Tensor, Tensor)>,
}

impl Rows {
    fn new(norm: &Normalization, (x, y, var): &(Array2<f64>, Array3<f64>, Array3<f64>), targets: Targets, device: tch::Device) -> Rows {
        let flat: Vec<f64> = x.iter().copied().collect();
        let (yt, mask) = norm.standardise_targets(y, device);
        Rows {
            x: norm.standardise_params(&params_tensor(&flat, device, Kind::Float)),
            y: yt,
            mask,
            var: (targets == Targets::Expected).then(|| norm.standardise_variances(var, y, device)),
        }
    }

    /// Rows `idx` of each tensor.
    fn select(&self, idx: &Tensor) -> Rows {
        Rows {
            x: self.x.index_select(0, idx),
            y: self.y.index_select(0, idx),
            mask: self.mask.index_select(0, idx),
            var: self.var.as_ref().map(|(v, m)| (v.index_select(0, idx), m.index_select(0, idx))),
        }
    }

    /// Chunks of at most `n` rows.
    fn split(&self, n: i64) -> Vec<Rows> {
        let parts = |t: &Tensor| t.split(n, 0);
        let (x, y, mask) = (parts(&self.x), parts(&self.y), parts(&self.mask));
        let var: Vec<Option<(Tensor, Tensor)>> = match &self.var {
            Some((v, m)) => parts(v).into_iter().zip(parts(m)).map(Some).collect(),
            None => x.iter().map(|_| None).collect(),
        };
        x.into_iter()
            .zip(y)
            .zip(mask)
            .zip(var)
            .map(|(((x, y), mask), var)| Rows { x, y, mask, var })
            .collect()
    }
}

/// Per head, the sums and counts of the loss's terms over the usable values (what [`loss`]
/// divides, so that a loss over many rows can be added up over chunks of them). Realisation
/// targets: one term, the Gaussian NLL (beta-NLL weighting each value by var^beta, without a
/// gradient through the weight). Expected targets: the squared error of the mean, and the
/// negative log-likelihood of the sample variance s^2 given one realisation's variance
/// sigma^2, `(log sigma^2 + s^2 / sigma^2) / 2` per value (for R realisations,
/// (R - 1) s^2 / sigma^2 is chi-square with R - 1 degrees of freedom; the factor (R - 1) is
/// left out), which is least where sigma^2 = E[s^2].
fn loss_sums(mean: &Tensor, var: &Tensor, rows: &Rows, beta: f64) -> Vec<(Tensor, Tensor)> {
    let per_head = |l: Tensor, mask: &Tensor| {
        (
            (l * mask).sum_dim_intlist([0i64, 2].as_slice(), false, Kind::Float),
            mask.sum_dim_intlist([0i64, 2].as_slice(), false, Kind::Float),
        )
    };
    let diff = &rows.y - mean;
    match &rows.var {
        None => {
            let mut l = (var.log() + &diff * &diff / var) * 0.5;
            if beta > 0.0 {
                l = l * var.detach().pow_tensor_scalar(beta);
            }
            vec![per_head(l, &rows.mask)]
        }
        Some((s2, var_mask)) => vec![
            per_head(&diff * &diff * 0.5, &rows.mask),
            per_head((var.log() + s2 / var) * 0.5, var_mask),
        ],
    }
}

/// The loss from [`loss_sums`]: each term's mean over its usable values, summed over terms and
/// heads.
fn loss(sums: Vec<(Tensor, Tensor)>) -> Tensor {
    sums.into_iter()
        .map(|(sum, count)| (sum / count.clamp_min(1.0)).sum(Kind::Float))
        .reduce(|a, b| a + b)
        .expect("a loss has a term")
}

/// The loss of `rows` (beta 0), in chunks of [`super::ROWS_PER_FORWARD`] rows so that its
/// memory does not grow with the validation split; one chunk gives exactly [`loss`] of the
/// whole.
fn validation_loss(net: &Net, rows: &Rows) -> f64 {
    tch::no_grad(|| {
        let chunks: Vec<Vec<(Tensor, Tensor)>> = rows
            .split(super::ROWS_PER_FORWARD)
            .iter()
            .map(|c| {
                let (mean, var) = net.forward(&c.x, Mode::Eval);
                loss_sums(&mean, &var, c, 0.0)
            })
            .collect();
        let sums = chunks
            .into_iter()
            .reduce(|a, b| a.into_iter().zip(b).map(|((sa, ca), (sb, cb))| (sa + sb, ca + cb)).collect())
            .expect("a validation split is never empty");
        loss(sums).double_value(&[])
    })
}

/// The loop state a checkpoint carries.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct LoopState {
    /// The configuration and data the run belongs to.
    fingerprint: String,
    epoch: usize,
    adam_steps: i64,
    best_validation_loss: f64,
    best_epoch: usize,
    epochs_without_improvement: usize,
    history: Vec<(f64, f64, f64)>,
    seconds: f64,
}

/// Path of the checkpoint of a run writing `out`.
pub fn checkpoint_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".checkpoint");
    PathBuf::from(s)
}

struct Adam {
    names: Vec<String>,
    params: Vec<Tensor>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    steps: i64,
}

impl Adam {
    fn new(net: &Net) -> Adam {
        let (names, params): (Vec<String>, Vec<Tensor>) =
            net.named_variables().into_iter().filter(|(_, t)| t.requires_grad()).unzip();
        let m = params.iter().map(|p| p.zeros_like()).collect();
        let v = params.iter().map(|p| p.zeros_like()).collect();
        Adam { names, params, m, v, steps: 0 }
    }

    fn zero_grad(&mut self) {
        for p in &self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
    }

    /// Clips the global gradient norm to `clip` (0: no clipping), then one AdamW step.
    fn step(&mut self, lr: f64, weight_decay: f64, clip: f64) {
        tch::no_grad(|| {
            let grads: Vec<Tensor> = self.params.iter().map(|p| p.grad()).collect();
            if clip > 0.0 {
                let total = grads
                    .iter()
                    .filter(|g| g.defined())
                    .map(|g| g.pow_tensor_scalar(2).sum(Kind::Float))
                    .fold(Tensor::zeros([], (Kind::Float, self.params[0].device())), |a, b| a + b)
                    .sqrt()
                    .double_value(&[]);
                if total > clip {
                    for g in &grads {
                        if g.defined() {
                            let _ = g.shallow_clone().g_mul_scalar_(clip / (total + 1e-12));
                        }
                    }
                }
            }
            self.steps += 1;
            let bc1 = 1.0 - ADAM_BETA1.powi(self.steps as i32);
            let bc2 = 1.0 - ADAM_BETA2.powi(self.steps as i32);
            for (i, g) in grads.iter().enumerate() {
                if !g.defined() {
                    continue;
                }
                let mut p = self.params[i].shallow_clone();
                let _ = p.g_mul_scalar_(1.0 - lr * weight_decay);
                let _ = self.m[i].g_mul_scalar_(ADAM_BETA1).g_add_(&(g * (1.0 - ADAM_BETA1)));
                let _ = self.v[i].g_mul_scalar_(ADAM_BETA2).g_add_(&(g * g * (1.0 - ADAM_BETA2)));
                let denom = (&self.v[i] / bc2).sqrt() + ADAM_EPS;
                let _ = p.g_sub_(&(&self.m[i] / denom * (lr / bc1)));
            }
        });
    }
}

fn fingerprint(config: &Config, data: &Data) -> String {
    let json = serde_json::to_string(config).unwrap_or_default();
    format!("{:016x}-{}", data.fingerprint(), json)
}

fn deep_copy(vars: &[(String, Tensor)]) -> Vec<(String, Tensor)> {
    tch::no_grad(|| vars.iter().map(|(n, t)| (n.clone(), t.detach().copy())).collect())
}

fn write_checkpoint(path: &Path, net: &Net, best: &[(String, Tensor)], adam: &Adam, state: &LoopState) -> Result<()> {
    let mut tensors: Vec<(String, Tensor)> = Vec::new();
    for (n, t) in net.named_variables() {
        tensors.push((format!("current.{n}"), t));
    }
    for (n, t) in best {
        tensors.push((format!("best.{n}"), t.shallow_clone()));
    }
    for (i, n) in adam.names.iter().enumerate() {
        tensors.push((format!("adam_m.{n}"), adam.m[i].shallow_clone()));
        tensors.push((format!("adam_v.{n}"), adam.v[i].shallow_clone()));
    }
    let json = serde_json::to_string(state).map_err(|e| Error::Internal(e.to_string()))?;
    file::write_file(path, &file::serialize(&tensors, CHECKPOINT_FORMAT, json)?)
}

/// Restores a checkpoint into `net`, `best` and `adam`; returns its state.
fn read_checkpoint(path: &Path, net: &Net, best: &mut [(String, Tensor)], adam: &mut Adam) -> Result<LoopState> {
    let origin = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| Error::io(format!("{origin}: {e}")))?;
    let parsed = file::parse(&bytes, CHECKPOINT_FORMAT, &origin)?;
    let state: LoopState = serde_json::from_str(&parsed.json)
        .map_err(|e| Error::io(format!("{origin}: checkpoint state unreadable ({e})")))?;
    let current: HashMap<String, Tensor> = parsed
        .tensors
        .iter()
        .filter_map(|(k, t)| k.strip_prefix("current.").map(|n| (n.to_string(), t.shallow_clone())))
        .collect();
    file::load_into(net, &current, "", &origin)?;
    let get = |key: String, like: &Tensor| -> Result<Tensor> {
        let t = parsed
            .tensors
            .get(&key)
            .ok_or_else(|| Error::io(format!("{origin}: tensor {key} is missing")))?;
        if t.size() != like.size() {
            return Err(Error::io(format!("{origin}: tensor {key} has the wrong shape")));
        }
        Ok(t.to_device(like.device()))
    };
    tch::no_grad(|| -> Result<()> {
        for (n, t) in best.iter_mut() {
            *t = get(format!("best.{n}"), t)?;
        }
        for (i, n) in adam.names.clone().iter().enumerate() {
            adam.m[i] = get(format!("adam_m.{n}"), &adam.params[i])?;
            adam.v[i] = get(format!("adam_v.{n}"), &adam.params[i])?;
        }
        Ok(())
    })?;
    adam.steps = state.adam_steps;
    Ok(state)
}

/// An upper bound of the memory a training holds: the rows in f64 and as float32 tensors
/// (inputs, targets, masks), one batch's activations kept for the backward pass with their
/// gradients, one validation chunk, and the weights with their gradients, AdamW's two moments
/// and the best and checkpointed copies.
fn training_bytes(config: &Config, n_rows: usize, n_bins: usize) -> f64 {
    let activations = super::net::activations_per_row(&config.model, n_bins) as f64;
    let rows = n_rows as f64 * ((7 + 3 * n_bins) as f64 * 8.0 + (7 + 6 * n_bins) as f64 * 4.0);
    let batch = config.train.batch_size.min(n_rows) as f64 * activations * 4.0 * 4.0;
    let validation = (n_rows.min(super::ROWS_PER_FORWARD as usize)) as f64 * activations * 4.0 * 2.0;
    let weights = super::net::n_weights_of(&config.model, n_bins) as f64 * 4.0 * 6.0;
    rows + batch + validation + weights
}

/// Trains a model on `data` with `config` and writes it to `out` (`.safetensors`), calling
/// `on_epoch` after every epoch. With `restart`, an existing checkpoint of `out` is ignored and
/// replaced; without it, a checkpoint of the same configuration and data is resumed and one of
/// another run is an error (nothing is overwritten silently). Returns the trained emulator,
/// its test metrics included.
pub fn train(
    config: &Config,
    data: &Data,
    out: &Path,
    restart: bool,
    on_epoch: &mut dyn FnMut(&EpochReport) -> Control,
) -> Result<Emulator> {
    config.validate()?;
    let tc = &config.train;
    let device = super::parse_device(&tc.device)?;
    set_torch_threads((tc.threads > 0).then_some(tc.threads))?;
    let (train_rows, val_rows, test_rows) = split(data, tc)?;
    let unusable = data.len() - (train_rows.len() + val_rows.len() + test_rows.len());
    let targets = match tc.targets {
        Targets::Realisations => &data.mean,
        Targets::Expected => data.truth(Truth::Expected)?,
    };
    let train_data = gather(data, targets, &train_rows);
    let val_data = gather(data, targets, &val_rows);
    let norm = Normalization::fit(&train_data.0, &train_data.1, config.model.log_xi);
    let xi_bins_masked = [&train_rows, &val_rows, &test_rows]
        .iter()
        .flat_map(|rows| rows.iter())
        .flat_map(|&i| targets.slice(ndarray::s![i, 0, ..]).to_vec())
        .filter(|&x| !x.is_finite() || (config.model.log_xi && x <= 0.0))
        .count();
    let nb = data.r_edges.len() - 1;
    crate::memory::ensure(&format!("training on {} rows", data.len()), training_bytes(config, data.len(), nb))?;
    let ckpt = checkpoint_path(out);
    let fp = fingerprint(config, data);
    let start = Instant::now();

    torch("training", || {
        let train_set = Rows::new(&norm, &train_data, tc.targets, device);
        let val_set = Rows::new(&norm, &val_data, tc.targets, device);

        let net = {
            let _rng = torch_rng_lock();
            tch::manual_seed(tc.seed as i64);
            Net::new(&config.model, nb, device)
        };
        let mut adam = Adam::new(&net);
        let mut best = deep_copy(&net.named_variables());
        let mut state = LoopState {
            fingerprint: fp.clone(),
            epoch: 0,
            adam_steps: 0,
            best_validation_loss: f64::INFINITY,
            best_epoch: 0,
            epochs_without_improvement: 0,
            history: Vec::new(),
            seconds: 0.0,
        };
        if ckpt.exists() && !restart {
            let saved = read_checkpoint(&ckpt, &net, &mut best, &mut adam)?;
            if saved.fingerprint != fp {
                return Err(Error::invalid(format!(
                    "{} belongs to a training run with another configuration or dataset: remove it, or restart (--restart) to replace it",
                    ckpt.display()
                )));
            }
            state = saved;
            let (mut best_so_far, mut best_epoch) = (f64::INFINITY, 0);
            for (e, &(tl, vl, lr)) in state.history.iter().enumerate() {
                if vl < best_so_far {
                    (best_so_far, best_epoch) = (vl, e + 1);
                }
                on_epoch(&EpochReport {
                    epoch: e + 1,
                    max_epochs: tc.max_epochs,
                    train_loss: tl,
                    validation_loss: vl,
                    best_validation_loss: best_so_far,
                    best_epoch,
                    lr,
                    seconds: 0.0,
                    eta_seconds: f64::NAN,
                    resumed: true,
                });
            }
        }
        let seconds_before = state.seconds;
        let n_train = train_rows.len();
        let mut stopped_by = "max_epochs";
        let first_epoch = state.epoch + 1;
        for epoch in first_epoch..=tc.max_epochs {
            if state.epochs_without_improvement >= tc.patience {
                stopped_by = "early stopping";
                break;
            }
            let lr = tc.lr * tc.lr_gamma.powi(((epoch - 1) / tc.lr_step_epochs) as i32);
            let mut order: Vec<i64> = (0..n_train as i64).collect();
            order.shuffle(&mut stream(tc.seed, 31, epoch as u64));
            let (mut sum, mut count) = (0.0, 0usize);
            {
                let _rng = torch_rng_lock();
                tch::manual_seed((tc.seed as i64).wrapping_mul(1_000_003).wrapping_add(epoch as i64));
                for batch in order.chunks(tc.batch_size) {
                    if batch.len() < 2 {
                        continue; // BatchNorm needs two rows
                    }
                    let idx = Tensor::from_slice(batch).to_device(device);
                    let batch_rows = train_set.select(&idx);
                    let (m, v) = net.forward(&batch_rows.x, Mode::Train);
                    let loss = loss(loss_sums(&m, &v, &batch_rows, tc.beta_nll));
                    adam.zero_grad();
                    loss.backward();
                    adam.step(lr, tc.weight_decay, tc.grad_clip);
                    sum += loss.double_value(&[]) * batch.len() as f64;
                    count += batch.len();
                }
            }
            let train_loss = sum / count.max(1) as f64;
            let val_loss = validation_loss(&net, &val_set);
            if !train_loss.is_finite() {
                return Err(Error::invalid(format!(
                    "training diverged at epoch {epoch} (loss {train_loss}): lower lr or raise grad_clip"
                )));
            }
            if val_loss < state.best_validation_loss {
                state.best_validation_loss = val_loss;
                state.best_epoch = epoch;
                state.epochs_without_improvement = 0;
                best = deep_copy(&net.named_variables());
            } else {
                state.epochs_without_improvement += 1;
            }
            state.epoch = epoch;
            state.adam_steps = adam.steps;
            state.history.push((train_loss, val_loss, lr));
            let elapsed = start.elapsed().as_secs_f64();
            state.seconds = seconds_before + elapsed;
            let per_epoch = elapsed / (epoch + 1 - first_epoch) as f64;
            let control = on_epoch(&EpochReport {
                epoch,
                max_epochs: tc.max_epochs,
                train_loss,
                validation_loss: val_loss,
                best_validation_loss: state.best_validation_loss,
                best_epoch: state.best_epoch,
                lr,
                seconds: elapsed,
                eta_seconds: per_epoch * (tc.max_epochs - epoch) as f64,
                resumed: false,
            });
            if control == Control::Stop {
                stopped_by = "stopped by the caller";
                break;
            }
            if epoch % tc.checkpoint_every == 0 {
                write_checkpoint(&ckpt, &net, &best, &adam, &state)?;
            }
        }
        if state.epochs_without_improvement >= tc.patience && stopped_by == "max_epochs" && state.epoch < tc.max_epochs {
            stopped_by = "early stopping";
        }
        let best_map: HashMap<String, Tensor> = best.into_iter().collect();
        file::load_into(&net, &best_map, "", "the best weights")?;
        let meta = ModelMeta {
            format: file::FORMAT.into(),
            iaemu_version: env!("CARGO_PKG_VERSION").into(),
            config: config.model.clone(),
            param_names: PARAM_NAMES.iter().map(|s| s.to_string()).collect(),
            domain_min: (0..PARAM_NAMES.len()).map(|k| train_data.0.column(k).fold(f64::INFINITY, |a, &b| a.min(b))).collect(),
            domain_max: (0..PARAM_NAMES.len()).map(|k| train_data.0.column(k).fold(f64::NEG_INFINITY, |a, &b| a.max(b))).collect(),
            r_edges: data.r_edges.clone(),
            normalization: norm.clone(),
            training: TrainingRecord {
                train: tc.clone(),
                dataset: data.meta.clone(),
                dataset_fingerprint: data.fingerprint(),
                n_rows: data.len(),
                rows_unusable: unusable,
                n_train,
                n_validation: val_rows.len(),
                n_test: test_rows.len(),
                xi_bins_masked,
                epochs: state.epoch,
                best_epoch: state.best_epoch,
                best_validation_loss: state.best_validation_loss,
                stopped_by: stopped_by.into(),
                seconds: state.seconds,
                device: device_name(device),
                n_weights: net.n_weights(),
            },
            metrics: None,
        };
        Ok(Emulator::from_net(net, meta, device))
    })
    .and_then(|mut emu| {
        if !test_rows.is_empty() {
            let opts = PredictOptions {
                mc_passes: tc.eval_mc_passes,
                seed: tc.seed,
                ..Default::default()
            };
            // Judged against what the means learnt: the realisation means or the expected ones.
            let truth = match tc.targets {
                Targets::Realisations => Truth::Mean,
                Targets::Expected => Truth::Expected,
            };
            let ev = super::evaluate(&emu, data, super::Rows::TestSplit, &opts, truth)?;
            emu.meta.metrics = Some(ev.metrics);
        }
        emu.save(out)?;
        if ckpt.exists() {
            std::fs::remove_file(&ckpt).map_err(|e| Error::io(format!("{}: {e}", ckpt.display())))?;
        }
        Ok(emu)
    })
}
