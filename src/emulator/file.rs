//! Model files: one `.safetensors` file holding the weights (float32, named by their place in
//! the network) and, as metadata, a format tag (`format`) and one JSON document (`iaemu`,
//! [`ModelMeta`]): architecture, normalisation, parameter names and domain, bin edges,
//! training provenance and test metrics.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use super::config::{ModelConfig, TrainConfig};
use super::metrics::Metrics;
use super::net::Net;
use super::transform::Normalization;
use crate::dataset;
use crate::io::write_atomically;
use crate::{Error, Result};

/// The model file format this build reads and writes.
pub const FORMAT: &str = "iaemu-emulator-1";

/// How a model was trained, recorded in its file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    pub train: TrainConfig,
    /// The dataset's `meta.json` (None for data made in memory).
    pub dataset: Option<dataset::Meta>,
    /// [`dataset::Data::fingerprint`] of the training data.
    pub dataset_fingerprint: u64,
    pub n_rows: usize,
    /// Rows left out: not valid in the dataset or with non-finite parameters.
    pub rows_unusable: usize,
    pub n_train: usize,
    pub n_validation: usize,
    pub n_test: usize,
    /// (row, bin) values of xi <= 0 or non-finite left out of the loss (log(xi) needs xi > 0).
    pub xi_bins_masked: usize,
    pub epochs: usize,
    pub best_epoch: usize,
    #[serde(deserialize_with = "super::metrics::nan_as_null::f64")]
    pub best_validation_loss: f64,
    /// "early stopping", "max_epochs" or "stopped by the caller".
    pub stopped_by: String,
    pub seconds: f64,
    pub device: String,
    pub n_weights: i64,
}

/// Everything in a model file besides the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    pub format: String,
    pub iaemu_version: String,
    pub config: ModelConfig,
    pub param_names: Vec<String>,
    /// The training data's range per parameter: inputs outside are flagged.
    pub domain_min: Vec<f64>,
    pub domain_max: Vec<f64>,
    /// Mpc/h, n_bins + 1.
    pub r_edges: Vec<f64>,
    pub normalization: Normalization,
    pub training: TrainingRecord,
    /// Test-split metrics (docs/science.md section 10), None when the split has no test rows.
    pub metrics: Option<Metrics>,
}

impl ModelMeta {
    pub fn n_bins(&self) -> usize {
        self.r_edges.len() - 1
    }

    fn check(&self) -> Result<()> {
        let nb = self.r_edges.len().saturating_sub(1);
        let np = crate::hod::PARAM_NAMES.len();
        let ok = self.param_names.iter().map(String::as_str).eq(crate::hod::PARAM_NAMES)
            && nb > 0
            && self.domain_min.len() == np
            && self.domain_max.len() == np
            && self.normalization.x_mean.len() == np
            && self.normalization.x_std.len() == np
            && self.normalization.y_mean.len() == 3 * nb
            && self.normalization.y_std.len() == 3 * nb
            && self.normalization.log_xi == self.config.log_xi;
        if !ok {
            return Err(Error::io(
                "model metadata is inconsistent (parameter names, domain, bins or normalisation sizes)",
            ));
        }
        self.config
            .validate()
            .map_err(|e| Error::io(format!("model metadata: {e}")))
    }
}

fn kind_bytes(t: &Tensor) -> (Vec<usize>, Vec<u8>) {
    let t = t.to_device(Device::Cpu).to_kind(Kind::Float).contiguous();
    let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
    let mut bytes = vec![0u8; t.numel() * 4];
    t.copy_data_u8(&mut bytes, t.numel());
    (shape, bytes)
}

/// The bytes of a safetensors file with `tensors` and metadata `{format, iaemu: json}`.
pub(crate) fn serialize(tensors: &[(String, Tensor)], format: &str, json: String) -> Result<Vec<u8>> {
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, t)| {
            let (shape, bytes) = kind_bytes(t);
            (name.clone(), shape, bytes)
        })
        .collect();
    let views = data
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
                .map_err(|e| Error::Internal(format!("safetensors view {name}: {e:?}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let metadata = HashMap::from([("format".to_string(), format.to_string()), ("iaemu".to_string(), json)]);
    safetensors::tensor::serialize(views, &Some(metadata))
        .map_err(|e| Error::Internal(format!("safetensors: {e:?}")))
}

/// Writes `bytes` to `path` through a temporary file renamed into place.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, |tmp| {
        std::fs::write(tmp, bytes).map_err(|e| Error::io(format!("{}: {e}", tmp.display())))
    })
}

/// A parsed safetensors file: its `iaemu` JSON and its float32 tensors.
pub(crate) struct Parsed {
    pub json: String,
    pub tensors: HashMap<String, Tensor>,
}

/// Parses safetensors bytes whose `format` metadata must be `format`; `origin` names the
/// source in errors.
pub(crate) fn parse(bytes: &[u8], format: &str, origin: &str) -> Result<Parsed> {
    let bad = |m: String| Error::io(format!("{origin}: {m}"));
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| bad(format!("not a readable safetensors file ({e:?})")))?;
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| bad(format!("not a readable safetensors file ({e:?})")))?;
    let meta = header.metadata().clone().unwrap_or_default();
    match meta.get("format") {
        Some(f) if f == format => {}
        Some(f) => {
            return Err(bad(format!(
                "format {f:?}, but this build reads {format:?} (retrain or use a matching iaemu)"
            )))
        }
        None => return Err(bad(format!("no \"format\" metadata: not an iaemu {format} file"))),
    }
    let json = meta
        .get("iaemu")
        .cloned()
        .ok_or_else(|| bad("no \"iaemu\" metadata".into()))?;
    let mut tensors = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(bad(format!("tensor {name} is {:?}, expected F32", view.dtype())));
        }
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        tensors.insert(name, Tensor::from_data_size(view.data(), &shape, Kind::Float));
    }
    Ok(Parsed { json, tensors })
}

/// Copies `tensors` into `net`'s variables, requiring exactly the same names and shapes
/// (a different architecture is an error naming the first difference).
pub(crate) fn load_into(net: &Net, tensors: &HashMap<String, Tensor>, prefix: &str, origin: &str) -> Result<()> {
    let vars = net.named_variables();
    let expected = tensors.keys().filter(|k| k.starts_with(prefix)).count();
    if expected != vars.len() {
        return Err(Error::io(format!(
            "{origin}: holds {expected} weight tensors, the architecture in its metadata has {} (mismatched architecture)",
            vars.len()
        )));
    }
    tch::no_grad(|| {
        for (name, mut var) in vars {
            let key = format!("{prefix}{name}");
            let t = tensors.get(&key).ok_or_else(|| {
                Error::io(format!("{origin}: tensor {key} is missing (mismatched architecture)"))
            })?;
            if t.size() != var.size() {
                return Err(Error::io(format!(
                    "{origin}: tensor {key} has shape {:?}, the architecture needs {:?}",
                    t.size(),
                    var.size()
                )));
            }
            var.copy_(t);
        }
        Ok(())
    })
}

/// Reads and checks a model file's metadata.
pub(crate) fn parse_meta(json: &str, origin: &str) -> Result<ModelMeta> {
    let meta: ModelMeta = serde_json::from_str(json)
        .map_err(|e| Error::io(format!("{origin}: model metadata unreadable ({e})")))?;
    if meta.format != FORMAT {
        return Err(Error::io(format!(
            "{origin}: format {:?}, this build reads {FORMAT:?}",
            meta.format
        )));
    }
    meta.check().map_err(|e| Error::io(format!("{origin}: {e}")))?;
    Ok(meta)
}
