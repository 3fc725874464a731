//! Speed of expected correlations from a table (`iaemu tabulate --out TABLE.npz` makes one):
//! one point at a time on one thread (median of 200, all parts), with the Jacobian, and a
//! batch of 10,000 points on all threads.
//!
//!     cargo run --release --example bench_expect -- TABLE.npz

use std::time::Instant;

use iaemu::expect::{ExpectOptions, Table};
use iaemu::hod::HodParams;

fn main() -> iaemu::Result<()> {
    let path = std::env::args().nth(1).expect("give a table file (iaemu tabulate --out TABLE.npz)");
    let t0 = Instant::now();
    let table = Table::load(std::path::Path::new(&path))?;
    println!("{path}: {} hosts, {:.1} MB, read in {:.2} s", table.meta().n_hosts, table.size_bytes() as f64 / 1e6, t0.elapsed().as_secs_f64());
    // Points across the paper's domain (a fixed quasi-random walk).
    let point = |i: usize| {
        let f = |k: usize| ((i * 7919 + k * 104729) % 1000) as f64 / 1000.0;
        HodParams::from_array([
            -1.0 + 2.0 * f(0),
            -1.0 + 2.0 * f(1),
            11.8 + 1.2 * f(2),
            0.1 + 0.5 * f(3),
            11.5 + 1.5 * f(4),
            12.8 + 1.2 * f(5),
            0.7 + 0.6 * f(6),
        ])
    };
    let points: Vec<HodParams> = (0..10_000).map(point).collect::<iaemu::Result<_>>()?;
    let opts = ExpectOptions::default();
    for jacobian in [false, true] {
        let mut times: Vec<f64> = (0..200)
            .map(|i| {
                let t = Instant::now();
                table.expect_batch(&points[i..i + 1], &opts, jacobian, Some(1)).expect("a point");
                t.elapsed().as_secs_f64()
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!("one point, one thread{}: median {:.3} ms", if jacobian { ", with the Jacobian" } else { "" }, times[100] * 1e3);
    }
    let threads = iaemu::threads::num_threads()?;
    let t = Instant::now();
    table.expect_batch(&points, &opts, false, None)?;
    println!("10,000 points on {threads} threads: {:.2} s", t.elapsed().as_secs_f64());
    Ok(())
}
