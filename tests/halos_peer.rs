//! halotools 0.9.4 loads the HDF5 files iaemu writes (`CachedHaloCatalog(fname=...)`), and
//! reads the same values. Runs tests/peers/halotools_load.py in the peer environment
//! (`bash scripts/peer-venv.sh` makes `.venv-peers`; CI does); skipped with a message without it.

use std::path::{Path, PathBuf};
use std::process::Command;

use iaemu::halos::{self, Column, HaloCatalog, LoadOptions, SyntheticUniverse};

fn peer_python() -> Option<PathBuf> {
    let p = std::env::var_os("IAEMU_PEER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-peers/bin/python"));
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "SKIPPED: no peer Python at {} (run `bash scripts/peer-venv.sh`)",
            p.display()
        );
        None
    }
}

/// Writes `cat` to HDF5, loads it with halotools, and compares rows, metadata and every column
/// (the shape `halo_b_to_a`, `halo_c_to_a` included, with its NaN rows: unknown).
fn check_halotools_reads(cat: &HaloCatalog, name: &str) {
    let Some(python) = peer_python() else { return };
    let dir = std::env::temp_dir().join(format!("iaemu-peer-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.hdf5"));
    halos::save(cat, &file).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/halotools_load.py");
    // halotools keeps a cache log under $HOME: give it a private one.
    let out = Command::new(&python)
        .arg(&script)
        .arg(&file)
        .env("HOME", &dir)
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "halotools failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["halotools_version"], "0.9.4");
    assert_eq!(v["rows"].as_u64().unwrap() as usize, cat.len());
    let lbox: Vec<f64> = v["Lbox"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(lbox, cat.box_size().to_vec());
    assert_eq!(v["particle_mass"].as_f64().unwrap(), cat.particle_mass());
    assert!((v["redshift"].as_f64().unwrap() - cat.redshift()).abs() < 1e-4);
    assert_eq!(v["simname"], cat.meta().provenance.simname.as_str());
    for c in Column::ALL {
        let col = &v["columns"][c.name()];
        assert!(!col.is_null(), "halotools lacks {}", c.name());
        let ours: Vec<f64> = match c {
            Column::Id => cat.id().iter().map(|&x| x as f64).collect(),
            Column::Upid => cat.upid().iter().map(|&x| x as f64).collect(),
            Column::Hostid => cat.hostid().iter().map(|&x| x as f64).collect(),
            Column::Rs => cat
                .col(Column::Rvir)
                .iter()
                .zip(cat.col(Column::NfwConc))
                .map(|(r, k)| r / k)
                .collect(),
            _ => cat.col(c).to_vec(),
        };
        // NaN (an unknown shape) is counted apart; the sum is over the other values.
        let nan = ours.iter().filter(|x| x.is_nan()).count();
        assert_eq!(col["nan"].as_u64().unwrap() as usize, nan, "{}: NaN rows", c.name());
        let sum: f64 = ours.iter().filter(|x| !x.is_nan()).sum();
        let theirs = col["sum"].as_f64().unwrap();
        assert!(
            (sum - theirs).abs() <= 1e-9 * sum.abs().max(1.0),
            "{}: sum {sum} vs halotools {theirs}",
            c.name()
        );
        let first: Vec<Option<f64>> = col["first"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64())
            .collect();
        let ours_first: Vec<Option<f64>> =
            ours[..first.len()].iter().map(|&x| (!x.is_nan()).then_some(x)).collect();
        assert_eq!(first, ours_first, "{}", c.name());
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn halotools_loads_written_real_catalogue() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/halos/rockstar-25mpc/out_163.list");
    if !p.exists() {
        eprintln!("SKIPPED: {} is absent", p.display());
        return;
    }
    let cat = halos::load(&p, &LoadOptions::default()).unwrap();
    // The shape is the file's (0, not measured, is unknown: NaN), and halotools sees it.
    let b = cat.col(Column::BToA);
    assert!(b.iter().any(|x| x.is_nan()) && b.iter().filter(|x| !x.is_nan()).count() > 4000);
    check_halotools_reads(&cat, "rockstar");
}

#[test]
fn halotools_loads_written_synthetic_universe() {
    let universe = SyntheticUniverse {
        box_size: 60.0,
        grid: 32,
        seed: 5,
        ..Default::default()
    };
    check_halotools_reads(&universe.generate().unwrap(), "synthetic");
}
