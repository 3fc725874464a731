//! Training datasets: designs, `iaemu generate` (chunks, resume after a kill, sharding),
//! `iaemu merge` and its checks, and shards run by `mpirun -np 2` (skipped with a message when
//! OpenMPI is absent; the test command installs it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use iaemu::dataset::design::{
    self, Design, LHS_RANGES, PAPER_BAND_RMSE, PAPER_FITS, PAPER_LOG_M_MIN, SIGMA_LOG_M_FLOOR,
};

fn iaemu() -> Command {
    Command::new(env!("CARGO_BIN_EXE_iaemu"))
}

fn run(args: &[&str]) -> Output {
    iaemu().args(args).output().expect("iaemu runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("generate")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A small halo file shared by the tests.
fn halos_file() -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("generate-halos.npz");
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let h = iaemu::halos::SyntheticUniverse {
            box_size: 90.0,
            grid: 32,
            seed: 8,
            ..Default::default()
        }
        .generate()
        .unwrap();
        iaemu::halos::save(&h, &path).unwrap();
    });
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The final arrays of a dataset folder, as bytes.
fn arrays(dir: &Path) -> Vec<Vec<u8>> {
    [
        "params.npy",
        "mean.npy",
        "var.npy",
        "valid.npy",
        "n_galaxies.npy",
        "r_edges.npy",
    ]
    .iter()
    .map(|f| {
        std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(f).display()))
    })
    .collect()
}

fn generate(out: &Path, extra: &[&str]) -> Output {
    let h = halos_file();
    let mut args = vec![
        "generate",
        "--design",
        "paper",
        "--n",
        "24",
        "--realizations",
        "2",
        "--chunk",
        "3",
        "--seed",
        "4",
        "--halos",
        s(&h),
        "--out",
        s(out),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn lhs_is_a_latin_hypercube_and_paper_follows_its_fits() {
    let n = 50;
    let pts = design::points(Design::Lhs, n, 3).unwrap();
    for (k, &(lo, hi)) in LHS_RANGES.iter().enumerate() {
        let mut strata: Vec<usize> = pts
            .iter()
            .map(|p| ((p.to_array()[k] - lo) / (hi - lo) * n as f64).floor() as usize)
            .collect();
        strata.sort();
        assert_eq!(
            strata,
            (0..n).collect::<Vec<_>>(),
            "parameter {k}: one point per stratum"
        );
    }
    assert_eq!(pts, design::points(Design::Lhs, n, 3).unwrap());
    assert_ne!(pts, design::points(Design::Lhs, n, 4).unwrap());

    let pts = design::points(Design::Paper, 200, 5).unwrap();
    let (lo, hi) = PAPER_LOG_M_MIN;
    for (i, p) in pts.iter().enumerate() {
        let v = p.to_array();
        assert!((v[2] - (lo + (hi - lo) * i as f64 / 199.0)).abs() < 1e-12);
        assert!(v[0].abs() <= 1.0 && v[1].abs() <= 1.0);
        for (k, &(slope, intercept, rmse)) in PAPER_FITS.iter().enumerate() {
            let centre = slope * v[2] + intercept;
            assert!(
                (v[3 + k] - centre).abs() <= PAPER_BAND_RMSE * rmse + 1e-12,
                "point {i} parameter {}",
                3 + k
            );
        }
        assert!(v[3] >= SIGMA_LOG_M_FLOOR);
    }
}

#[test]
fn shards_merged_equal_one_run_and_merge_checks_its_inputs() {
    let dir = scratch("shards");
    let whole = dir.join("whole");
    let o = generate(&whole, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sharded = dir.join("sharded");
    for k in 0..3 {
        let o = generate(&sharded, &["--shard", &format!("{k}/3")]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let shard = |k: usize| sharded.join(format!("shard-{k}-of-3"));
    let merged = dir.join("merged");
    let o = run(&[
        "merge",
        s(&shard(0)),
        s(&shard(1)),
        s(&shard(2)),
        "--out",
        s(&merged),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(arrays(&whole), arrays(&merged));

    // A missing shard, a shard twice, and a shard of another run are refused.
    let o = run(&[
        "merge",
        s(&shard(0)),
        s(&shard(1)),
        "--out",
        s(&dir.join("m2")),
    ]);
    assert!(
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("shard 2/3 is missing")
    );
    let o = run(&[
        "merge",
        s(&shard(0)),
        s(&shard(1)),
        s(&shard(1)),
        "--out",
        s(&dir.join("m3")),
    ]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("appears twice"));
    let other = dir.join("other");
    let h = halos_file();
    let o = run(&[
        "generate",
        "--design",
        "paper",
        "--n",
        "24",
        "--realizations",
        "2",
        "--chunk",
        "3",
        "--seed",
        "5",
        "--halos",
        s(&h),
        "--shard",
        "2/3",
        "--out",
        s(&other),
    ]);
    assert!(o.status.success());
    let o = run(&[
        "merge",
        s(&shard(0)),
        s(&shard(1)),
        s(&other.join("shard-2-of-3")),
        "--out",
        s(&dir.join("m4")),
    ]);
    assert!(
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("does not belong"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // Re-running a finished folder with another plan is refused; with the same plan it skips.
    let o = run(&[
        "generate",
        "--design",
        "paper",
        "--n",
        "24",
        "--realizations",
        "3",
        "--chunk",
        "3",
        "--seed",
        "4",
        "--halos",
        s(&h),
        "--out",
        s(&whole),
    ]);
    assert!(
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("different run"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = generate(&whole, &[]);
    assert!(
        o.status.success() && String::from_utf8_lossy(&o.stderr).contains("0 chunks done"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn a_killed_run_resumes_and_loses_nothing_finished() {
    let dir = scratch("kill");
    let h = halos_file();
    let args = |out: &Path| -> Vec<String> {
        [
            "generate",
            "--design",
            "lhs",
            "--n",
            "160",
            "--realizations",
            "2",
            "--chunk",
            "2",
            "--seed",
            "6",
            "--halos",
            s(&h),
            "--threads",
            "1",
            "--out",
            s(out),
        ]
        .iter()
        .map(|a| a.to_string())
        .collect()
    };
    let killed = dir.join("killed");
    let mut child = iaemu()
        .args(args(&killed))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let chunks = killed.join("chunks");
    let count = || {
        std::fs::read_dir(&chunks)
            .map(|d| {
                d.filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .path()
                        .extension()
                        .is_some_and(|x| x == "npz")
                })
                .count()
            })
            .unwrap_or(0)
    };
    let start = Instant::now();
    while count() < 4 && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL: no clean-up runs
    child.wait().unwrap();
    let finished = count();
    assert!(
        (4..80).contains(&finished),
        "killed after {finished} of 80 chunks"
    );
    assert!(!killed.join("mean.npy").exists());
    // Every finished chunk is whole.
    for e in std::fs::read_dir(&chunks).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "npz") {
            let mut npz = ndarray_npy::NpzReader::new(std::fs::File::open(&p).unwrap()).unwrap();
            let mean: ndarray::Array3<f64> = npz.by_name("mean").unwrap();
            assert_eq!(mean.shape(), &[2, 3, 20], "{}", p.display());
        }
    }
    let o = iaemu().args(args(&killed)).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(&format!("{} already there", finished)) || err.contains("already there"),
        "{err}"
    );
    let clean = dir.join("clean");
    let o = iaemu().args(args(&clean)).output().unwrap();
    assert!(o.status.success());
    assert_eq!(arrays(&killed), arrays(&clean));
}

#[test]
fn mpirun_runs_the_shards() {
    if Command::new("mpirun").arg("--version").output().is_err() {
        eprintln!("SKIPPED: mpirun is absent (apt-get install openmpi-bin; scripts/test.sh does)");
        return;
    }
    let dir = scratch("mpi");
    let h = halos_file();
    let out = dir.join("run");
    let o = Command::new("mpirun")
        .args(["-np", "2", "--oversubscribe"])
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .arg(env!("CARGO_BIN_EXE_iaemu"))
        .args([
            "generate",
            "--design",
            "paper",
            "--n",
            "24",
            "--realizations",
            "2",
            "--chunk",
            "3",
            "--seed",
            "4",
            "--halos",
            s(&h),
            "--threads",
            "1",
            "--shard",
            "auto",
            "--out",
            s(&out),
        ])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "mpirun: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let merged = dir.join("merged");
    let o = run(&[
        "merge",
        s(&out.join("shard-0-of-2")),
        s(&out.join("shard-1-of-2")),
        "--out",
        s(&merged),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let whole = dir.join("whole");
    assert!(generate(&whole, &[]).status.success());
    assert_eq!(arrays(&whole), arrays(&merged));
}

/// `--expected` stores each point's expected correlations: equal to the library's expectation
/// from a table of the same halos, the same in a sharded run merged, and the truth `evaluate`
/// can judge against.
#[test]
fn expected_correlations_are_stored_beside_the_means() {
    use iaemu::expect::{ExpectOptions, Table, TableOptions};
    let dir = scratch("expected");
    let (one, sharded) = (dir.join("one"), dir.join("sharded"));
    let o = generate(&one, &["--expected", "--edges", "0.5,1,2,4,8"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for k in 0..2 {
        let shard = format!("{k}/2");
        let o = generate(&sharded, &["--expected", "--edges", "0.5,1,2,4,8", "--shard", &shard]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let merged = dir.join("merged");
    let o = run(&["merge", s(&sharded.join("shard-0-of-2")), s(&sharded.join("shard-1-of-2")), "--out", s(&merged)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let data = iaemu::dataset::Data::load(&one).unwrap();
    let expected = data.expected.clone().expect("expected.npy");
    let other = iaemu::dataset::Data::load(&merged).unwrap().expected.expect("merged expected.npy");
    let halos = iaemu::halos::load(&halos_file(), &Default::default()).unwrap();
    let table = Table::build(&halos, &TableOptions { r_edges: vec![0.5, 1.0, 2.0, 4.0, 8.0], ..Default::default() }, None).unwrap();
    let mut checked = 0;
    for i in 0..data.len() {
        let p = iaemu::hod::HodParams::from_array(std::array::from_fn(|k| data.params[[i, k]])).unwrap();
        let Ok(e) = table.expect(&p, &ExpectOptions::default(), false) else {
            assert!(expected.slice(ndarray::s![i, .., ..]).iter().all(|v| v.is_nan()), "point {i}: refused, yet stored");
            continue;
        };
        for (row, v) in [&e.xi, &e.omega, &e.eta].into_iter().enumerate() {
            for b in 0..v.len() {
                let (a, c) = (expected[[i, row, b]], other[[i, row, b]]);
                assert!((a - v[b]).abs() <= 1e-9 * v[b].abs().max(1e-3), "point {i} row {row} bin {b}: stored {a}, library {}", v[b]);
                assert!((a - c).abs() <= 1e-9 * a.abs().max(1e-3), "point {i}: one run {a}, sharded {c}");
            }
        }
        checked += 1;
    }
    assert!(checked >= 20, "{checked} points checked");
    // As the truth of an evaluation; a dataset without it says how to get it.
    assert!(std::ptr::eq(data.truth(iaemu::dataset::Truth::Expected).unwrap(), data.expected.as_ref().unwrap()));
    assert!(std::ptr::eq(data.truth(iaemu::dataset::Truth::Mean).unwrap(), &data.mean));
    let plain = generate(&dir.join("plain"), &["--edges", "0.5,1,2,4,8"]);
    assert!(plain.status.success());
    let e = iaemu::dataset::Data::load(&dir.join("plain")).unwrap().truth(iaemu::dataset::Truth::Expected).unwrap_err().to_string();
    assert!(e.contains("--expected"), "{e}");
}

/// `--realizations-every k` simulates only every k-th point of the design: those points are
/// the same as in a run that simulates all, the others carry only their expected
/// correlations (valid where the expectation is, with its galaxy count), and `single.npy`
/// holds one of each simulated point's realisations. Without `--expected` it is refused.
#[test]
fn realisations_on_every_kth_point_and_expected_correlations_on_all() {
    let dir = scratch("every");
    let edges = ["--edges", "0.5,1,2,4,8"];
    let (all, every) = (dir.join("all"), dir.join("every3"));
    let o = generate(&all, &[&["--expected"][..], &edges].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = generate(&every, &[&["--expected", "--realizations-every", "3"][..], &edges].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (a, e) = (iaemu::dataset::Data::load(&all).unwrap(), iaemu::dataset::Data::load(&every).unwrap());
    let n_galaxies: ndarray::Array1<f64> =
        ndarray_npy::read_npy(every.join("n_galaxies.npy")).unwrap();
    let halos = iaemu::halos::load(&halos_file(), &Default::default()).unwrap();
    let table = iaemu::expect::Table::build(
        &halos,
        &iaemu::expect::TableOptions { r_edges: vec![0.5, 1.0, 2.0, 4.0, 8.0], ..Default::default() },
        None,
    )
    .unwrap();
    let (single_all, single) = (a.single.as_ref().expect("single.npy"), e.single.as_ref().expect("single.npy"));
    let (mut simulated, mut expected_only) = (0, 0);
    for i in 0..e.len() {
        let row = |x: &ndarray::Array3<f64>| x.slice(ndarray::s![i, .., ..]).to_owned();
        let bits = |x: ndarray::Array2<f64>| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(row(e.expected.as_ref().unwrap())), bits(row(a.expected.as_ref().unwrap())), "point {i}: expected");
        if i % 3 == 0 {
            assert_eq!(bits(row(&e.mean)), bits(row(&a.mean)), "point {i}: mean");
            assert_eq!(bits(row(&e.var)), bits(row(&a.var)), "point {i}: var");
            assert_eq!(bits(row(single)), bits(row(single_all)), "point {i}: single");
            assert_eq!(e.valid[i], a.valid[i]);
            if a.valid[i] == 1 {
                simulated += 1;
                // Two realisations y1, y2: mean (y1 + y2) / 2 and variance (y1 - y2)^2 / 2, so
                // the first lies sqrt(var / 2) from the mean.
                for ((y, m), v) in row(single).iter().zip(row(&e.mean).iter()).zip(row(&e.var).iter()) {
                    if v.is_finite() {
                        assert!(((y - m).abs() - (v / 2.0).sqrt()).abs() <= 1e-9 * (1.0 + m.abs()), "point {i}: single {y}, mean {m}, var {v}");
                    }
                }
            }
        } else {
            assert!(row(&e.mean).iter().chain(row(&e.var).iter()).chain(row(single).iter()).all(|v| v.is_nan()), "point {i}");
            let p = iaemu::hod::HodParams::from_array(std::array::from_fn(|k| e.params[[i, k]])).unwrap();
            match table.expect(&p, &Default::default(), false) {
                Ok(x) => {
                    expected_only += 1;
                    assert_eq!(e.valid[i], 1, "point {i}: expected correlations but not valid");
                    assert!((n_galaxies[i] - x.n_galaxies).abs() <= 1e-9 * x.n_galaxies, "point {i}: {} galaxies, expected {}", n_galaxies[i], x.n_galaxies);
                }
                Err(_) => assert_eq!(e.valid[i], 0, "point {i}: refused, yet valid"),
            }
        }
    }
    assert!(simulated >= 6 && expected_only >= 12, "{simulated} simulated, {expected_only} with expectations only");
    // Points without realisations carry nothing unless the expectations are stored.
    let (h, refused) = (halos_file(), dir.join("refused"));
    for (k, every) in [("2", "3"), ("0", "1")] {
        let o = run(&["generate", "--design", "paper", "--n", "6", "--realizations", k, "--realizations-every", every, "--halos", s(&h), "--out", s(&refused)]);
        assert!(!o.status.success());
        let msg = String::from_utf8_lossy(&o.stderr);
        assert!(msg.contains("--expected"), "{msg}");
    }
}
