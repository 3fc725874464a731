//! `iaemu halos synth` and `iaemu halos info`: make the synthetic universe, describe a catalogue.

use super::args::{load_halos, LoadArgs, UniverseArgs};
use super::common::synthesize;
use super::HalosCommand;
use iaemu::halos::{self, Column, HaloCatalog, HOST_MIN_PARTICLES};
use iaemu::Result;
use std::path::PathBuf;

pub fn run(command: HalosCommand) -> Result<()> {
    match command {
        HalosCommand::Synth {
            universe,
            out,
            threads,
        } => synth(universe, out, threads),
        HalosCommand::Info { file, load } => info(file, load),
    }
}

fn synth(universe: UniverseArgs, out: PathBuf, threads: Option<usize>) -> Result<()> {
    halos::check_output(&out)?;
    let halos = synthesize(&universe.universe(threads))?;
    halos::save(&halos, &out)?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

fn info(file: PathBuf, load: LoadArgs) -> Result<()> {
    let halos = load_halos(&file, &load)?;
    describe(&halos);
    Ok(())
}

fn describe(h: &HaloCatalog) {
    let meta = h.meta();
    let p = &meta.provenance;
    let mvir = h.col(Column::Mvir);
    let (lo, hi) = mvir
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &m| (a.min(m), b.max(m)));
    println!("source: {}", p.source);
    for (k, v) in [
        ("simname", &p.simname),
        ("halo_finder", &p.halo_finder),
        ("version_name", &p.version_name),
    ] {
        if !v.is_empty() {
            println!("{k}: {v}");
        }
    }
    println!(
        "box: {} x {} x {} Mpc/h",
        meta.box_size[0], meta.box_size[1], meta.box_size[2]
    );
    println!(
        "particle mass: {:.6e} Msun/h   redshift: {}",
        meta.particle_mass, meta.redshift
    );
    println!(
        "halos: {} ({} hosts, {} subhalos)",
        h.len(),
        h.n_hosts(),
        h.len() - h.n_hosts()
    );
    println!("mvir: {lo:.4e} to {hi:.4e} Msun/h");
    println!(
        "hosts that can take a central (mvir > {HOST_MIN_PARTICLES} particles, non-zero axis): {}",
        h.central_hosts(HOST_MIN_PARTICLES).len()
    );
    describe_shapes(h);
    let names: Vec<&str> = Column::ALL
        .iter()
        .filter(|c| **c != Column::Rs)
        .map(|c| c.name())
        .collect();
    println!("columns: {}", names.join(" "));
    let r = h.report();
    println!("rows read: {}", r.rows_read);
    println!(
        "dropped: {} subhalos whose host is not in the catalogue",
        r.dropped_orphans
    );
    println!("wrapped into the box: {} positions", r.wrapped_positions);
    println!(
        "hosts with an all-zero major axis (no aligned central): {}",
        r.zero_axis_hosts
    );
    for d in &r.derived {
        println!("derived: {d}");
    }
}

/// Median b/a and c/a of the hosts that can take a central, overall and per decade of mvir, or
/// a line saying the catalogue has no shapes.
fn describe_shapes(h: &HaloCatalog) {
    let (b, c, mvir) = (h.col(Column::BToA), h.col(Column::CToA), h.col(Column::Mvir));
    if b.iter().chain(c).all(|v| v.is_nan()) {
        println!("shapes (halo_b_to_a, halo_c_to_a): not in the catalogue");
        return;
    }
    let hosts = h.central_hosts(HOST_MIN_PARTICLES);
    let known: Vec<usize> = hosts
        .iter()
        .copied()
        .filter(|&i| !b[i].is_nan() && !c[i].is_nan())
        .collect();
    if known.is_empty() {
        println!("shapes of those hosts: none measured");
        return;
    }
    let [mb, mc] = h.median_shapes(&known);
    println!(
        "shapes of those hosts, median b/a {mb:.3}, c/a {mc:.3} ({} of {} measured)",
        known.len(),
        hosts.len()
    );
    let decade = |i: usize| mvir[i].log10().floor() as i32;
    let (lo, hi) = known
        .iter()
        .fold((i32::MAX, i32::MIN), |(l, u), &i| (l.min(decade(i)), u.max(decade(i))));
    for d in lo..=hi {
        let rows: Vec<usize> = known.iter().copied().filter(|&i| decade(i) == d).collect();
        if !rows.is_empty() {
            let [mb, mc] = h.median_shapes(&rows);
            println!(
                "  mvir 1e{d} to 1e{} Msun/h: median b/a {mb:.3}, c/a {mc:.3} ({} hosts)",
                d + 1,
                rows.len()
            );
        }
    }
}
