//! Opaque handles. A handle given to C is a registry key, never a pointer to Rust memory: the
//! library looks it up before use, so a freed, forged or wrong-kind handle is reported, not
//! dereferenced. Keys are never reused. Objects are reference-counted, so a handle freed by
//! one thread while another thread is inside a call with it stays alive until that call ends.

use crate::error::{Error, Result};
use once_cell::sync::Lazy;
use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

struct Entry {
    kind: &'static str,
    object: Arc<dyn Any + Send + Sync>,
}

struct Registry {
    next: usize,
    live: HashMap<usize, Entry>,
}

/// Keys are spaced and offset so that small integers and NULL are never live handles.
const KEY_BASE: usize = 0x1a_0000;
const KEY_STEP: usize = 16;

static REGISTRY: Lazy<Mutex<Registry>> = Lazy::new(|| {
    Mutex::new(Registry {
        next: KEY_BASE,
        live: HashMap::new(),
    })
});

fn registry() -> Result<std::sync::MutexGuard<'static, Registry>> {
    REGISTRY
        .lock()
        .map_err(|_| Error::Internal("handle registry poisoned".into()))
}

/// Registers `object` and returns its handle, typed as the opaque C struct `H`.
pub(crate) fn register<T: Any + Send + Sync, H>(object: T, kind: &'static str) -> Result<*mut H> {
    let mut r = registry()?;
    let key = r.next;
    r.next = r
        .next
        .checked_add(KEY_STEP)
        .ok_or_else(|| Error::Internal("handle keys exhausted".into()))?;
    r.live.insert(
        key,
        Entry {
            kind,
            object: Arc::new(object),
        },
    );
    Ok(key as *mut H)
}

/// The live object behind `handle`, checked to be of kind `kind`.
pub(crate) fn get<T: Any + Send + Sync, H>(handle: *const H, kind: &'static str) -> Result<Arc<T>> {
    if handle.is_null() {
        return Err(Error::invalid(format!("the {kind} handle is NULL")));
    }
    let r = registry()?;
    let entry = r.live.get(&(handle as usize)).ok_or_else(|| {
        Error::invalid(format!(
            "{handle:p} is not a live {kind} handle (already freed, or not made by iaemu)"
        ))
    })?;
    if entry.kind != kind {
        return Err(Error::invalid(format!(
            "{handle:p} is a {} handle, not a {kind} handle",
            entry.kind
        )));
    }
    entry
        .object
        .clone()
        .downcast::<T>()
        .map_err(|_| Error::Internal(format!("{kind} handle holds the wrong type")))
}

/// Releases `handle`; NULL is a no-op.
pub(crate) fn release<H>(handle: *const H, kind: &'static str) -> Result<()> {
    if handle.is_null() {
        return Ok(());
    }
    let mut r = registry()?;
    match r.live.get(&(handle as usize)) {
        Some(e) if e.kind == kind => {
            r.live.remove(&(handle as usize));
            Ok(())
        }
        Some(e) => Err(Error::invalid(format!(
            "{handle:p} is a {} handle, not a {kind} handle",
            e.kind
        ))),
        None => Err(Error::invalid(format!(
            "{handle:p} is not a live {kind} handle (already freed, or not made by iaemu)"
        ))),
    }
}
