//! The networks of docs/science.md section 10, in LibTorch, giving per bin a mean and a softplus
//! variance in the standardised units of [`super::transform::Normalization`]: the paper's (a
//! shared encoder and one convolutional decoder head per statistic) or the split one (separate
//! fully connected networks for each statistic's means and for the variances), as
//! [`Architecture`] says.

use tch::nn::{self, Module, ModuleT};
use tch::{Device, Kind, Tensor};

use super::config::{Architecture, ModelConfig};
use crate::hod::PARAM_NAMES;

/// The three statistics, in the order of every n x 3 x n_bins array.
pub const STATISTICS: [&str; 3] = ["xi", "omega", "eta"];

/// Smallest variance the heads return (standardised units), so the NLL stays finite.
const VAR_FLOOR: f64 = 1e-6;

/// BatchNorm's epsilon (PyTorch's default), used by the layers and by [`Net::fold_batchnorm`].
const BN_EPS: f64 = 1e-5;

fn batch_norm(p: nn::Path, dim: i64) -> nn::BatchNorm {
    nn::batch_norm1d(p, dim, nn::BatchNormConfig { eps: BN_EPS, ..Default::default() })
}

/// The weight and bias of a Linear or Conv1d layer followed by a BatchNorm in inference mode,
/// as one layer: w' = w s, b' = (b - running_mean) s + beta, with s = gamma / sqrt(running_var
/// + eps) per output channel.
fn fold(ws: &Tensor, bs: &Option<Tensor>, bn: &nn::BatchNorm) -> (Tensor, Tensor) {
    let gamma = bn.ws.as_ref().expect("affine BatchNorm");
    let beta = bn.bs.as_ref().expect("affine BatchNorm");
    let s = gamma / (&bn.running_var + BN_EPS).sqrt();
    let mut shape = vec![1i64; ws.dim()];
    shape[0] = -1;
    let b = bs.as_ref().map_or_else(|| s.zeros_like(), |b| b.shallow_clone());
    (ws * s.view(shape.as_slice()), (b - &bn.running_mean) * &s + beta)
}

/// Dropout probabilities up to this use [`dropout_in_place`]'s sparse draw; above it, LibTorch's
/// (one uniform number per value), which is then about as cheap.
const SPARSE_DROPOUT_MAX_P: f64 = 0.05;

/// Tensors with fewer values take LibTorch's dropout: the sparse draw's dozen small operations
/// cost more than one uniform number per value there (one point's 20 passes).
const SPARSE_DROPOUT_MIN_VALUES: i64 = 1 << 16;

/// At most this many gaps are drawn at a time by [`dropout_in_place`] (bounds its memory).
const DROPOUT_DRAWS_PER_ROUND: i64 = 8192;

/// Inverted dropout of `h` in place for inference (Monte Carlo passes), from LibTorch's global
/// generator: each value is zeroed with probability `p`, independently, and the others are
/// scaled by 1 / (1 - p). For small `p` the zeroed positions are drawn directly: the gaps
/// between them are geometric, G = 1 + floor(ln U / ln(1 - p)) with U uniform in (0, 1], so
/// the cost is about p N draws and a scatter instead of N draws (at p = 0.003, LibTorch's
/// dropout costs about as much as the matrix product before it). The same distribution as
/// LibTorch's, from another random stream.
fn dropout_in_place(h: &mut Tensor, p: f64) {
    if p <= 0.0 {
        return;
    }
    let n = h.numel() as i64;
    if p > SPARSE_DROPOUT_MAX_P || n < SPARSE_DROPOUT_MIN_VALUES {
        let _ = h.dropout_(p, true);
        return;
    }
    let mut flat = h.view([-1]);
    let log_keep = (-p).ln_1p();
    // The next position a gap starts from.
    let mut start = 0i64;
    while start < n {
        // Enough gaps to reach the end in one round but for 6 sigma of bad luck.
        let expected = (n - start) as f64 * p;
        let m = ((expected + 6.0 * expected.sqrt() + 16.0).ceil() as i64).min(DROPOUT_DRAWS_PER_ROUND);
        let u = Tensor::rand([m], (Kind::Double, h.device()));
        let gaps = ((-u).log1p() / log_keep).floor() + 1.0; // -u in (-1, 0]: ln U for U = 1 - u
        let positions = gaps.to_kind(Kind::Int64).cumsum(0, Kind::Int64) + (start - 1);
        let last = positions.int64_value(&[m - 1]);
        let _ = flat.index_fill_(0, &positions.masked_select(&positions.lt(n)), 0.0);
        start = last + 1;
    }
    let _ = h.g_mul_scalar_(1.0 / (1.0 - p));
}

/// The activation after a hidden layer: the paper's or the split architecture's.
#[derive(Clone, Copy)]
enum Activation {
    LeakyRelu,
    Silu,
}

/// `act` and then, when `dropout`, dropout with probability `p`: out of place when `h` is
/// differentiated (training, the Jacobian), in place otherwise (inference: no new activations).
fn activate(mut h: Tensor, act: Activation, p: f64, dropout: bool) -> Tensor {
    if h.requires_grad() {
        let h = match act {
            Activation::LeakyRelu => h.leaky_relu(),
            Activation::Silu => h.silu(),
        };
        return if dropout { h.dropout(p, true) } else { h };
    }
    let _ = match act {
        Activation::LeakyRelu => h.leaky_relu_(),
        Activation::Silu => h.silu_(),
    };
    if dropout {
        dropout_in_place(&mut h, p);
    }
    h
}

fn set(dst: &mut Tensor, src: &Tensor) {
    dst.copy_(src);
}

/// Which parts of the network behave as in training.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// BatchNorm from batch statistics (and updating its running ones), dropout on.
    Train,
    /// BatchNorm from running statistics, dropout on: one Monte Carlo pass.
    MonteCarlo,
    /// BatchNorm from running statistics, dropout off: the plain prediction.
    Eval,
}

impl Mode {
    fn bn_train(self) -> bool {
        self == Mode::Train
    }
    fn dropout(self) -> bool {
        self != Mode::Eval
    }
}

struct Head {
    bottleneck: nn::Linear,
    convs: Vec<(nn::Conv1D, nn::BatchNorm)>,
    last: nn::Conv1D,
}

/// A fully connected network of the split architecture: hidden layers (Linear, SiLU, and
/// Dropout when `dropout`) and a linear output.
struct Mlp {
    hidden: Vec<nn::Linear>,
    out: nn::Linear,
    dropout: bool,
}

impl Mlp {
    fn new(p: nn::Path, widths: &[usize], n_out: i64, dropout: bool) -> Mlp {
        let mut width = PARAM_NAMES.len() as i64;
        let hidden = widths
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                let l = nn::linear(&p / "hidden" / i, width, w as i64, Default::default());
                width = w as i64;
                l
            })
            .collect();
        Mlp { hidden, out: nn::linear(&p / "out", width, n_out, Default::default()), dropout }
    }

    fn forward(&self, x: &Tensor, p: f64, mode: Mode) -> Tensor {
        let dropout = self.dropout && mode.dropout();
        let mut h = x.shallow_clone();
        for l in &self.hidden {
            h = activate(l.forward(&h), Activation::Silu, p, dropout);
        }
        self.out.forward(&h)
    }
}

/// The layers of [`Architecture::Paper`] or [`Architecture::Split`].
enum Body {
    Paper { encoder: Vec<(nn::Linear, nn::BatchNorm)>, heads: Vec<Head> },
    Split { means: Vec<Mlp>, variances: Mlp },
}

pub(crate) struct Net {
    pub(crate) vs: nn::VarStore,
    body: Body,
    n_bins: i64,
    length: i64,
    dropout: f64,
    /// BatchNorms folded into the layers before them ([`Net::fold_batchnorm`]): inference only.
    folded: bool,
}

impl Net {
    /// A freshly initialised network (LibTorch's default initialisation, from its global
    /// generator: call it holding [`super::torch_rng_lock`], so that it does not disturb
    /// another thread's seeded draws, and seed the generator first for reproducible weights).
    pub(crate) fn new(config: &ModelConfig, n_bins: usize, device: Device) -> Net {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let nb = n_bins as i64;
        let body = match config.architecture {
            Architecture::Paper => Self::paper(&root, config, nb),
            Architecture::Split => Body::Split {
                means: STATISTICS.iter().map(|name| Mlp::new(&root / "mean" / *name, &config.encoder, nb, true)).collect(),
                variances: Mlp::new(&root / "variance", config.variance_widths(), STATISTICS.len() as i64 * nb, false),
            },
        };
        Net {
            vs,
            body,
            n_bins: nb,
            length: config.bottleneck_length as i64,
            dropout: config.dropout,
            folded: false,
        }
    }

    fn paper(root: &nn::Path, config: &ModelConfig, nb: i64) -> Body {
        let mut encoder = Vec::new();
        let mut width = PARAM_NAMES.len() as i64;
        for (i, &w) in config.encoder.iter().enumerate() {
            let p = root / "encoder" / i;
            encoder.push((
                nn::linear(&p / "linear", width, w as i64, Default::default()),
                batch_norm(&p / "bn", w as i64),
            ));
            width = w as i64;
        }
        let length = config.bottleneck_length as i64;
        let heads = STATISTICS
            .iter()
            .map(|name| {
                let p = root / "head" / *name;
                let mut convs = Vec::new();
                let mut channels = nb;
                for (j, &(c, k)) in config.conv.iter().enumerate() {
                    let q = &p / "conv" / j;
                    let cfg = nn::ConvConfig {
                        padding: (k as i64 - 1) / 2,
                        ..Default::default()
                    };
                    convs.push((
                        nn::conv1d(&q / "conv", channels, c as i64, k as i64, cfg),
                        batch_norm(&q / "bn", c as i64),
                    ));
                    channels = c as i64;
                }
                let k = config.final_kernel as i64;
                let last = nn::conv1d(
                    &p / "last",
                    channels,
                    nb,
                    k,
                    nn::ConvConfig {
                        stride: length / 2,
                        padding: (k - 1) / 2,
                        ..Default::default()
                    },
                );
                Head {
                    bottleneck: nn::linear(&p / "bottleneck", width, nb * length, Default::default()),
                    convs,
                    last,
                }
            })
            .collect();
        Body::Paper { encoder, heads }
    }

    /// A copy for inference (Monte Carlo and plain predictions, the Jacobian) with every
    /// BatchNorm folded into the layer before it: the same function with one pass over the
    /// activations less per layer.
    pub(crate) fn fold_batchnorm(&self, config: &ModelConfig) -> Net {
        let mut f = {
            let _rng = super::torch_rng_lock();
            Net::new(config, self.n_bins as usize, self.vs.device())
        };
        f.vs.set_kind(self.vs.kind());
        let (Body::Paper { encoder, heads }, Body::Paper { encoder: f_encoder, heads: f_heads }) = (&self.body, &mut f.body) else {
            // nothing to fold: the same weights
            f.vs.copy(&self.vs).expect("the same architecture's variables");
            f.vs.freeze();
            f.folded = true;
            return f;
        };
        tch::no_grad(|| {
            for ((l, bn), (fl, _)) in encoder.iter().zip(f_encoder.iter_mut()) {
                let (w, b) = fold(&l.ws, &l.bs, bn);
                set(&mut fl.ws, &w);
                set(fl.bs.as_mut().expect("bias"), &b);
            }
            for (h, fh) in heads.iter().zip(f_heads.iter_mut()) {
                set(&mut fh.bottleneck.ws, &h.bottleneck.ws);
                set(fh.bottleneck.bs.as_mut().expect("bias"), h.bottleneck.bs.as_ref().expect("bias"));
                for ((c, bn), (fc, _)) in h.convs.iter().zip(fh.convs.iter_mut()) {
                    let (w, b) = fold(&c.ws, &c.bs, bn);
                    set(&mut fc.ws, &w);
                    set(fc.bs.as_mut().expect("bias"), &b);
                }
                set(&mut fh.last.ws, &h.last.ws);
                set(fh.last.bs.as_mut().expect("bias"), h.last.bs.as_ref().expect("bias"));
            }
        });
        f.vs.freeze();
        f.folded = true;
        f
    }

    fn block(&self, xs: Tensor, bn: &nn::BatchNorm, mode: Mode) -> Tensor {
        let h = if self.folded {
            xs
        } else {
            bn.forward_t(&xs, mode.bn_train())
        };
        activate(h, Activation::LeakyRelu, self.dropout, mode.dropout())
    }

    /// Standardised parameters (n x 7, float32) to standardised (mean, variance), each
    /// n x 3 x n_bins.
    pub(crate) fn forward(&self, x: &Tensor, mode: Mode) -> (Tensor, Tensor) {
        assert!(!(self.folded && mode == Mode::Train), "a folded network is for inference only");
        let (encoder, heads) = match &self.body {
            Body::Paper { encoder, heads } => (encoder, heads),
            Body::Split { means, variances } => {
                let n = x.size()[0];
                let mean = Tensor::stack(&means.iter().map(|m| m.forward(x, self.dropout, mode)).collect::<Vec<_>>(), 1);
                let var = variances.forward(x, self.dropout, mode).view([n, STATISTICS.len() as i64, self.n_bins]);
                return (mean, var.softplus() + VAR_FLOOR);
            }
        };
        let mut h = x.shallow_clone();
        for (linear, bn) in encoder {
            h = self.block(linear.forward(&h), bn, mode);
        }
        let n = h.size()[0];
        let mut means = Vec::with_capacity(3);
        let mut vars = Vec::with_capacity(3);
        for head in heads {
            let mut z = head.bottleneck.forward(&h).view([n, self.n_bins, self.length]);
            for (conv, bn) in &head.convs {
                z = self.block(conv.forward(&z), bn, mode);
            }
            let out = head.last.forward(&z); // n x n_bins x 2
            means.push(out.select(2, 0));
            vars.push(out.select(2, 1).softplus() + VAR_FLOOR);
        }
        (Tensor::stack(&means, 1), Tensor::stack(&vars, 1))
    }

    /// The variables in a fixed order (sorted names): what model files store.
    pub(crate) fn named_variables(&self) -> Vec<(String, Tensor)> {
        let mut v: Vec<(String, Tensor)> = self.vs.variables().into_iter().collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Number of trainable numbers.
    pub(crate) fn n_weights(&self) -> i64 {
        self.vs
            .trainable_variables()
            .iter()
            .map(|t| t.numel() as i64)
            .sum()
    }
}

/// Activations of one input row through the network of `config`: the encoder's widths, and
/// per head the bottleneck, each convolution's output and the last one's.
pub(crate) fn activations_per_row(config: &ModelConfig, n_bins: usize) -> usize {
    if config.architecture == Architecture::Split {
        // three means networks and the variances' one
        let hidden = STATISTICS.len() * config.encoder.iter().sum::<usize>() + config.variance_widths().iter().sum::<usize>();
        return hidden + 2 * STATISTICS.len() * n_bins;
    }
    let length = config.bottleneck_length;
    let head = n_bins * length + config.conv.iter().map(|&(c, _)| c * length).sum::<usize>() + 2 * n_bins;
    config.encoder.iter().sum::<usize>() + STATISTICS.len() * head
}

/// n x 7 tensor of `kind` (the network's: float32, or float64 for [`super::Emulator::to_float64`])
/// on `device` from row-major f64 values.
pub(crate) fn params_tensor(rows: &[f64], device: Device, kind: Kind) -> Tensor {
    let t = if kind == Kind::Double {
        Tensor::from_slice(rows)
    } else {
        Tensor::from_slice(&rows.iter().map(|&x| x as f32).collect::<Vec<f32>>())
    };
    t.view([-1, PARAM_NAMES.len() as i64]).to_device(device).to_kind(kind)
}

/// The values of a float tensor (any shape, any device) as f64, row-major.
pub(crate) fn to_f64(t: &Tensor) -> Vec<f64> {
    let t = t.to_device(Device::Cpu).to_kind(Kind::Double).contiguous().view([-1]);
    let n = t.numel();
    let mut out = vec![0.0; n];
    t.copy_data(&mut out, n);
    out
}

/// Trainable numbers of the network of `config` (what [`Net::n_weights`] counts), without
/// building it.
pub(crate) fn n_weights_of(config: &ModelConfig, n_bins: usize) -> usize {
    if config.architecture == Architecture::Split {
        let mlp = |widths: &[usize], n_out: usize| {
            let mut total = 0;
            let mut width = PARAM_NAMES.len();
            for &w in widths {
                total += width * w + w;
                width = w;
            }
            total + width * n_out + n_out
        };
        let ns = STATISTICS.len();
        return ns * mlp(&config.encoder, n_bins) + mlp(config.variance_widths(), ns * n_bins);
    }
    let mut total = 0;
    let mut width = PARAM_NAMES.len();
    for &w in &config.encoder {
        total += width * w + w + 2 * w; // Linear, BatchNorm's scale and shift
        width = w;
    }
    let length = config.bottleneck_length;
    let mut head = width * n_bins * length + n_bins * length;
    let mut channels = n_bins;
    for &(c, k) in &config.conv {
        head += channels * c * k + c + 2 * c;
        channels = c;
    }
    head += channels * n_bins * config.final_kernel + n_bins;
    total + STATISTICS.len() * head
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sparse draw against the definition: over 2 x 10^6 ones (one round of draws at
    /// p = 0.003, ten at 0.04), the zeroed count within 5 sigma of Binomial(N, p), every other
    /// value 1 / (1 - p), zeros spread evenly (each quarter within 5 sigma), and neighbouring
    /// values zeroed together as often as independence says (p^2 N within 5 sigma). Gaps
    /// scaled by a wrong logarithm fail the count; gaps of odd lengths only fail the
    /// neighbours.
    #[test]
    fn sparse_dropout_zeroes_each_value_with_probability_p() {
        for p in [0.003, 0.04] {
            let n = 2_000_000i64;
            tch::manual_seed(7);
            let mut h = Tensor::ones([n / 1000, 1000], (Kind::Float, Device::Cpu));
            dropout_in_place(&mut h, p);
            let v: Vec<f32> = Vec::try_from(h.view([-1])).unwrap();
            let kept = (1.0 / (1.0 - p)) as f32;
            assert!(v.iter().all(|&x| x == 0.0 || x == kept), "p {p}: values other than 0 and {kept}");
            let zeros: Vec<bool> = v.iter().map(|&x| x == 0.0).collect();
            let within = |what: &str, count: usize, n: f64, q: f64| {
                let (mean, sd) = (n * q, (n * q * (1.0 - q)).sqrt());
                assert!((count as f64 - mean).abs() <= 5.0 * sd, "p {p}: {what}: {count}, expected {mean:.0} +- {sd:.0}");
            };
            within("zeroed", zeros.iter().filter(|&&z| z).count(), n as f64, p);
            for q in zeros.chunks(n as usize / 4) {
                within("zeroed in a quarter", q.iter().filter(|&&z| z).count(), q.len() as f64, p);
            }
            within("neighbours zeroed together", zeros.windows(2).filter(|w| w[0] && w[1]).count(), (n - 1) as f64, p * p);
        }
    }

    #[test]
    fn weights_counted_without_building_match_the_network() {
        for config in [
            ModelConfig::default(),
            ModelConfig { encoder: vec![16, 8], conv: vec![(5, 3)], ..Default::default() },
            ModelConfig { architecture: Architecture::Split, encoder: vec![16, 8], ..Default::default() },
            ModelConfig { architecture: Architecture::Split, encoder: vec![16, 8], variance_encoder: vec![5], ..Default::default() },
        ] {
            let net = Net::new(&config, 20, Device::Cpu);
            assert_eq!(n_weights_of(&config, 20) as i64, net.n_weights(), "{config:?}");
        }
    }
}
