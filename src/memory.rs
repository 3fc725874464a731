//! The memory budget: the most memory one call of iaemu may allocate (its outputs, kept
//! realisations and working arrays), so that no request can exhaust the machine or the process
//! that called it. A request whose estimate exceeds the budget fails before it allocates, with
//! [`Error::OutOfMemory`] saying how much it would need. Work whose size grows with the request
//! (Monte Carlo passes, realisations, rows of a batch) is done in chunks of a fixed size, so it
//! stays within the budget whatever the request, and the numbers do not depend on the budget.
//!
//! The budget is, in order of precedence: [`set_budget`] (`ia_set_memory_budget` from C), the
//! environment variable `IAEMU_MEMORY_BUDGET` (bytes, or with a suffix K, M, G, T: powers of
//! 1024), and by default half the memory the process may use, at most 8 GiB: the least of the
//! physical memory, the process's data and address-space limits (`ulimit -d`, `ulimit -v`) and
//! its control group's memory limit.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Environment variable read for the budget.
pub const BUDGET_ENV: &str = "IAEMU_MEMORY_BUDGET";

/// The default budget's ceiling, bytes.
pub const DEFAULT_MAX: u64 = 8 << 30;

/// The smallest budget accepted (below it even one Monte Carlo chunk of the built-in model does
/// not fit).
pub const MIN_BUDGET: u64 = 64 << 20;

static SET_BUDGET: AtomicU64 = AtomicU64::new(0);

/// Sets the process-wide budget in bytes; 0 restores the default (environment, then half the
/// physical memory up to [`DEFAULT_MAX`]). Less than [`MIN_BUDGET`] is refused.
pub fn set_budget(bytes: u64) -> Result<()> {
    if bytes != 0 && bytes < MIN_BUDGET {
        return Err(Error::invalid(format!(
            "memory budget {bytes} bytes: less than the minimum of {MIN_BUDGET} bytes ({})",
            format_bytes(MIN_BUDGET)
        )));
    }
    SET_BUDGET.store(bytes, Ordering::Relaxed);
    Ok(())
}

/// Reads a size: bytes, or a number with a suffix K, M, G or T (powers of 1024; "GiB" and "GB"
/// read as G).
pub fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number.trim().parse().ok()?;
    let shift = match unit.trim().to_ascii_uppercase().trim_end_matches("IB").trim_end_matches('B') {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return None,
    };
    let bytes = number * (1u64 << shift) as f64;
    (bytes.is_finite() && bytes >= 0.0 && bytes < 1.8e19).then_some(bytes as u64)
}

/// A size in words: "51.2 GB (47.7 GiB)" style, as GiB/MiB with one decimal.
pub fn format_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= (1u64 << 30) as f64 {
        format!("{:.1} GiB", b / (1u64 << 30) as f64)
    } else if b >= (1u64 << 20) as f64 {
        format!("{:.1} MiB", b / (1u64 << 20) as f64)
    } else {
        format!("{bytes} bytes")
    }
}

/// The memory this process may use, bytes: the least of the physical memory, RLIMIT_DATA,
/// RLIMIT_AS and the memory limit of its control group (v1 or v2); None where none is known.
fn available_memory() -> Option<u64> {
    let mut limits = Vec::new();
    // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
    let (pages, size) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
    if pages > 0 && size > 0 {
        limits.push(pages as u64 * size as u64);
    }
    for resource in [libc::RLIMIT_DATA, libc::RLIMIT_AS] {
        let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: `r` is a valid rlimit for getrlimit to fill.
        if unsafe { libc::getrlimit(resource, &mut r) } == 0 && r.rlim_cur != libc::RLIM_INFINITY {
            limits.push(r.rlim_cur);
        }
    }
    limits.extend(cgroup_limit());
    limits.into_iter().min()
}

/// The memory limit of this process's control group, from /proc/self/cgroup and /sys/fs/cgroup.
fn cgroup_limit() -> Option<u64> {
    let groups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    for line in groups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let file = if controllers.is_empty() {
            format!("/sys/fs/cgroup{path}/memory.max")
        } else if controllers.split(',').any(|c| c == "memory") {
            format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes")
        } else {
            continue;
        };
        if let Some(v) = std::fs::read_to_string(file).ok().and_then(|t| t.trim().parse::<u64>().ok()) {
            // cgroup v1 writes "no limit" as a huge page-rounded number.
            if v < 1 << 60 {
                return Some(v);
            }
        }
    }
    None
}

/// The budget a call uses now, bytes.
pub fn budget() -> Result<u64> {
    let set = SET_BUDGET.load(Ordering::Relaxed);
    if set > 0 {
        return Ok(set);
    }
    if let Ok(v) = std::env::var(BUDGET_ENV) {
        return match parse_bytes(&v) {
            Some(b) if b >= MIN_BUDGET => Ok(b),
            Some(_) => Err(Error::invalid(format!(
                "{BUDGET_ENV}={v}: less than the minimum of {MIN_BUDGET} bytes ({})",
                format_bytes(MIN_BUDGET)
            ))),
            None => Err(Error::invalid(format!(
                "{BUDGET_ENV}={v:?}: give bytes, or a number with K, M, G or T (e.g. 4G)"
            ))),
        };
    }
    Ok(available_memory().map_or(DEFAULT_MAX, |m| (m / 2).min(DEFAULT_MAX)).max(MIN_BUDGET))
}

/// Checks that `what` may allocate about `bytes` (an estimate of its peak); otherwise an
/// [`Error::OutOfMemory`] that says how much it would need and how to allow it.
pub fn ensure(what: &str, bytes: f64) -> Result<()> {
    let budget = budget()?;
    if bytes <= budget as f64 {
        return Ok(());
    }
    let need = if bytes >= u64::MAX as f64 { u64::MAX } else { bytes as u64 };
    Err(Error::OutOfMemory(format!(
        "{what} would need about {}, over the memory budget of {} (raise it with {BUDGET_ENV}, or split the request)",
        format_bytes(need),
        format_bytes(budget)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!(parse_bytes("1024"), Some(1024));
        assert_eq!(parse_bytes("4G"), Some(4 << 30));
        assert_eq!(parse_bytes("1.5 GiB"), Some(3 << 29));
        assert_eq!(parse_bytes("512mb"), Some(512 << 20));
        assert_eq!(parse_bytes("2T"), Some(2 << 40));
        for bad in ["", "G", "-1G", "4Q", "NaN", "1e30"] {
            assert_eq!(parse_bytes(bad), None, "{bad}");
        }
        assert_eq!(format_bytes(3 << 29), "1.5 GiB");
        assert_eq!(format_bytes(100 << 20), "100.0 MiB");
    }
}
