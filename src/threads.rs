//! Thread count for the parallel parts of iaemu.
//!
//! The count used by a call is, in order of precedence: the count passed to that call, the
//! count set by [`set_num_threads`] (or `ia_set_num_threads` from C), the environment variable
//! `IAEMU_NUM_THREADS`, and finally all logical cores. Results never depend on it: every
//! parallel reduction in iaemu sums partial results in a fixed order.

use crate::error::{Error, Result};
use once_cell::sync::Lazy;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Environment variable read for the default thread count.
pub const THREADS_ENV: &str = "IAEMU_NUM_THREADS";
/// The most threads a call may ask for: more is refused (a typo such as UINT32_MAX would
/// otherwise try to start billions of threads).
pub const MAX_THREADS: usize = 1024;

/// `n` if it is a usable thread count (1 to [`MAX_THREADS`]), else an error naming it.
pub fn check(n: usize) -> Result<usize> {
    match n {
        0 => Err(Error::invalid("thread count must be at least 1")),
        n if n > MAX_THREADS => Err(Error::invalid(format!(
            "thread count {n} exceeds the maximum of {MAX_THREADS}"
        ))),
        n => Ok(n),
    }
}

static SET_THREADS: AtomicUsize = AtomicUsize::new(0);
static POOLS: Lazy<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> =
    Lazy::new(|| Mutex::new(HashMap::new()));

/// Sets the process-wide default thread count; 0 restores the default (environment, then all
/// cores). More than [`MAX_THREADS`] is refused.
pub fn set_num_threads(n: usize) -> Result<()> {
    if n > 0 {
        check(n)?;
    }
    SET_THREADS.store(n, Ordering::Relaxed);
    Ok(())
}

/// The thread count a call without its own count will use.
pub fn num_threads() -> Result<usize> {
    let set = SET_THREADS.load(Ordering::Relaxed);
    if set > 0 {
        return Ok(set);
    }
    if let Ok(v) = std::env::var(THREADS_ENV) {
        return match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => check(n).map_err(|e| Error::invalid(format!("{THREADS_ENV}: {e}"))),
            _ => Err(Error::invalid(format!(
                "{THREADS_ENV}={v:?} is not a positive integer"
            ))),
        };
    }
    Ok(std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Runs `f` inside a thread pool of `threads` threads (or [`num_threads`] when `None`).
/// Pools are built once per size and reused.
pub fn install<R: Send>(threads: Option<usize>, f: impl FnOnce() -> R + Send) -> Result<R> {
    let n = match threads {
        Some(n) => check(n)?,
        None => num_threads()?,
    };
    let pool = {
        let mut pools = POOLS
            .lock()
            .map_err(|_| Error::Internal("thread-pool registry poisoned".into()))?;
        match pools.get(&n) {
            Some(p) => p.clone(),
            None => {
                let p = Arc::new(
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(n)
                        .thread_name(|i| format!("iaemu-{i}"))
                        .build()
                        .map_err(|e| Error::Internal(format!("cannot start {n} threads: {e}")))?,
                );
                pools.insert(n, p.clone());
                p
            }
        }
    };
    Ok(pool.install(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_counts_outside_1_to_max_are_refused() {
        assert!(check(0).is_err());
        assert_eq!(check(1).unwrap(), 1);
        assert_eq!(check(MAX_THREADS).unwrap(), MAX_THREADS);
        let e = check(MAX_THREADS + 1).unwrap_err().to_string();
        assert!(e.contains("exceeds the maximum of 1024"), "{e}");
        assert!(install(Some(usize::MAX), || ()).is_err());
        assert!(set_num_threads(u32::MAX as usize).is_err());
        assert_eq!(SET_THREADS.load(Ordering::Relaxed), 0, "a refused count leaves the default");
    }
}
