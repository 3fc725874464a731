//! iaemu: galaxy intrinsic-alignment statistics, simulation and emulation.
//!
//! Modules follow what the science is:
//! - [`corr`]: the correlation engine (xi, omega, eta) of galaxy samples;
//! - [`cosmology`]: linear theory for the synthetic universe (P(k), sigma(M), mass function, bias);
//! - [`dataset`]: designs of model points and training datasets at scale (`generate`, `merge`);
//! - [`halos`]: halo catalogues: readers, the halotools HDF5 writer, the synthetic universe;
//! - [`hod`]: galaxies in halos (Zheng07 occupation, Watson alignments) and `simulate`;
//! - [`mock`]: a toy clustered, aligned galaxy catalogue for tests and trying `correlate`;
//! - [`plot`]: PNG plots of simulated and predicted curves and of evaluations;
//! - [`io`]: galaxy catalogue files (NumPy `.npy`, CSV);
//! - [`threads`]: the thread count of parallel work; [`shard`]: work shared among processes;
//! - [`memory`]: the memory budget of a call;
//! - `emulator` (feature `emulator`): the neural-network emulator in LibTorch through `tch`:
//!   training, Monte Carlo dropout prediction, the Jacobian, model files, metrics;
//! - [`ffi`]: the C ABI, which only checks and converts arguments and calls the above.
//!
//! Units: comoving Mpc/h for lengths, Msun/h for masses.

pub mod corr;
pub mod cosmology;
pub mod dataset;
#[cfg(feature = "emulator")]
pub mod emulator;
pub mod error;
pub mod expect;
pub mod ffi;
mod fft;
pub mod halos;
pub mod hod;
pub mod io;
pub mod memory;
pub mod mock;
pub mod plot;
mod random;
pub mod shard;
mod stats;
pub mod threads;

pub use error::{Error, Result};

#[cfg(feature = "emulator")]
thread_local! {
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, catching a panic without the panic hook's report on stderr (for LibTorch, whose
/// errors arrive as panics in `tch` carrying a C++ backtrace, turned into errors by the
/// caller). The first call wraps the process's panic hook: it stays silent only on a thread
/// inside this function, and reports every other panic as before.
#[cfg(feature = "emulator")]
pub(crate) fn quiet_panics<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                previous(info)
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    r
}

/// The library version (`major.minor.patch`), the same as the C header's `IAEMU_VERSION`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
