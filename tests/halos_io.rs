//! Halo catalogue readers and writers: the real files in `../shared/data/halos` (skipped with a
//! message when that folder is absent), round trips, validation, and damaged files.

mod common;

use std::path::{Path, PathBuf};

use iaemu::halos::{self, CatalogMeta, Column, HaloCatalog, LoadOptions, Provenance, RawHalos};
use iaemu::Error;

fn shared(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/halos")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "SKIPPED: {} is absent (the shared data folder is only beside CI checkouts)",
            p.display()
        );
        None
    }
}

fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("iaemu-test-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rockstar() -> Option<HaloCatalog> {
    let p = shared("rockstar-25mpc/out_163.list")?;
    Some(halos::load(&p, &LoadOptions::default()).unwrap())
}

/// Row `i` of the catalogue whose id is `id`.
fn row(cat: &HaloCatalog, id: i64) -> usize {
    cat.id().iter().position(|&v| v == id).unwrap()
}

#[test]
fn rockstar_ascii_rows_units_and_values() {
    let Some(cat) = rockstar() else { return };
    assert_eq!(cat.report().rows_read, 4764);
    assert_eq!(cat.len() + cat.report().dropped_orphans, 4764);
    assert_eq!(cat.box_size(), [25.0; 3]);
    assert_eq!(cat.particle_mass(), 6.36846e8);
    assert_eq!(cat.redshift(), 0.0);
    // First data row of out_163.list, read by hand:
    // ID 0, Mvir 1.2482e+11, Rvir 101.650 kpc/h, Rs 7.221 kpc/h, X Y Z 3.14842 4.08677 1.44239,
    // VX -194.94, A[x] A[y] A[z] -5.73602 7.64807 10.29776.
    let i = row(&cat, 0);
    assert_eq!(cat.col(Column::Mvir)[i], 1.2482e11);
    assert!((cat.col(Column::Rvir)[i] - 0.101650).abs() < 1e-12);
    assert!((cat.col(Column::NfwConc)[i] - 101.650 / 7.221).abs() < 1e-9);
    assert_eq!(
        [
            cat.col(Column::X)[i],
            cat.col(Column::Y)[i],
            cat.col(Column::Z)[i]
        ],
        [3.14842, 4.08677, 1.44239]
    );
    assert_eq!(cat.col(Column::Vx)[i], -194.94);
    assert_eq!(cat.col(Column::AxisAX)[i], -5.73602);
    assert_eq!(cat.col(Column::AxisAZ)[i], 10.29776);
    // No upid column: hosts derived, and the rule says so.
    assert!(cat
        .report()
        .derived
        .iter()
        .any(|d| d.starts_with("halo_upid")));
    // Halo 0 is a host; every subhalo points at a heavier host whose rvir holds its centre.
    assert_eq!(cat.upid()[i], -1);
    for k in 0..cat.len() {
        if cat.upid()[k] == -1 {
            assert_eq!(cat.hostid()[k], cat.id()[k]);
            assert_eq!(cat.col(Column::MvirHostHalo)[k], cat.col(Column::Mvir)[k]);
        } else {
            let h = row(&cat, cat.upid()[k]);
            assert_eq!(cat.upid()[h], -1);
            assert!(cat.col(Column::Mvir)[h] >= cat.col(Column::Mvir)[k]);
            assert_eq!(cat.col(Column::MvirHostHalo)[k], cat.col(Column::Mvir)[h]);
        }
    }
}

#[test]
fn rockstar_hosts_agree_with_halotools_conversion() {
    // The HDF5 beside the Rockstar file was written by halotools with a derived upid; the same
    // rule must find the same hosts.
    let Some(ascii) = rockstar() else { return };
    let Some(p) = shared("rockstar-25mpc/out_163.halotools.hdf5") else {
        return;
    };
    let h5 = halos::load(&p, &LoadOptions::default()).unwrap();
    assert_eq!(h5.report().rows_read, 4764);
    assert_eq!(h5.n_hosts(), 4138);
    assert_eq!(ascii.n_hosts(), h5.n_hosts());
    assert_eq!(ascii.len(), h5.len());
    for k in 0..h5.len() {
        let a = row(&ascii, h5.id()[k]);
        assert_eq!(ascii.upid()[a], h5.upid()[k], "upid of halo {}", h5.id()[k]);
        for c in [
            Column::Mvir,
            Column::Rvir,
            Column::X,
            Column::Y,
            Column::Z,
            Column::Vz,
            Column::AxisAY,
        ] {
            assert_eq!(
                ascii.col(c)[a],
                h5.col(c)[k],
                "{} of halo {}",
                c.name(),
                h5.id()[k]
            );
        }
        for c in [Column::BToA, Column::CToA] {
            assert_eq!(
                ascii.col(c)[a].to_bits(),
                h5.col(c)[k].to_bits(),
                "{} of halo {}: {} vs {}",
                c.name(),
                h5.id()[k],
                ascii.col(c)[a],
                h5.col(c)[k]
            );
        }
        let (ca, ch) = (ascii.col(Column::NfwConc)[a], h5.col(Column::NfwConc)[k]);
        assert!((ca - ch).abs() < 1e-9 * ch, "conc of halo {}", h5.id()[k]);
    }
}

#[test]
fn halotools_hdf5_attributes() {
    let Some(p) = shared("rockstar-25mpc/out_163.halotools.hdf5") else {
        return;
    };
    let cat = halos::load(&p, &LoadOptions::default()).unwrap();
    assert_eq!(cat.box_size(), [25.0; 3]);
    assert_eq!(cat.particle_mass(), 6.36846e8);
    assert_eq!(cat.redshift(), 0.0);
    let prov = &cat.meta().provenance;
    assert_eq!(prov.simname, "rennehan_25mpc");
    assert_eq!(prov.halo_finder, "rockstar");
    assert_eq!(prov.version_name, "hdm_test_v0");
    // No mpeak and no hostid in that file: derived.
    assert_eq!(cat.col(Column::Mpeak), cat.col(Column::Mvir));
    assert!(cat
        .report()
        .derived
        .iter()
        .any(|d| d.starts_with("halo_hostid")));
}

#[test]
fn hlist_fragment() {
    let Some(p) = shared("halotools-hlist-dummy/dummy_halocat_0.07812.list") else {
        return;
    };
    // No particle mass in its comment lines: the caller must give one.
    let err = halos::load(&p, &LoadOptions::default()).unwrap_err();
    assert!(
        matches!(err, Error::InvalidArgument(_)) && err.to_string().contains("particle mass"),
        "{err}"
    );
    let opts = LoadOptions {
        particle_mass: Some(1.55e8),
        ..Default::default()
    };
    let cat = halos::load(&p, &opts).unwrap();
    assert_eq!(cat.report().rows_read, 436);
    assert_eq!(cat.box_size(), [250.0; 3]);
    assert!((cat.redshift() - (1.0 / 0.07812 - 1.0)).abs() < 1e-9);
    // The upid column is used as it is: no derivation.
    assert!(!cat
        .report()
        .derived
        .iter()
        .any(|d| d.starts_with("halo_upid")));
    // The first row, read by hand from the file.
    let text = std::fs::read_to_string(&p).unwrap();
    let first: Vec<&str> = text
        .lines()
        .find(|l| !l.starts_with('#'))
        .unwrap()
        .split_whitespace()
        .collect();
    let id: i64 = first[1].parse().unwrap();
    let i = row(&cat, id);
    let num = |k: usize| first[k].parse::<f64>().unwrap();
    assert_eq!(cat.upid()[i], first[6].parse::<i64>().unwrap());
    assert_eq!(cat.col(Column::Mvir)[i], num(10));
    assert!((cat.col(Column::Rvir)[i] - num(11) / 1000.0).abs() < 1e-12);
    assert_eq!(cat.col(Column::X)[i], num(17));
    assert_eq!(cat.col(Column::Mpeak)[i], num(60));
    assert_eq!(cat.col(Column::AxisAZ)[i], num(50));
    // Shapes: `b_to_a(46)`, `c_to_a(47)`, not `b_to_a(500c)(51)`; the first row holds 0 (not
    // measured), read as NaN; every row as the file has it, 0 as NaN.
    assert!(num(46) == 0.0 && cat.col(Column::BToA)[i].is_nan());
    let mut shaped = 0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let v: Vec<&str> = line.split_whitespace().collect();
        let k = row(&cat, v[1].parse().unwrap());
        for (c, field) in [(Column::BToA, 46), (Column::CToA, 47)] {
            let x: f64 = v[field].parse().unwrap();
            let want = if x == 0.0 { f64::NAN } else { x };
            assert_eq!(cat.col(c)[k].to_bits(), want.to_bits(), "{} of halo {}", c.name(), v[1]);
        }
        shaped += (v[47].parse::<f64>().unwrap() > 0.0) as usize;
    }
    assert!(shaped > 300, "{shaped} rows with a measured c/a");
    let n_hosts = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split_whitespace().nth(6) == Some("-1"))
        .count();
    assert_eq!(cat.n_hosts(), n_hosts);
}

/// A small catalogue built in code: three hosts, two subhalos.
fn small() -> (RawHalos, CatalogMeta) {
    let mut raw = RawHalos::new();
    raw.set_ints(Column::Id, vec![10, 11, 12, 20, 21]).unwrap();
    raw.set_ints(Column::Upid, vec![-1, -1, -1, 10, 11])
        .unwrap();
    raw.set_floats(Column::Mvir, vec![1e13, 1e12, 1e11, 1e11, 5e10])
        .unwrap();
    raw.set_floats(Column::Rvir, vec![0.5, 0.25, 0.1, 0.05, 0.04])
        .unwrap();
    raw.set_floats(Column::Rs, vec![0.1, 0.05, 0.01, 0.01, 0.01])
        .unwrap();
    raw.set_floats(Column::X, vec![1.0, 50.0, 99.5, 1.1, 50.1])
        .unwrap();
    raw.set_floats(Column::Y, vec![1.0, 50.0, 20.0, 1.0, 50.0])
        .unwrap();
    raw.set_floats(Column::Z, vec![1.0, 50.0, 30.0, 1.0, 50.0])
        .unwrap();
    raw.set_floats(Column::AxisAX, vec![1.0, 0.0, 0.0, 0.0, 1.0])
        .unwrap();
    raw.set_floats(Column::AxisAY, vec![0.0, 0.0, 1.0, 1.0, 0.0])
        .unwrap();
    raw.set_floats(Column::AxisAZ, vec![0.0, 0.0, 0.0, 0.0, 0.0])
        .unwrap();
    let meta = CatalogMeta {
        box_size: [100.0; 3],
        particle_mass: 1e8,
        redshift: 0.5,
        provenance: Provenance {
            simname: "unit".into(),
            halo_finder: "hand".into(),
            ..Default::default()
        },
    };
    (raw, meta)
}

#[test]
fn derived_columns_and_zero_axis_hosts() {
    let (raw, meta) = small();
    let cat = HaloCatalog::from_raw(raw, meta).unwrap();
    assert_eq!(cat.hostid(), &[10, 11, 12, 10, 11]);
    assert_eq!(
        cat.col(Column::MvirHostHalo),
        &[1e13, 1e12, 1e11, 1e13, 1e12]
    );
    assert_eq!(cat.col(Column::NfwConc)[0], 5.0);
    // Host 11 has an all-zero axis: reported, and not offered for a central.
    assert_eq!(cat.report().zero_axis_hosts, 1);
    assert_eq!(cat.central_hosts(300.0), vec![0, 2]);
    assert_eq!(cat.central_hosts(5000.0), vec![0]); // mvir > 5000 * 1e8 = 5e11
}

#[test]
fn inconsistent_hostid_is_replaced_not_trusted() {
    let (mut raw, meta) = small();
    // A host whose hostid names another halo, and a subhalo whose hostid is not its upid.
    raw.set_ints(Column::Hostid, vec![10, 12, 12, 11, 11])
        .unwrap();
    let cat = HaloCatalog::from_raw(raw, meta).unwrap();
    assert_eq!(cat.hostid(), &[10, 11, 12, 10, 11]);
    assert!(
        cat.report()
            .derived
            .iter()
            .any(|d| d.contains("replaced on 2 rows")),
        "{:?}",
        cat.report().derived
    );
}

#[test]
fn orphans_dropped_positions_wrapped() {
    let (mut raw, meta) = small();
    raw.set_ints(Column::Upid, vec![-1, -1, -1, 10, 99])
        .unwrap();
    raw.set_floats(Column::X, vec![101.0, -1.0, 99.5, 1.1, 50.1])
        .unwrap();
    let cat = HaloCatalog::from_raw(raw, meta).unwrap();
    assert_eq!(cat.report().dropped_orphans, 1);
    assert_eq!(cat.id(), &[10, 11, 12, 20]);
    assert_eq!(cat.report().wrapped_positions, 2);
    assert!(
        (cat.col(Column::X)[0] - 1.0).abs() < 1e-12 && (cat.col(Column::X)[1] - 99.0).abs() < 1e-12
    );
}

/// The host mass is derived after the orphans are dropped: an orphan ahead of the hosts moves
/// every host up a row, and each row must still find its own host's mass.
#[test]
fn host_mass_after_an_orphan_ahead_of_the_hosts() {
    let (mut raw, meta) = small();
    raw.set_ints(Column::Upid, vec![99, -1, -1, -1, 11]).unwrap();
    let cat = HaloCatalog::from_raw(raw, meta).unwrap();
    assert_eq!(cat.report().dropped_orphans, 1);
    assert_eq!(cat.id(), &[11, 12, 20, 21]);
    assert_eq!(cat.col(Column::MvirHostHalo), &[1e12, 1e11, 1e11, 1e12]);
}

#[test]
fn validation_names_the_problem() {
    let mut raw = RawHalos::new();
    raw.set_ints(Column::Id, vec![1]).unwrap();
    raw.set_floats(Column::X, vec![1.0]).unwrap();
    let err = HaloCatalog::from_raw(raw, small().1)
        .unwrap_err()
        .to_string();
    for name in [
        "halo_mvir",
        "halo_rvir",
        "halo_y",
        "halo_z",
        "halo_axisA_x",
        "halo_axisA_z",
        "halo_nfw_conc (or halo_rs)",
    ] {
        assert!(err.contains(name), "{err} lacks {name}");
    }
    assert!(
        !err.contains("halo_x,") && !err.contains("halo_id"),
        "{err}"
    );

    let (mut raw, meta) = small();
    raw.set_ints(Column::Id, vec![10, 11, 12, 11, 21]).unwrap();
    let err = HaloCatalog::from_raw(raw, meta.clone())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("duplicate halo_id 11 at rows 1 and 3"),
        "{err}"
    );

    let (mut raw, _) = small();
    raw.set_floats(Column::Mvir, vec![1e13, f64::NAN, 1e11, 1e11, 5e10])
        .unwrap();
    let err = HaloCatalog::from_raw(raw, meta.clone())
        .unwrap_err()
        .to_string();
    assert!(err.contains("halo_mvir") && err.contains("row 1"), "{err}");

    let (mut raw, _) = small();
    raw.set_floats(Column::Z, vec![1.0, 2.0]).unwrap();
    let err = HaloCatalog::from_raw(raw, meta.clone())
        .unwrap_err()
        .to_string();
    assert!(err.contains("halo_z") && err.contains("length"), "{err}");

    let (raw, _) = small();
    let err = HaloCatalog::from_raw(
        raw,
        CatalogMeta {
            particle_mass: -1.0,
            ..meta
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("particle mass"), "{err}");
}

fn assert_same(a: &HaloCatalog, b: &HaloCatalog) {
    assert_eq!(a.id(), b.id());
    assert_eq!(a.upid(), b.upid());
    assert_eq!(a.hostid(), b.hostid());
    for c in Column::ALL
        .into_iter()
        .filter(|c| !c.is_integer() && *c != Column::Rs)
    {
        let (x, y) = (a.col(c), b.col(c));
        for k in 0..x.len() {
            assert!(
                (x[k] - y[k]).abs() <= 1e-12 * x[k].abs() || (x[k].is_nan() && y[k].is_nan()),
                "{} row {k}: {} vs {}",
                c.name(),
                x[k],
                y[k]
            );
        }
    }
    assert_eq!(a.box_size(), b.box_size());
    assert_eq!(a.particle_mass(), b.particle_mass());
}

#[test]
fn round_trips_hdf5_and_npz() {
    let (raw, meta) = small();
    let cat = HaloCatalog::from_raw(raw, meta).unwrap();
    let dir = tmp_dir("roundtrip");
    let h5 = dir.join("small.hdf5");
    halos::save(&cat, &h5).unwrap();
    let back = halos::load(&h5, &LoadOptions::default()).unwrap();
    assert_same(&cat, &back);
    assert_eq!(back.redshift(), 0.5);
    assert_eq!(back.meta().provenance.simname, "unit");
    assert_eq!(back.meta().provenance.halo_finder, "hand");
    assert!(
        back.report().derived.is_empty(),
        "{:?}",
        back.report().derived
    );
    let npz = dir.join("small.npz");
    halos::save(&cat, &npz).unwrap();
    assert_same(&cat, &halos::load(&npz, &LoadOptions::default()).unwrap());
    assert!(halos::save(&cat, &dir.join("small.csv")).is_err());
    // No temporary files left behind.
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn real_file_round_trip() {
    let Some(cat) = rockstar() else { return };
    let dir = tmp_dir("realtrip");
    let p = dir.join("rockstar.hdf5");
    halos::save(&cat, &p).unwrap();
    assert_same(&cat, &halos::load(&p, &LoadOptions::default()).unwrap());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn damaged_files_are_errors() {
    let (raw, meta) = small();
    let cat = HaloCatalog::from_raw(raw, meta).unwrap();
    let dir = tmp_dir("damaged");
    let h5 = dir.join("good.hdf5");
    halos::save(&cat, &h5).unwrap();
    let npz = dir.join("good.npz");
    halos::save(&cat, &npz).unwrap();
    let bytes = std::fs::read(&h5).unwrap();
    let npz_bytes = std::fs::read(&npz).unwrap();
    let ascii = "#ID UPID Mvir Rvir Rs X Y Z A[x] A[y] A[z]\n#Box size: 10 Mpc/h\n#Particle mass: 1e8 Msun/h\n#a = 1.0\n\
                 1 -1 1e12 200 20 1 1 1 1 0 0\n2 -1 2e12 250 25 5 5 5 0 1 0\n";
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty.hdf5", vec![]),
        ("empty.list", vec![]),
        ("truncated.hdf5", bytes[..bytes.len() / 2].to_vec()),
        ("header-only.hdf5", bytes[..600].to_vec()),
        (
            "garbage.hdf5",
            b"\x89HDF\r\n\x1a\nnot really hdf5 at all".to_vec(),
        ),
        ("truncated.npz", npz_bytes[..npz_bytes.len() / 2].to_vec()),
        (
            "truncated.list",
            ascii.as_bytes()[..ascii.len() - 5].to_vec(),
        ),
        ("badnumber.list", ascii.replace("2e12", "2e1x").into_bytes()),
        ("noheader.list", b"1 -1 1e12\n".to_vec()),
        ("binary.dat", vec![0u8, 1, 2, 3]),
    ];
    for (name, data) in cases {
        let p = dir.join(name);
        std::fs::write(&p, data).unwrap();
        let err = halos::load(&p, &LoadOptions::default()).expect_err(name);
        assert!(
            matches!(err, Error::Io(_) | Error::InvalidArgument(_)),
            "{name}: {err}"
        );
        assert!(!err.to_string().is_empty());
    }
    // The intact ASCII text reads.
    let p = dir.join("ok.list");
    std::fs::write(&p, ascii).unwrap();
    let ok = halos::load(&p, &LoadOptions::default()).unwrap();
    assert_eq!(ok.len(), 2);
    assert!(halos::load(&dir.join("missing.hdf5"), &LoadOptions::default()).is_err());
    std::fs::remove_dir_all(dir).unwrap();
}

/// A halotools HDF5 file without its box size is refused as an ASCII or .npz file is: an
/// invalid argument that names the load option to give, and read once the option is given.
#[test]
fn hdf5_without_lbox_names_the_load_option() {
    let dir = std::env::temp_dir().join(format!("iaemu-lbox-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("no-lbox.hdf5");
    let h = iaemu::halos::SyntheticUniverse { box_size: 40.0, grid: 16, ..Default::default() }.generate().unwrap();
    iaemu::halos::save(&h, &path).unwrap();
    hdf5_metno::File::open_rw(&path).unwrap().delete_attr("Lbox").unwrap();
    let e = iaemu::halos::load(&path, &Default::default()).unwrap_err();
    assert!(matches!(e, iaemu::Error::InvalidArgument(_)), "{e:?}");
    assert!(e.to_string().contains("Lbox") && e.to_string().contains("load options (box_size)"), "{e}");
    let opts = iaemu::halos::LoadOptions { box_size: Some(40.0), ..Default::default() };
    assert_eq!(iaemu::halos::load(&path, &opts).unwrap().box_size(), [40.0; 3]);
    std::fs::remove_dir_all(&dir).ok();
}

/// `(halo_b_to_a, halo_c_to_a)` of every data row of a Rockstar or hlist text file, by id, as
/// the catalogue should hold them: the file's `b_to_a`, `c_to_a` fields (`b`, `c`), 0 as NaN.
fn shapes_by_hand(text: &str, id: usize, b: usize, c: usize) -> Vec<(i64, [f64; 2])> {
    let unknown = |x: f64| if x == 0.0 { f64::NAN } else { x };
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let v: Vec<&str> = l.split_whitespace().collect();
            let num = |k: usize| unknown(v[k].parse::<f64>().unwrap());
            (v[id].parse().unwrap(), [num(b), num(c)])
        })
        .collect()
}

/// The shape columns of `a` and `b` hold the same bits on every row.
fn assert_same_shapes(a: &HaloCatalog, b: &HaloCatalog, what: &str) {
    assert_eq!(a.id(), b.id(), "{what}");
    for c in [Column::BToA, Column::CToA] {
        let bits = |h: &HaloCatalog| h.col(c).iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(a), bits(b), "{what}: {}", c.name());
    }
}

#[test]
fn rockstar_ascii_shapes_are_the_files() {
    let Some(cat) = rockstar() else { return };
    let text = std::fs::read_to_string(shared("rockstar-25mpc/out_163.list").unwrap()).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap()[1..].split_whitespace().collect();
    let field = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (b, c) = (field("b_to_a"), field("c_to_a"));
    // The 500c shape is another column, with other values.
    assert_eq!((field("b_to_a(500c)"), field("c_to_a(500c)")), (b + 5, c + 5));
    // First row, by hand: b_to_a 0.73602, c_to_a 0.67099 (500c: 0.65848, 0.59226).
    let i = row(&cat, 0);
    assert_eq!([cat.col(Column::BToA)[i], cat.col(Column::CToA)[i]], [0.73602, 0.67099]);
    let mut zeros = [0, 0];
    for (id, want) in shapes_by_hand(&text, 0, b, c) {
        let Some(k) = cat.id().iter().position(|&v| v == id) else {
            continue; // an orphan, dropped
        };
        for (j, col) in [Column::BToA, Column::CToA].into_iter().enumerate() {
            assert_eq!(
                cat.col(col)[k].to_bits(),
                want[j].to_bits(),
                "{} of halo {id}: {} vs the file's {}",
                col.name(),
                cat.col(col)[k],
                want[j]
            );
            zeros[j] += want[j].is_nan() as usize;
        }
    }
    // 0 in the file (shape not measured: at most 323 particles here) is unknown, and reported.
    assert!(zeros[0] > 0 && zeros[1] > zeros[0], "{zeros:?}");
    let derived = &cat.report().derived;
    assert!(
        derived.iter().any(|d| d.starts_with("halo_c_to_a = NaN (unknown) on 144 rows")),
        "{derived:?}"
    );
    // Every measured shape is ordered and in (0, 1].
    let (bs, cs) = (cat.col(Column::BToA), cat.col(Column::CToA));
    for k in (0..cat.len()).filter(|&k| !cs[k].is_nan()) {
        assert!(0.0 < cs[k] && cs[k] <= bs[k] && bs[k] <= 1.0, "row {k}");
    }
}

#[test]
fn shapes_survive_every_writer_bit_for_bit() {
    // The small catalogue with shapes: one row unknown (NaN) and one 0 (read as NaN).
    let (mut raw, meta) = small();
    let b = vec![0.9, 1.0, 0.123456789012345, f64::NAN, 0.0];
    let c = vec![0.5, 1.0, 0.1, 0.3, 0.0];
    raw.set_floats(Column::BToA, b).unwrap();
    raw.set_floats(Column::CToA, c).unwrap();
    let small = HaloCatalog::from_raw(raw, meta).unwrap();
    assert_eq!(&small.col(Column::BToA)[..3], &[0.9, 1.0, 0.123456789012345]);
    assert!(small.col(Column::BToA)[3].is_nan() && small.col(Column::BToA)[4].is_nan());
    assert_eq!(small.col(Column::CToA)[3], 0.3);
    let mut cats = vec![("small", small)];
    if let Some(r) = rockstar() {
        cats.push(("rockstar", r));
    }
    let dir = tmp_dir("shapes");
    for (name, cat) in &cats {
        for ext in ["hdf5", "npz"] {
            let p = dir.join(format!("{name}.{ext}"));
            halos::save(cat, &p).unwrap();
            let back = halos::load(&p, &LoadOptions::default()).unwrap();
            assert_same_shapes(cat, &back, &format!("{name}.{ext}"));
            // NaN written is read back as unknown, with nothing to report.
            assert!(back.report().derived.is_empty(), "{:?}", back.report().derived);
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn files_without_shapes_read_as_unknown() {
    let (raw, meta) = small();
    let cat = HaloCatalog::from_raw(raw, meta).unwrap();
    for c in [Column::BToA, Column::CToA] {
        assert!(cat.col(c).iter().all(|v| v.is_nan()), "{}", c.name());
    }
    assert!(
        cat.report().derived.iter().any(|d| d == "halo_b_to_a, halo_c_to_a = NaN (absent from the input: shape unknown)"),
        "{:?}",
        cat.report().derived
    );
    // A text file without the columns, and an .npz and an HDF5 file written without them.
    let dir = tmp_dir("noshapes");
    let p = dir.join("plain.list");
    std::fs::write(
        &p,
        common::ROCKSTAR_WITHOUT_SHAPES,
    )
    .unwrap();
    let ascii = halos::load(&p, &LoadOptions::default()).unwrap();
    assert!(ascii.col(Column::BToA).iter().chain(ascii.col(Column::CToA)).all(|v| v.is_nan()));
    let npz = dir.join("plain.npz");
    {
        let mut w = ndarray_npy::NpzWriter::new(std::fs::File::create(&npz).unwrap());
        w.add_array("halo_id", &ndarray::arr1(&[1i64, 2])).unwrap();
        for (name, v) in [
            ("halo_mvir", [1e12, 2e12]),
            ("halo_rvir", [0.2, 0.25]),
            ("halo_nfw_conc", [10.0, 10.0]),
            ("halo_x", [1.0, 5.0]),
            ("halo_y", [1.0, 5.0]),
            ("halo_z", [1.0, 5.0]),
            ("halo_axisA_x", [1.0, 0.0]),
            ("halo_axisA_y", [0.0, 1.0]),
            ("halo_axisA_z", [0.0, 0.0]),
        ] {
            w.add_array(name, &ndarray::arr1(&v)).unwrap();
        }
        w.add_array("Lbox", &ndarray::arr1(&[10.0])).unwrap();
        w.add_array("particle_mass", &ndarray::arr0(1e8)).unwrap();
        w.add_array("redshift", &ndarray::arr0(0.0)).unwrap();
        w.finish().unwrap();
    }
    let from_npz = halos::load(&npz, &LoadOptions::default()).unwrap();
    assert!(from_npz.col(Column::BToA).iter().chain(from_npz.col(Column::CToA)).all(|v| v.is_nan()));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn shapes_out_of_range_are_refused_naming_the_column() {
    let dir = tmp_dir("badshapes");
    let text = |b: &str, c: &str| {
        format!(
            "#ID Mvir Rvir Rs X Y Z b_to_a c_to_a A[x] A[y] A[z] b_to_a(500c) c_to_a(500c)\n\
             #Box size: 10 Mpc/h\n#Particle mass: 1e8 Msun/h\n#a = 1.0\n\
             1 1e12 200 20 1 1 1 0.8 0.6 1 0 0 0.7 0.5\n\
             2 2e12 250 25 5 5 5 {b} {c} 0 1 0 0.7 0.5\n\
             3 3e12 250 25 8 8 8 0.9 0.7 0 1 0 0.7 0.5\n"
        )
    };
    let load = |b: &str, c: &str| {
        let p = dir.join("shape.list");
        std::fs::write(&p, text(b, c)).unwrap();
        halos::load(&p, &LoadOptions::default())
    };
    for (b, c, column, holds) in [
        ("1.5", "0.5", "halo_b_to_a", "row 1 holds 1.5 (1 such rows)"),
        ("0.5", "-0.1", "halo_c_to_a", "row 1 holds -0.1 (1 such rows)"),
        ("inf", "0.5", "halo_b_to_a", "row 1 holds inf"),
        ("0.5", "0.6", "halo_c_to_a must not exceed halo_b_to_a", "row 1 holds c/a = 0.6 and b/a = 0.5"),
    ] {
        let err = load(b, c).expect_err(&format!("b/a {b}, c/a {c}"));
        let msg = err.to_string();
        assert!(matches!(err, Error::Io(_)), "{msg}");
        assert!(msg.contains(&format!("column {column}")) && msg.contains(holds), "{msg}");
    }
    // Accepted: rounding (c/a above b/a by less than 1e-6), b/a = 1, 0 (not measured) and NaN.
    let ok = load("0.7", "0.7000004").unwrap();
    assert_eq!([ok.col(Column::BToA)[1], ok.col(Column::CToA)[1]], [0.7, 0.7000004]);
    let ok = load("1.0", "1.0").unwrap();
    assert_eq!(ok.col(Column::CToA)[1], 1.0);
    let ok = load("0", "0").unwrap();
    assert!(ok.col(Column::BToA)[1].is_nan() && ok.col(Column::CToA)[1].is_nan());
    assert_eq!(ok.col(Column::BToA)[0], 0.8); // not the 500c column
    let ok = load("nan", "0.4").unwrap();
    assert!(ok.col(Column::BToA)[1].is_nan() && ok.col(Column::CToA)[1] == 0.4);
    // Built in code too.
    let (mut raw, meta) = small();
    raw.set_floats(Column::BToA, vec![0.9, 0.9, 1.5, 0.9, 2.0]).unwrap();
    let err = HaloCatalog::from_raw(raw, meta).unwrap_err().to_string();
    assert!(err.contains("halo_b_to_a") && err.contains("row 2 holds 1.5 (2 such rows)"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
