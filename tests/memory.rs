//! Bounded memory: requests far larger than the machine either succeed within the memory budget
//! or fail with `Error::OutOfMemory` before they allocate, never killed by the allocator. Each
//! case runs in a child process (this test binary again, one test) whose data segment is
//! limited with RLIMIT_DATA (`ulimit -d`), so a request that allocated beyond it would abort the
//! child; the memory budget's default follows that limit (half of it).
#![cfg(feature = "emulator")]

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::OnceLock;

use iaemu::dataset::Data;
use iaemu::emulator::{self, Config, Control, Emulator, PredictOptions};
use iaemu::Error;
use ndarray::{Array1, Array2, Array3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The data-segment limit of the children: LibTorch's libraries take about 1 GB of it.
const LIMIT: u64 = 3 << 30;

/// Runs the test `name` of this binary in a child limited to `LIMIT`, and returns whether it
/// passed, with its output. In the child, `IAEMU_MEMORY_CHILD` is set.
fn in_child(name: &str) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("IAEMU_MEMORY_CHILD", "1")
        .env_remove("IAEMU_MEMORY_BUDGET");
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let r = libc::rlimit { rlim_cur: LIMIT, rlim_max: LIMIT };
            if libc::setrlimit(libc::RLIMIT_DATA, &r) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("--- child {name} (RLIMIT_DATA {} GiB):\n{text}", LIMIT >> 30);
    assert!(out.status.success(), "child {name} failed or was killed: {:?}", out.status);
    assert!(text.contains("1 passed"), "child {name} did not run its test");
}

fn is_child() -> bool {
    std::env::var_os("IAEMU_MEMORY_CHILD").is_some()
}

/// A small model (two 32-wide layers) trained for a few epochs on random curves: its accuracy
/// does not matter here, only its size.
fn small_model() -> &'static Emulator {
    static M: OnceLock<Emulator> = OnceLock::new();
    M.get_or_init(|| {
        let mut r = ChaCha8Rng::seed_from_u64(1);
        let n = 200;
        let lo = [-1.0, -1.0, 12.0, 0.2, 11.0, 13.0, 0.8];
        let params = Array2::from_shape_fn((n, 7), |(_, k)| lo[k] + r.random::<f64>());
        let mean = Array3::from_shape_fn((n, 3, 20), |(i, s, b)| {
            (s + 1) as f64 * params[[i, 2]] / (1.0 + b as f64) + 0.01 * r.random::<f64>()
        });
        let data = Data::from_arrays(params, mean, Array3::zeros((n, 3, 20)), Array1::from_elem(n, 1u8), iaemu::corr::default_r_edges())
            .unwrap();
        let config = Config::from_json(
            r#"{"model": {"encoder": [32, 32], "conv": [[8, 3]]}, "train": {"max_epochs": 3, "batch_size": 32, "device": "cpu"}}"#,
        )
        .unwrap();
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("memory");
        std::fs::create_dir_all(&dir).unwrap();
        emulator::train(&config, &data, &dir.join("small.safetensors"), true, &mut |_| Control::Continue).unwrap()
    })
}

const P: [f64; 7] = [-0.5, -0.5, 12.5, 0.6, 11.5, 13.5, 1.2];

#[test]
fn predict_with_a_million_passes_in_bounded_memory() {
    if !is_child() {
        return in_child("predict_with_a_million_passes_in_bounded_memory");
    }
    let emu = small_model();
    let opts = |mc_passes| PredictOptions { mc_passes, seed: 7, ..Default::default() };
    let start = std::time::Instant::now();
    let many = emu.predict(&P, &opts(1_000_000)).unwrap();
    eprintln!("1e6 passes in {:.1} s", start.elapsed().as_secs_f64());
    let few = emu.predict(&P, &opts(20_000)).unwrap();
    // Chunks of passes combine into the mean and variances of all of them: with 2e4 passes
    // the epistemic variance is known to sqrt(2 / 2e4) = 1% (more for the heavier tails of
    // dropout), so the two agree to 10%; the means agree to a fraction of the spread.
    for ((&a, &b), (&va, &vb)) in many.mean.iter().zip(&few.mean).zip(many.epistemic_var.iter().zip(&few.epistemic_var)) {
        assert!(va > 0.0 && (va / vb - 1.0).abs() < 0.1, "epistemic variance {va} (1e6 passes) against {vb} (2e4)");
        assert!((a - b).abs() < 0.05 * va.sqrt(), "mean {a} (1e6 passes) against {b} (2e4)");
    }
    for (&a, &b) in many.aleatoric_var.iter().zip(&few.aleatoric_var) {
        assert!((a / b - 1.0).abs() < 0.05, "aleatoric variance {a} against {b}");
    }
}

#[test]
fn jacobian_and_predict_of_huge_batches_are_refused_before_they_allocate() {
    if !is_child() {
        return in_child("jacobian_and_predict_of_huge_batches_are_refused_before_they_allocate");
    }
    let budget = iaemu::memory::budget().unwrap();
    eprintln!("budget {}", iaemu::memory::format_bytes(budget));
    assert!(budget <= LIMIT / 2, "the default budget follows RLIMIT_DATA");
    let emu = small_model();
    // 10^6 points: 3.4 GB of derivatives, refused; 5000 points fit.
    let rows: Vec<f64> = P.iter().copied().cycle().take(7 * 1_000_000).collect();
    match emu.jacobian(&rows, false, None) {
        Err(Error::OutOfMemory(m)) => assert!(m.contains("would need about") && m.contains("memory budget"), "{m}"),
        r => panic!("the Jacobian of 1e6 points: {:?}", r.map(|j| j.flags.len())),
    }
    let j = emu.jacobian(&rows[..7 * 5000], false, None).unwrap();
    assert!(j.jacobian.iter().all(|x| x.is_finite()));
    // 10^7 points x 60 outputs x 3 arrays: refused; the parameters alone are 560 MB here.
    drop(j);
    let rows: Vec<f64> = P.iter().copied().cycle().take(7 * 10_000_000).collect();
    match emu.predict(&rows, &PredictOptions::default()) {
        Err(Error::OutOfMemory(m)) => assert!(m.contains("10000000 points"), "{m}"),
        r => panic!("predicting 1e7 points: {:?}", r.map(|p| p.flags.len())),
    }
}

#[test]
fn the_budget_is_read_and_checked() {
    if !is_child() {
        return in_child("the_budget_is_read_and_checked");
    }
    use iaemu::memory::{budget, set_budget, BUDGET_ENV};
    std::env::set_var(BUDGET_ENV, "100M");
    assert_eq!(budget().unwrap(), 100 << 20);
    // The built-in model's forward pass of 20000 passes needs more than 100 MiB.
    let builtin = Emulator::builtin("cpu").unwrap();
    let p = [0.8, 0.8, 12.02, 0.26, 11.38, 13.31, 1.06];
    match builtin.predict(&p, &PredictOptions { mc_passes: 20_000, ..Default::default() }) {
        Err(Error::OutOfMemory(m)) => assert!(m.contains("100.0 MiB"), "{m}"),
        r => panic!("accepted: {:?}", r.is_ok()),
    }
    for bad in ["lots", "1M", "-5G"] {
        std::env::set_var(BUDGET_ENV, bad);
        match budget() {
            Err(Error::InvalidArgument(m)) => assert!(m.contains(BUDGET_ENV), "{m}"),
            r => panic!("{BUDGET_ENV}={bad}: {r:?}"),
        }
    }
    // A budget set by the library call wins over the environment; 0 restores the default.
    set_budget(1 << 30).unwrap();
    assert_eq!(budget().unwrap(), 1 << 30);
    assert!(matches!(set_budget(1), Err(Error::InvalidArgument(_))));
    set_budget(0).unwrap();
    std::env::remove_var(BUDGET_ENV);
    assert!(budget().unwrap() <= LIMIT / 2, "the default follows RLIMIT_DATA");
}
