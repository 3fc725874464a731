//! Prediction speed: a batch of 32,768 parameter points x 20 Monte Carlo passes, and one point
//! x 20 passes (the MCMC case), on the CPU or a GPU. Prints one JSON line.
//!
//!     cargo run --release --example bench_predict -- [MODEL|builtin] [THREADS] [DEVICE]
//!
//! `scripts/bench-emulator.sh` runs it beside the same network in PyTorch eager
//! (tests/peers/bench_predict.py) on the same weights and threads, and prints the ratio.

use std::time::Instant;

use iaemu::emulator::{Emulator, PredictOptions};
use rand::{Rng, SeedableRng};

fn main() -> iaemu::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model = args.first().map(String::as_str).unwrap_or("builtin");
    let threads: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2);
    let device = args.get(2).map(String::as_str).unwrap_or("cpu");
    let emu = if model == "builtin" {
        Emulator::builtin(device)?
    } else {
        Emulator::load(std::path::Path::new(model), device)?
    };
    let m = emu.meta();
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut points = |n: usize| -> Vec<f64> {
        (0..n)
            .flat_map(|_| (0..7).map(|k| r.random_range(m.domain_min[k]..=m.domain_max[k])).collect::<Vec<_>>())
            .collect()
    };
    let opts = PredictOptions { mc_passes: 20, seed: 1, allow_extrapolation: false, threads: Some(threads) };
    let big = points(32_768);
    emu.predict(&big[..7 * 1024], &opts)?; // warm-up
    let t = Instant::now();
    emu.predict(&big, &opts)?;
    let batch_s = t.elapsed().as_secs_f64();
    let one = points(1);
    let mut lat: Vec<f64> = (0..300)
        .map(|_| {
            let t = Instant::now();
            emu.predict(&one, &opts).map(|_| t.elapsed().as_secs_f64())
        })
        .collect::<iaemu::Result<_>>()?;
    lat.sort_by(f64::total_cmp);
    println!(
        "{}",
        serde_json::json!({
            "impl": "iaemu", "device": emu.device(), "threads": threads,
            "batch_points": 32768, "mc_passes": 20, "batch_s": batch_s,
            "one_point_ms_median": 1e3 * lat[lat.len() / 2], "one_point_ms_p90": 1e3 * lat[lat.len() * 9 / 10],
        })
    );
    Ok(())
}
