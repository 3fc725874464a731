//! Peak memory of one large request per operation: the benchmark of the memory budget
//! (README, "C ABI conventions", rule 10). Prints the outcome, the time and the process's peak
//! resident memory (getrusage). One operation per run, so each peak is its own:
//!
//! ```sh
//! cargo run --release --example memory -- predict 1 200000      # points, Monte Carlo passes
//! cargo run --release --example memory -- jacobian 200000       # points
//! cargo run --release --example memory -- simulate 20000        # realisations (box 60)
//! cargo run --release --example memory -- validate 200000       # training rows, 98% validation
//! ```
//!
//! Run it under a limit to see a request refused instead of the machine filling up, e.g.
//! `(ulimit -d 16000000; cargo run ...)`.

use std::time::Instant;

use iaemu::dataset::Data;
use iaemu::emulator::{self, Config, Control, Emulator, PredictOptions};
use iaemu::hod::{simulate, HodParams, SimulateOptions};
use ndarray::{Array1, Array2, Array3};

const P: [f64; 7] = [0.8, 0.8, 12.02, 0.26, 11.38, 13.31, 1.06];

fn peak_mib() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    u.ru_maxrss as f64 / 1024.0
}

fn arg(args: &[String], i: usize, default: usize) -> usize {
    args.get(i).map_or(default, |s| s.parse().expect("a count"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).map(String::as_str).unwrap_or("predict");
    let start = Instant::now();
    let outcome: Result<String, iaemu::Error> = match what {
        "predict" => {
            let (n, mc) = (arg(&args, 2, 1), arg(&args, 3, 20_000));
            let emu = Emulator::builtin("cpu").unwrap();
            let params: Vec<f64> = P.iter().copied().cycle().take(7 * n).collect();
            emu.predict(&params, &PredictOptions { mc_passes: mc, ..Default::default() })
                .map(|p| format!("predicted {n} points x {mc} passes, xi[0] {:.4e}", p.mean[[0, 0, 0]]))
        }
        "jacobian" => {
            let n = arg(&args, 2, 100_000);
            let emu = Emulator::builtin("cpu").unwrap();
            let params: Vec<f64> = P.iter().copied().cycle().take(7 * n).collect();
            emu.jacobian(&params, false, None).map(|j| format!("Jacobian of {n} points, {} numbers", j.jacobian.len()))
        }
        "simulate" => {
            let r = arg(&args, 2, 10_000);
            let halos = iaemu::halos::SyntheticUniverse { box_size: 60.0, grid: 32, seed: 1, ..Default::default() }
                .generate()
                .unwrap();
            let p = HodParams::from_array(P).unwrap();
            simulate(&halos, &p, r, 1, &SimulateOptions::default())
                .map(|s| format!("{r} realisations, xi[10] {:.4e} +- {:.1e}", s.xi[10], s.xi_var[10].sqrt()))
        }
        "validate" => {
            // The built-in architecture, one epoch on 1% of the rows, validation on 98%.
            let n = arg(&args, 2, 200_000);
            let params = Array2::from_shape_fn((n, 7), |(i, k)| P[k] + 0.01 * ((i * 7 + k) % 13) as f64);
            let mean = Array3::from_shape_fn((n, 3, 20), |(i, s, b)| (s + 1) as f64 / (1.0 + b as f64) + 1e-6 * i as f64);
            let data = Data::from_arrays(params, mean, Array3::zeros((n, 3, 20)), Array1::from_elem(n, 1u8), iaemu::corr::default_r_edges())
                .unwrap();
            let config = Config::from_json(
                r#"{"train": {"max_epochs": 1, "split": [0.01, 0.98, 0.01], "eval_mc_passes": 1, "device": "cpu"}}"#,
            )
            .unwrap();
            let out = std::env::temp_dir().join("iaemu-memory-example.safetensors");
            let r = emulator::train(&config, &data, &out, true, &mut |_| Control::Continue)
                .map(|e| format!("trained on {} rows, validated on {}", e.meta().training.n_train, e.meta().training.n_validation));
            let _ = std::fs::remove_file(out);
            r
        }
        other => panic!("unknown operation {other}: predict, jacobian, simulate or validate"),
    };
    let seconds = start.elapsed().as_secs_f64();
    match outcome {
        Ok(m) => println!("{what}: ok: {m}; {seconds:.1} s, peak resident {:.0} MiB", peak_mib()),
        Err(e) => println!("{what}: {e}; {seconds:.1} s, peak resident {:.0} MiB", peak_mib()),
    }
}
