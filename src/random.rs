//! Random streams and vectors shared by the generators. Every random number in iaemu comes
//! from a ChaCha8 stream keyed by (seed, purpose, stream), so work split into fixed blocks
//! gives the same numbers whatever the thread count.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// The stream `stream` of purpose `purpose` under `seed`.
pub(crate) fn stream(seed: u64, purpose: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed ^ purpose.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    r.set_stream(stream);
    r
}

/// Euclidean length.
pub(crate) fn norm(v: [f64; 3]) -> f64 {
    (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt()
}

/// An isotropic unit vector.
pub(crate) fn unit_vector(r: &mut impl Rng) -> [f64; 3] {
    loop {
        let v: [f64; 3] = std::array::from_fn(|_| r.sample(StandardNormal));
        let n = norm(v);
        if n > 1e-12 {
            return v.map(|x| x / n);
        }
    }
}
