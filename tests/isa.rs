//! The kernel variants (baseline, AVX2, AVX-512; picked at run time) give the same bits, and
//! `IAEMU_ISA` forces one or says why it cannot. One test in its own binary: it changes the
//! environment variable, which every correlation in the process reads.

mod common;

use iaemu::corr::{self, Correlation, CorrelationOptions, Isa, ISA_ENV};
use iaemu::Error;

#[test]
fn every_instruction_set_gives_the_same_bits() {
    let isas: Vec<Isa> = Isa::ALL.into_iter().filter(|i| i.supported()).collect();
    eprintln!("comparing the variants this CPU runs: {:?}", isas);
    let per_weighting = 2 * isas.len();
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
            runs.push((format!("{} weighted={weighted} auto", isa.name()), auto));
            runs.push((format!("{} weighted={weighted} cross", isa.name()), cross));
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
    std::env::remove_var(ISA_ENV);
    assert_eq!(Isa::selected().unwrap(), Isa::widest());
    // Runs come in groups of (isa x {auto, cross}) per weighting: compare across isa.
    for group in runs.chunks(per_weighting) {
        for kind in 0..2 {
            let first = &group[kind];
            for other in group.iter().skip(kind).step_by(2).skip(1) {
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
