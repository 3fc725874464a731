//! Three-dimensional complex FFTs on an n^3 grid (x fastest, then y, then z), built from
//! rustfft's one-dimensional transforms, parallel over lines. Each line is transformed
//! independently, so results do not depend on the thread count.

use std::sync::Arc;

use rayon::prelude::*;
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

pub(crate) type C64 = Complex<f64>;

/// Forward (e^{-ikx}, unnormalised) and inverse (e^{+ikx}, unnormalised) transforms of one size.
pub(crate) struct Fft3 {
    n: usize,
    forward: Arc<dyn Fft<f64>>,
    inverse: Arc<dyn Fft<f64>>,
}

impl Fft3 {
    pub(crate) fn new(n: usize) -> Self {
        let mut planner = FftPlanner::new();
        Fft3 {
            n,
            forward: planner.plan_fft_forward(n),
            inverse: planner.plan_fft_inverse(n),
        }
    }

    pub(crate) fn forward(&self, data: &mut [C64]) {
        self.transform(data, &self.forward);
    }

    /// Inverse transform, divided by n^3 (so that `inverse(forward(f)) == f`).
    pub(crate) fn inverse_normalized(&self, data: &mut [C64]) {
        self.transform(data, &self.inverse);
        let norm = 1.0 / (self.n * self.n * self.n) as f64;
        data.par_iter_mut().for_each(|v| *v *= norm);
    }

    fn lines(&self, data: &mut [C64], fft: &Arc<dyn Fft<f64>>) {
        let n = self.n;
        data.par_chunks_mut(n * n).for_each(|plane| {
            let mut scratch = vec![C64::default(); fft.get_inplace_scratch_len()];
            fft.process_with_scratch(plane, &mut scratch);
        });
    }

    fn transform(&self, data: &mut [C64], fft: &Arc<dyn Fft<f64>>) {
        let n = self.n;
        assert_eq!(data.len(), n * n * n, "grid size");
        // x: contiguous lines.
        self.lines(data, fft);
        // y: transpose each z-plane, transform rows, transpose back.
        data.par_chunks_mut(n * n).for_each(|plane| {
            transpose_square(plane, n);
            let mut scratch = vec![C64::default(); fft.get_inplace_scratch_len()];
            fft.process_with_scratch(plane, &mut scratch);
            transpose_square(plane, n);
        });
        // z: transpose the (z, yx) matrix to (yx, z), transform rows, transpose back.
        let mut t = vec![C64::default(); data.len()];
        let m = n * n;
        t.par_chunks_mut(n).enumerate().for_each(|(r, row)| {
            for (z, v) in row.iter_mut().enumerate() {
                *v = data[z * m + r];
            }
        });
        self.lines(&mut t, fft);
        data.par_chunks_mut(m).enumerate().for_each(|(z, plane)| {
            for (r, v) in plane.iter_mut().enumerate() {
                *v = t[r * n + z];
            }
        });
    }
}

fn transpose_square(a: &mut [C64], n: usize) {
    for i in 0..n {
        for j in i + 1..n {
            a.swap(i * n + j, j * n + i);
        }
    }
}

/// Wavenumber index of grid index `i` (0..n): i for i < n/2, i - n above.
pub(crate) fn freq(i: usize, n: usize) -> f64 {
    if i <= n / 2 {
        i as f64
    } else {
        i as f64 - n as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a direct O(n^6) DFT on a small grid.
    #[test]
    fn matches_direct_dft() {
        let n = 6;
        let f: Vec<C64> = (0..n * n * n)
            .map(|i| C64::new((i as f64 * 0.37).sin(), (i as f64 * 0.11).cos()))
            .collect();
        let mut g = f.clone();
        Fft3::new(n).forward(&mut g);
        let tau = 2.0 * std::f64::consts::PI / n as f64;
        for (kz, ky, kx) in [(0, 0, 0), (1, 2, 3), (5, 0, 4), (3, 3, 3)] {
            let mut s = C64::default();
            for z in 0..n {
                for y in 0..n {
                    for x in 0..n {
                        let ph = -tau * (kx * x + ky * y + kz * z) as f64;
                        s += f[(z * n + y) * n + x] * C64::new(ph.cos(), ph.sin());
                    }
                }
            }
            let got = g[(kz * n + ky) * n + kx];
            assert!((got - s).norm() < 1e-9, "k=({kx},{ky},{kz}): {got} vs {s}");
        }
        Fft3::new(n).inverse_normalized(&mut g);
        for (a, b) in f.iter().zip(&g) {
            assert!((a - b).norm() < 1e-12);
        }
    }
}
