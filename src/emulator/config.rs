//! The emulator's settings: the architecture ([`ModelConfig`], stored in every model file) and
//! the training run ([`TrainConfig`]). Both default to the seed paper (docs/science.md section 10);
//! a JSON file with either or both sections (`{"model": {...}, "train": {...}}`) changes them,
//! and any key left out keeps its default.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How the network is laid out (docs/science.md section 10).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// The seed paper's: one shared encoder (Linear, BatchNorm1d, LeakyReLU, Dropout per layer)
    /// and a convolutional decoder per statistic giving each bin's mean and variance.
    #[default]
    Paper,
    /// Four separate networks (Linear, SiLU per layer; no BatchNorm): one per statistic for its
    /// means (the widths of `encoder`, with Dropout, for the Monte Carlo passes) and one for
    /// the variances of all three (the widths of `variance_encoder`, no Dropout). Nothing is
    /// shared, so the variances' noisier gradients do not reach the means.
    /// `bottleneck_length`, `conv` and `final_kernel` are not used.
    Split,
}

/// The network's shape. Default: the paper's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    pub architecture: Architecture,
    /// Widths of the hidden layers: of the shared encoder (paper), or of each statistic's means
    /// network (split).
    pub encoder: Vec<usize>,
    /// Widths of the hidden layers of the variances' network (split); empty: those of
    /// `encoder`. It learns from noisy sample variances, often of few rows, and a smaller one
    /// overfits them less.
    pub variance_encoder: Vec<usize>,
    /// Length of each head's bottleneck: Linear(encoder width -> n_bins x this), viewed as
    /// n_bins channels of this length. Even and at least 4, so the last convolution (stride
    /// half of it) leaves length 2: one mean and one variance per bin.
    pub bottleneck_length: usize,
    /// Each decoder convolution as (output channels, kernel size); stride 1, "same" padding.
    pub conv: Vec<(usize, usize)>,
    /// Kernel size of the final convolution (to n_bins channels).
    pub final_kernel: usize,
    /// Dropout probability after every hidden layer (training and Monte Carlo passes).
    pub dropout: f64,
    /// Learn log(xi) instead of xi (bins with xi <= 0 are then left out of the loss).
    pub log_xi: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            architecture: Architecture::Paper,
            encoder: vec![128, 256, 512, 1024, 2048],
            variance_encoder: vec![],
            bottleneck_length: 10,
            conv: vec![(20, 3), (40, 3), (80, 5)],
            final_kernel: 3,
            dropout: 0.2,
            log_xi: false,
        }
    }
}

impl ModelConfig {
    /// Hidden widths of the variances' network of the split architecture.
    pub fn variance_widths(&self) -> &[usize] {
        if self.variance_encoder.is_empty() {
            &self.encoder
        } else {
            &self.variance_encoder
        }
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::invalid(format!("model config: {m}")));
        if self.encoder.is_empty() || self.encoder.iter().any(|&w| w == 0 || w > 1 << 16) {
            return bad(format!(
                "encoder widths {:?}: need at least one, each 1..65536",
                self.encoder
            ));
        }
        if self.variance_encoder.iter().any(|&w| w == 0 || w > 1 << 16) {
            return bad(format!("variance_encoder widths {:?}: each 1..65536", self.variance_encoder));
        }
        if self.bottleneck_length < 4 || self.bottleneck_length % 2 != 0 || self.bottleneck_length > 1024 {
            return bad(format!(
                "bottleneck_length {}: must be even, 4..1024",
                self.bottleneck_length
            ));
        }
        for &(c, k) in &self.conv {
            if c == 0 || c > 4096 || k == 0 || k % 2 == 0 || k > 63 {
                return bad(format!(
                    "conv layer ({c}, {k}): channels 1..4096 and an odd kernel 1..63"
                ));
            }
        }
        if self.final_kernel == 0 || self.final_kernel % 2 == 0 || self.final_kernel > self.bottleneck_length {
            return bad(format!(
                "final_kernel {}: odd and at most bottleneck_length",
                self.final_kernel
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout {}: must be in [0, 1)", self.dropout));
        }
        Ok(())
    }
}

/// How to train. Default: the paper's optimiser and schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// AdamW learning rate at epoch 0.
    pub lr: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    pub batch_size: usize,
    /// The learning rate is multiplied by `lr_gamma` every `lr_step_epochs` epochs.
    pub lr_step_epochs: usize,
    pub lr_gamma: f64,
    pub max_epochs: usize,
    /// Stop after this many epochs without a better validation loss (the best model is kept).
    pub patience: usize,
    /// Clip the global gradient norm to this (0: no clipping).
    pub grad_clip: f64,
    /// beta of the beta-NLL loss (Seitzer et al. 2022); 0 is the plain Gaussian NLL.
    pub beta_nll: f64,
    /// Train / validation / test shares of the dataset's valid rows.
    pub split: [f64; 3],
    /// Seeds the split, the initial weights, the batch order and dropout.
    pub seed: u64,
    /// Monte Carlo passes for the test metrics stored in the model.
    pub eval_mc_passes: usize,
    /// Write the resumable checkpoint every this many epochs.
    pub checkpoint_every: usize,
    /// "auto", "cpu", "cuda" or "cuda:N".
    pub device: String,
    /// LibTorch threads (0: IAEMU_NUM_THREADS, else all cores).
    pub threads: usize,
    /// What the heads learn ([`Targets`]).
    pub targets: Targets,
}

/// What a model is trained on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Targets {
    /// Each point's mean over its realisations, with the Gaussian likelihood of that mean: the
    /// variance head learns the variance of the dataset's R-realisation means (the paper's).
    #[default]
    Realisations,
    /// Each point's expected correlations (`expected.npy`, noise-free) for the mean head, by
    /// squared error in standardised units; the variance head learns one realisation's variance
    /// from the dataset's variances over R realisations, by the likelihood of a sample
    /// variance (docs/science.md section 10).
    Expected,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            lr: 0.01,
            weight_decay: 1e-4,
            batch_size: 128,
            lr_step_epochs: 500,
            lr_gamma: 0.9,
            max_epochs: 1500,
            patience: 100,
            grad_clip: 5.0,
            beta_nll: 0.0,
            split: [0.7, 0.1, 0.2],
            seed: 1,
            eval_mc_passes: 20,
            checkpoint_every: 5,
            device: "auto".into(),
            threads: 0,
            targets: Targets::Realisations,
        }
    }
}

impl TrainConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::invalid(format!("train config: {m}")));
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Error::invalid(format!(
                    "train config: {name} = {v}: must be finite and > 0"
                )))
            }
        };
        positive("lr", self.lr)?;
        positive("lr_gamma", self.lr_gamma)?;
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(format!("weight_decay = {}: must be >= 0", self.weight_decay));
        }
        if !(self.grad_clip.is_finite() && self.grad_clip >= 0.0) {
            return bad(format!("grad_clip = {}: must be >= 0", self.grad_clip));
        }
        if !(self.beta_nll.is_finite() && (0.0..=1.0).contains(&self.beta_nll)) {
            return bad(format!("beta_nll = {}: must be in [0, 1]", self.beta_nll));
        }
        if self.batch_size < 2 {
            return bad(format!(
                "batch_size = {}: at least 2 (BatchNorm needs two rows)",
                self.batch_size
            ));
        }
        for (name, v) in [
            ("lr_step_epochs", self.lr_step_epochs),
            ("max_epochs", self.max_epochs),
            ("patience", self.patience),
            ("eval_mc_passes", self.eval_mc_passes),
            ("checkpoint_every", self.checkpoint_every),
        ] {
            if v == 0 {
                return bad(format!("{name} must be at least 1"));
            }
        }
        let s = self.split;
        if s.iter().any(|v| !v.is_finite() || *v < 0.0)
            || s[0] <= 0.0
            || s[1] <= 0.0
            || (s.iter().sum::<f64>() - 1.0).abs() > 1e-9
        {
            return bad(format!(
                "split {s:?}: train, validation and test shares, >= 0 with train and validation > 0, summing to 1"
            ));
        }
        super::parse_device(&self.device)?;
        Ok(())
    }
}

/// A configuration file: `{"model": {...}, "train": {...}}`, each section optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub model: ModelConfig,
    pub train: TrainConfig,
}

impl Config {
    /// Parses JSON text; unknown keys are errors (a misspelt key must not be ignored).
    pub fn from_json(text: &str) -> Result<Config> {
        let c: Config = serde_json::from_str(text)
            .map_err(|e| Error::invalid(format!("emulator config: {e}")))?;
        c.validate()?;
        Ok(c)
    }

    pub fn from_file(path: &std::path::Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("{}: {e}", path.display())))?;
        Config::from_json(&text).map_err(|e| match e {
            Error::InvalidArgument(m) => Error::invalid(format!("{}: {m}", path.display())),
            e => e,
        })
    }

    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        self.train.validate()
    }
}
