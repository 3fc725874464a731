//! The emulator against the same network written independently in PyTorch eager
//! (tests/peers/bench_predict.py, torch 2.13 from .venv): the built-in model's weights loaded
//! there give the same plain predictions, which checks the architecture, the weight names,
//! the normalisation and the log(xi) transform. Skips with a message without .venv.
#![cfg(feature = "emulator")]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use iaemu::emulator::{Emulator, PredictOptions};

#[test]
fn plain_predictions_match_pytorch_eager() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    if !python.exists() {
        eprintln!("SKIPPED: no {} (scripts/setup.sh makes it)", python.display());
        return;
    }
    let model = root.join("training/default-model/iaemu-default.safetensors");
    let emu = Emulator::load(&model, "cpu").unwrap();
    let m = emu.meta();
    // Five points spread over the training domain.
    let points: Vec<Vec<f64>> = (0..5)
        .map(|i| {
            (0..7)
                .map(|k| {
                    let f = ((i * 7 + k * 3) % 11) as f64 / 10.0;
                    m.domain_min[k] + f * (m.domain_max[k] - m.domain_min[k])
                })
                .collect()
        })
        .collect();
    let mut child = Command::new(&python)
        .arg(root.join("tests/peers/bench_predict.py"))
        .arg(&model)
        .arg("check")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&points).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the PyTorch script failed");
    let peer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let flat: Vec<f64> = points.iter().flatten().copied().collect();
    let ours = emu
        .predict(&flat, &PredictOptions { mc_passes: 1, ..Default::default() })
        .unwrap();
    // Differences relative to the largest value of each curve: float32 sums in another order
    // (iaemu folds BatchNorm into the layers) differ in the last digits, which is large
    // relative to a value crossing zero (omega, eta).
    let mut worst: f64 = 0.0;
    for (name, a) in [("mean", &ours.mean), ("aleatoric_var", &ours.aleatoric_var)] {
        for ((i, s, b), &x) in a.indexed_iter() {
            let curve = peer[name][i][s].as_array().unwrap();
            let scale = curve.iter().map(|v| v.as_f64().unwrap().abs()).fold(0.0, f64::max);
            let y = peer[name][i][s][b].as_f64().unwrap();
            let d = (x - y).abs() / scale.max(1e-30);
            worst = worst.max(d);
            assert!(d < 1e-4, "{name}[{i}][{s}][{b}]: iaemu {x}, PyTorch {y}");
        }
    }
    eprintln!("largest difference from PyTorch eager, relative to the curve: {worst:.2e}");
}
