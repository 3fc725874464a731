//! The NFW profile's enclosed mass, for placing satellites and subhalos.

/// NFW enclosed-mass shape g(y) = ln(1 + y) - y / (1 + y).
pub fn nfw_mass(y: f64) -> f64 {
    (1.0 + y).ln() - y / (1.0 + y)
}

/// The radius, in units of rvir, enclosing the fraction `u` (0 to 1) of an NFW halo of
/// concentration `c`: solves g(c s) = u g(c) for s by bisection (exact to 1e-16 relative).
pub fn nfw_radius(c: f64, u: f64) -> f64 {
    let target = u * nfw_mass(c);
    let (mut a, mut b) = (0.0, c);
    for _ in 0..60 {
        let mid = 0.5 * (a + b);
        if nfw_mass(mid) < target {
            a = mid;
        } else {
            b = mid;
        }
    }
    0.5 * (a + b) / c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_cdf() {
        for c in [2.0, 10.0, 30.0] {
            for u in [0.01, 0.3, 0.5, 0.99] {
                let s = nfw_radius(c, u);
                assert!((nfw_mass(s * c) / nfw_mass(c) - u).abs() < 1e-12);
            }
        }
    }
}
