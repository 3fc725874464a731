//! The kernel variants (baseline, AVX2, AVX-512; picked at run time) give the same bits, for
//! correlations and for expected correlations, and `IAEMU_ISA` forces one or says why it
//! cannot. One test in its own binary: it changes the environment variable, which every
//! correlation and evaluation in the process reads.

mod common;

use iaemu::corr::{self, Correlation, CorrelationOptions, Isa, ISA_ENV};
use iaemu::expect::{ExpectOptions, Table, TableOptions};
use iaemu::halos::SyntheticUniverse;
use iaemu::hod::HodParams;
use iaemu::Error;

#[test]
fn every_instruction_set_gives_the_same_bits() {
    let isas: Vec<Isa> = Isa::ALL.into_iter().filter(|i| i.supported()).collect();
    eprintln!("comparing the variants this CPU runs: {:?}", isas);
    let per_weighting = 3 * isas.len();
    let l = [60.0; 3];
    let mut s = common::clustered(15_000, 60.0, 21);
    let mut runs: Vec<(String, Correlation)> = Vec::new();
    for weighted in [false, true] {
        s.w = weighted.then(|| common::random_weights(15_000, 22));
        let mut o = CorrelationOptions::cubic(60.0);
        o.box_size = l;
        o.jackknife = Some(2);
        for isa in &isas {
            std::env::set_var(ISA_ENV, isa.name());
            assert_eq!(Isa::selected().unwrap(), *isa);
            let auto = corr::correlate(&s.galaxies(), &o, None).unwrap();
            let cross = corr::cross_correlate(
                &s.galaxies(),
                &common::uniform(3000, l, 23).galaxies(),
                &o,
                None,
            )
            .unwrap();
            // Partners without orientations: omega alone.
            let mut plain = common::uniform(3000, l, 25);
            plain.ori = None;
            plain.w = weighted.then(|| common::random_weights(3000, 26));
            let cross_plain = corr::cross_correlate(&s.galaxies(), &plain.galaxies(), &o, None).unwrap();
            runs.push((format!("{} weighted={weighted} auto", isa.name()), auto));
            runs.push((format!("{} weighted={weighted} cross", isa.name()), cross));
            runs.push((format!("{} weighted={weighted} cross, partners unoriented", isa.name()), cross_plain));
        }
    }
    // Unknown names and instruction sets this CPU lacks are errors naming the choices.
    let small = common::clustered(200, 60.0, 24);
    let o = CorrelationOptions::cubic(60.0);
    std::env::set_var(ISA_ENV, "avx3");
    match corr::correlate(&small.galaxies(), &o, None) {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("IAEMU_ISA=avx3") && m.contains("baseline, avx2 or avx512"), "{m}"),
        r => panic!("IAEMU_ISA=avx3 accepted: {:?}", r.is_ok()),
    }
    if let Some(missing) = Isa::ALL.into_iter().find(|i| !i.supported()) {
        std::env::set_var(ISA_ENV, missing.name());
        match corr::correlate(&small.galaxies(), &o, None) {
            Err(Error::Unsupported(m)) => assert!(m.contains("does not run"), "{m}"),
            r => panic!("{} accepted on a CPU without it: {:?}", missing.name(), r.is_ok()),
        }
    }
    // Expected correlations: the 2-halo row kernels, one point and several at a time (an odd
    // count, so both meet), with and without the Jacobian.
    let halos = SyntheticUniverse { box_size: 60.0, grid: 16, seed: 9, ..Default::default() }.generate().unwrap();
    let topts = TableOptions { r_edges: vec![0.1, 0.3, 1.0, 3.0, 10.0], mass_bin_dex: 0.2, draws_per_mass_bin: 1 << 14, ..Default::default() };
    let table = Table::build(&halos, &topts, None).unwrap();
    let points: Vec<HodParams> = (0..5)
        .map(|k| HodParams::from_array([-0.9 + 0.4 * k as f64, 0.6 - 0.3 * k as f64, 11.6 + 0.1 * k as f64, 0.3, 11.5, 12.8, 1.0]).unwrap())
        .collect();
    let mut expected: Vec<(Isa, Vec<u64>)> = Vec::new();
    for isa in &isas {
        std::env::set_var(ISA_ENV, isa.name());
        let bits: Vec<u64> = [false, true]
            .into_iter()
            .flat_map(|jacobian| table.expect_batch(&points, &ExpectOptions::default(), jacobian, Some(1)).unwrap())
            .flat_map(|e| {
                let parts = [&e.parts.cen_cen_2h, &e.parts.cen_sat_1h, &e.parts.cen_sat_2h, &e.parts.sat_sat_1h, &e.parts.sat_sat_2h];
                let values: Vec<f64> = e.xi.iter().chain(&e.omega).chain(&e.eta).chain(parts.iter().flat_map(|p| p.xi.iter().chain(&p.omega).chain(&p.eta))).chain(e.jacobian.iter().flatten()).copied().collect();
                values
            })
            .map(f64::to_bits)
            .collect();
        expected.push((*isa, bits));
    }
    for (isa, bits) in &expected[1..] {
        assert!(bits == &expected[0].1, "expected correlations: {} differs from {}", isa.name(), expected[0].0.name());
    }
    std::env::set_var(ISA_ENV, "avx3");
    assert!(table.expect(&points[0], &ExpectOptions::default(), false).unwrap_err().to_string().contains("IAEMU_ISA=avx3"));
    std::env::remove_var(ISA_ENV);
    assert_eq!(Isa::selected().unwrap(), Isa::widest());
    // Runs come in groups of (isa x {auto, cross, cross unoriented}) per weighting: compare
    // across isa.
    for group in runs.chunks(per_weighting) {
        for kind in 0..3 {
            let first = &group[kind];
            for other in group.iter().skip(kind).step_by(3).skip(1) {
                assert_eq!(
                    common::result_bits(&other.1),
                    common::result_bits(&first.1),
                    "{} differs from {}",
                    other.0,
                    first.0
                );
            }
        }
    }
}
