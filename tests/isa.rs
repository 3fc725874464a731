//! The kernel variants (baseline, AVX2, AVX-512; picked at run time) give the same bits.
//! One test in its own binary: it changes the environment variable that caps the variant.

mod common;

use iaemu::corr::{self, Correlation, CorrelationOptions};

#[test]
fn every_instruction_set_gives_the_same_bits() {
    let l = [60.0; 3];
    let mut s = common::clustered(15_000, 60.0, 21);
    let mut runs: Vec<(String, Correlation)> = Vec::new();
    for weighted in [false, true] {
        s.w = weighted.then(|| common::random_weights(15_000, 22));
        let mut o = CorrelationOptions::cubic(60.0);
        o.box_size = l;
        o.jackknife = Some(2);
        for isa in ["baseline", "avx2", "avx512"] {
            std::env::set_var("IAEMU_ISA", isa);
            let auto = corr::correlate(&s.galaxies(), &o, None).unwrap();
            let cross = corr::cross_correlate(
                &s.galaxies(),
                &common::uniform(3000, l, 23).galaxies(),
                &o,
                None,
            )
            .unwrap();
            runs.push((format!("{isa} weighted={weighted} auto"), auto));
            runs.push((format!("{isa} weighted={weighted} cross"), cross));
        }
    }
    std::env::remove_var("IAEMU_ISA");
    // Runs come in groups of (isa x {auto, cross}) per weighting: compare across isa.
    for group in runs.chunks(6) {
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
