//! `iaemu expect`: expected (noise-free) xi, omega and eta of model points from a table.

use super::args::Norm;
use super::common::write_text;
use super::tabulate::{self, Request};
use iaemu::expect::{ExpectOptions, Expectation, Table, FORMAT_VERSION};
use iaemu::hod::{HodParams, PARAM_NAMES};
use iaemu::plot::{plot_curves, Curves};
use iaemu::{Error, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Environment variable naming the folder where the default universe's table is kept.
pub const CACHE_ENV: &str = "IAEMU_CACHE_DIR";

/// The folder for the default universe's table: `IAEMU_CACHE_DIR`, else `$XDG_CACHE_HOME/iaemu`,
/// else `~/.cache/iaemu`.
pub fn cache_dir() -> Result<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    var(CACHE_ENV)
        .or_else(|| var("XDG_CACHE_HOME").map(|p| p.join("iaemu")))
        .or_else(|| var("HOME").map(|p| p.join(".cache").join("iaemu")))
        .ok_or_else(|| Error::io(format!("no cache folder: set {CACHE_ENV} (or HOME)")))
}

pub struct Flags {
    pub params: Vec<String>,
    pub table: Option<PathBuf>,
    pub satellites_times_centrals: bool,
    pub normalization: Norm,
    pub jacobian: bool,
    pub parts: bool,
    pub out: Option<PathBuf>,
    pub plot: Option<PathBuf>,
}

fn points(params: &[String]) -> Result<Vec<HodParams>> {
    params
        .iter()
        .map(|text| {
            let v: Vec<f64> = text
                .split(',')
                .map(|p| p.trim().parse::<f64>().map_err(|e| Error::invalid(format!("--params {text}: {p:?}: {e}"))))
                .collect::<Result<_>>()?;
            let v: [f64; 7] = v.as_slice().try_into().map_err(|_| {
                Error::invalid(format!("--params {text}: needs 7 numbers ({}), got {}", PARAM_NAMES.join(","), v.len()))
            })?;
            HodParams::from_array(v).map_err(|e| Error::invalid(format!("--params {text}: {e}")))
        })
        .collect()
}

/// The table asked for: `--table`, or one made now from `--halos`, or the default universe's,
/// read from the cache folder (made and kept there on first use).
fn table(flags: &Flags, request: &Request) -> Result<Table> {
    if let Some(path) = &flags.table {
        let t = Table::load(path)?;
        if let Some(edges) = &request.source.edges {
            if edges.as_slice() != t.r_edges() {
                return Err(Error::invalid(format!(
                    "{}: the table holds the bin edges {:?}, not --edges {:?}: tabulate again with these edges",
                    path.display(),
                    t.r_edges(),
                    edges
                )));
            }
        }
        let asked = request.source.satellites.model();
        if asked != iaemu::hod::SatelliteModel::Auto && asked != t.satellites() {
            return Err(Error::invalid(format!(
                "{}: the table holds {:?} satellites, not {asked:?}",
                path.display(),
                t.satellites()
            )));
        }
        eprintln!("{}: table of {} hosts ({:?} satellites)", path.display(), t.meta().n_hosts, t.satellites());
        return Ok(t);
    }
    if request.source.halos.is_some() {
        let halos = request.catalogue()?;
        return tabulate::build(&halos, &request.options());
    }
    let options = request.options();
    let defaults = iaemu::expect::TableOptions::default();
    let name = if options.r_edges == defaults.r_edges && options.mass_bin_dex == defaults.mass_bin_dex && options.seed == defaults.seed {
        format!("default-universe-table-v{FORMAT_VERSION}-{:?}.npz", options.satellites).to_lowercase()
    } else {
        return tabulate::build(&request.catalogue()?, &options);
    };
    let path = cache_dir()?.join(name);
    if path.exists() {
        match Table::load(&path) {
            Ok(t) => {
                eprintln!("{}: the default universe's table", path.display());
                return Ok(t);
            }
            Err(e) => eprintln!("{e}; tabulating again"),
        }
    }
    let t = tabulate::build(&request.catalogue()?, &options)?;
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))
        .map_err(|e| Error::io(format!("cannot make the cache folder for {}: {e}", path.display())))?;
    t.save(&path)?;
    eprintln!("kept the default universe's table in {} (set {CACHE_ENV} to move it)", path.display());
    Ok(t)
}

pub fn run(flags: Flags, request: Request) -> Result<()> {
    let points = points(&flags.params)?;
    let table = table(&flags, &request)?;
    let options = ExpectOptions {
        xi_normalization: flags.normalization.xi_normalization(),
        satellites_times_centrals: flags.satellites_times_centrals,
    };
    let start = Instant::now();
    let results = table.expect_batch(&points, &options, flags.jacobian, request.source.threads)?;
    let elapsed = start.elapsed().as_secs_f64();
    eprintln!("{} point(s) in {:.2} ms", points.len(), elapsed * 1e3);
    if let Some(png) = &flags.plot {
        let e = &results[0];
        let v = e.params;
        let title = format!(
            "expected: mu_cen {} mu_sat {} logMmin {} sigma_logM {} logM0 {} logM1 {} alpha {}",
            v[0], v[1], v[2], v[3], v[4], v[5], v[6]
        );
        let curves = Curves {
            r_edges: e.r_edges.clone(),
            r_mid: e.r_mid.clone(),
            mean: [e.xi.clone(), e.omega.clone(), e.eta.clone()],
            errors: Vec::new(),
            truth: None,
        };
        plot_curves(png, &curves, &title)?;
        eprintln!("wrote {}", png.display());
    }
    match &flags.out {
        Some(path) => write_text(path, &serde_json::to_string_pretty(&json(&results, &table, &flags, elapsed)).map_err(|e| Error::Internal(e.to_string()))?),
        None => {
            for e in &results {
                print_expectation(e, flags.parts);
            }
            Ok(())
        }
    }
}

/// The JSON of `--out`: every per-point array has the point as its first axis, for any count.
fn json(results: &[Expectation], table: &Table, flags: &Flags, elapsed: f64) -> serde_json::Value {
    let per = |f: &dyn Fn(&Expectation) -> serde_json::Value| results.iter().map(f).collect::<Vec<_>>();
    let mut j = serde_json::json!({
        "r_edges": results[0].r_edges, "r_mid": results[0].r_mid,
        "xi": per(&|e| e.xi.clone().into()), "omega": per(&|e| e.omega.clone().into()), "eta": per(&|e| e.eta.clone().into()),
        "n_galaxies": per(&|e| e.n_galaxies.into()), "n_centrals": per(&|e| e.n_centrals.into()), "n_satellites": per(&|e| e.n_satellites.into()),
        "params": per(&|e| e.params.to_vec().into()), "param_names": PARAM_NAMES,
        "satellites_times_centrals": flags.satellites_times_centrals,
        "table": {
            "halos": table.meta().halos_source, "halos_simname": table.meta().halos_simname,
            "halos_fingerprint": table.meta().halos_fingerprint, "satellites": format!("{:?}", table.satellites()).to_lowercase(),
            "n_hosts": table.meta().n_hosts, "mass_bin_dex": table.meta().options.mass_bin_dex,
        },
        "elapsed_s": elapsed, "iaemu_version": iaemu::VERSION,
    });
    if flags.parts {
        let part = |f: &dyn Fn(&Expectation) -> &iaemu::expect::Statistics| {
            serde_json::json!({
                "xi": per(&|e| f(e).xi.clone().into()),
                "omega": per(&|e| f(e).omega.clone().into()),
                "eta": per(&|e| f(e).eta.clone().into()),
            })
        };
        j["parts"] = serde_json::json!({
            "cen_cen_2h": part(&|e| &e.parts.cen_cen_2h),
            "cen_sat_1h": part(&|e| &e.parts.cen_sat_1h),
            "cen_sat_2h": part(&|e| &e.parts.cen_sat_2h),
            "sat_sat_1h": part(&|e| &e.parts.sat_sat_1h),
            "sat_sat_2h": part(&|e| &e.parts.sat_sat_2h),
        });
    }
    if flags.jacobian {
        let nb = results[0].xi.len();
        j["jacobian"] = per(&|e| {
            let d = e.jacobian.as_deref().unwrap_or(&[]);
            (0..3)
                .map(|s| (0..nb).map(|b| d[(s * nb + b) * 7..(s * nb + b + 1) * 7].to_vec()).collect::<Vec<_>>())
                .collect::<Vec<_>>()
                .into()
        })
        .into();
    }
    j
}

fn print_expectation(e: &Expectation, parts: bool) {
    println!("params {:?}: E[N] = {:.1} ({:.1} centrals, {:.1} satellites)", e.params, e.n_galaxies, e.n_centrals, e.n_satellites);
    println!("{:>8} {:>8} {:>8}  {:>11} {:>11} {:>11}", "r_lo", "r_hi", "r_mid", "xi", "omega", "eta");
    for k in 0..e.xi.len() {
        println!(
            "{:>8.4} {:>8.4} {:>8.4}  {:>11.4e} {:>11.4e} {:>11.4e}",
            e.r_edges[k], e.r_edges[k + 1], e.r_mid[k], e.xi[k], e.omega[k], e.eta[k]
        );
    }
    if parts {
        let p = &e.parts;
        for (name, s) in [
            ("cen-cen 2-halo", &p.cen_cen_2h),
            ("cen-sat 1-halo", &p.cen_sat_1h),
            ("cen-sat 2-halo", &p.cen_sat_2h),
            ("sat-sat 1-halo", &p.sat_sat_1h),
            ("sat-sat 2-halo", &p.sat_sat_2h),
        ] {
            println!("part {name} (xi: share of 1 + xi; omega, eta: shares of the whole)");
            for k in 0..s.xi.len() {
                println!("{:>8.4}  {:>11.4e} {:>11.4e} {:>11.4e}", e.r_mid[k], s.xi[k], s.omega[k], s.eta[k]);
            }
        }
    }
    println!("r in Mpc/h; expected values (the mean over realisations), no noise");
}
