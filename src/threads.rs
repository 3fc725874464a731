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

static SET_THREADS: AtomicUsize = AtomicUsize::new(0);
static POOLS: Lazy<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> =
    Lazy::new(|| Mutex::new(HashMap::new()));

/// Sets the process-wide default thread count; 0 restores the default (environment, then all
/// cores).
pub fn set_num_threads(n: usize) {
    SET_THREADS.store(n, Ordering::Relaxed);
}

/// The thread count a call without its own count will use.
pub fn num_threads() -> Result<usize> {
    let set = SET_THREADS.load(Ordering::Relaxed);
    if set > 0 {
        return Ok(set);
    }
    if let Ok(v) = std::env::var(THREADS_ENV) {
        return match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
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
        Some(0) => return Err(Error::invalid("thread count must be at least 1")),
        Some(n) => n,
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
