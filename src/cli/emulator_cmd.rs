//! What the emulator commands (`train`, `predict`, `evaluate`) share; in a build without
//! LibTorch, the error they all return.

#[cfg(feature = "emulator")]
use super::args::EmulatorArgs;
#[cfg(feature = "emulator")]
use iaemu::emulator::{self, Emulator, PredictOptions, STATISTICS};
#[cfg(not(feature = "emulator"))]
use iaemu::Error;
use iaemu::Result;

#[cfg(feature = "emulator")]
pub fn open(a: &EmulatorArgs) -> Result<(Emulator, PredictOptions)> {
    let emu = Emulator::open(a.model.as_deref(), &a.device)?;
    let opts = PredictOptions {
        mc_passes: a.mc,
        seed: a.seed,
        allow_extrapolation: false,
        threads: a.threads,
    };
    Ok((emu, opts))
}

#[cfg(feature = "emulator")]
pub fn print_metrics(m: &emulator::Metrics) {
    println!(
        "{} curves with every bin measured, {} Monte Carlo passes",
        m.n_curves, m.mc_passes
    );
    println!(
        "{:>6}  {:>8}  {:>14}  {:>12}  {:>11}  {:>11}  {:>13}  {:>12}  {:>13}",
        "", "PCC", "|frac err| med", "mean", "cover 1sig", "cover 2sig", "epi < ale", "|err|/sd1 med", "ale/var1 med"
    );
    for (name, s) in STATISTICS.iter().zip(m.by_statistic()) {
        println!(
            "{name:>6}  {:>8.4}  {:>14.4}  {:>12.4}  {:>10.1}%  {:>10.1}%  {:>12.1}%  {:>13.3}  {:>13.3}",
            s.pcc_mean,
            s.frac_err_median,
            s.frac_err_mean,
            100.0 * s.coverage_1sigma,
            100.0 * s.coverage_2sigma,
            100.0 * s.epistemic_below_aleatoric,
            s.err_over_sd1_median,
            s.aleatoric_over_var1_median
        );
    }
    println!(
        "mean of var1 / aleatoric (1 when calibrated; unbiased by var1's noise): {}",
        m.by_statistic().map(|s| format!("{:.3}", s.var1_over_aleatoric_mean)).join(" / ")
    );
    if m.xi.single_coverage_1sigma.is_finite() {
        println!("single realisations within the predicted 1 / 2 sigma (total) and 1 sigma (aleatoric):");
        for (name, s) in STATISTICS.iter().zip(m.by_statistic()) {
            println!(
                "{name:>6}  {:>5.1}% / {:>5.1}%  {:>5.1}%",
                100.0 * s.single_coverage_1sigma,
                100.0 * s.single_coverage_2sigma,
                100.0 * s.single_coverage_aleatoric_1sigma
            );
        }
    }
}

/// The error of every emulator command in a build without LibTorch.
#[cfg(not(feature = "emulator"))]
pub fn unsupported() -> Result<()> {
    Err(Error::Unsupported(
        "this iaemu was built without the emulator (lite build): build with the default features"
            .into(),
    ))
}
