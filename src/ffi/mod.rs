//! The C ABI. This module only checks and converts arguments and calls safe Rust; the
//! conventions every function follows are written once, in README.md ("C ABI conventions"):
//! an `int` status (`IA_OK` or a negative `IA_ERR_*`), a thread-local last-error message,
//! NULL checks, explicit lengths, row-major arrays, outputs written only on success, no panic
//! across the boundary, and opaque handles checked against a registry before use.

mod corr;
mod emulator;
mod expect;
mod halos;
mod handles;
mod hod;

pub use corr::*;
pub use emulator::*;
pub use expect::*;
pub use halos::*;
pub use hod::*;

use crate::error::Error;
use std::cell::RefCell;
use std::ffi::{c_char, c_int, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Success.
pub const IA_OK: c_int = 0;
/// An argument is unusable: NULL pointer, wrong length, NaN, bad bin edges, a freed or foreign
/// handle.
pub const IA_ERR_INVALID_ARGUMENT: c_int = -1;
/// A file could not be read or written, or is corrupt.
pub const IA_ERR_IO: c_int = -2;
/// Valid input outside the domain the model or method supports.
pub const IA_ERR_OUT_OF_DOMAIN: c_int = -3;
/// Not available in this build or on this platform.
pub const IA_ERR_UNSUPPORTED: c_int = -4;
/// A bug in iaemu (for example a caught panic); the message says more. Any function that
/// returns a status may return it (no panic crosses the boundary); the `Status:` notes of the
/// functions name it only where it has another cause (threads that cannot be started, a
/// LibTorch failure).
pub const IA_ERR_INTERNAL: c_int = -5;
/// The request needs more memory than the memory budget allows (`ia_set_memory_budget`,
/// `IAEMU_MEMORY_BUDGET`), or than the machine could give; refused before the work starts
/// where it can be foreseen. The message says how much it would need.
pub const IA_ERR_OUT_OF_MEMORY: c_int = -6;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn status_of(e: &Error) -> c_int {
    match e {
        Error::InvalidArgument(_) => IA_ERR_INVALID_ARGUMENT,
        Error::Io(_) => IA_ERR_IO,
        Error::OutOfDomain(_) => IA_ERR_OUT_OF_DOMAIN,
        Error::Unsupported(_) => IA_ERR_UNSUPPORTED,
        Error::Internal(_) => IA_ERR_INTERNAL,
        Error::OutOfMemory(_) => IA_ERR_OUT_OF_MEMORY,
    }
}

fn set_last_error(text: &str) {
    let c = CString::new(text.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|m| *m.borrow_mut() = c);
}

/// Runs the body of an exported function: clears the last error, converts an error into its
/// status and message, and stops any panic at the boundary (`IA_ERR_INTERNAL`).
pub(crate) fn guard(function: &str, body: impl FnOnce() -> Result<(), Error>) -> c_int {
    set_last_error("");
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => IA_OK,
        Ok(Err(e)) => {
            set_last_error(&format!("{function}: {e}"));
            status_of(&e)
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_last_error(&format!("{function}: internal error (panic): {what}"));
            IA_ERR_INTERNAL
        }
    }
}

/// Checks that a pointer argument is not NULL.
pub(crate) fn non_null<T>(p: *const T, name: &str) -> Result<(), Error> {
    if p.is_null() {
        Err(Error::invalid(format!("{name} is NULL")))
    } else {
        Ok(())
    }
}

/// A non-empty UTF-8 path from a NUL-terminated C string named `name` in errors.
pub(crate) fn path_arg(p: *const c_char, name: &str) -> Result<std::path::PathBuf, Error> {
    non_null(p, name)?;
    // SAFETY: checked non-NULL; the caller promises a NUL-terminated string.
    let s = unsafe { std::ffi::CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| Error::invalid(format!("{name} is not valid UTF-8")))?;
    if s.is_empty() {
        return Err(Error::invalid(format!("{name} is empty")));
    }
    Ok(std::path::PathBuf::from(s))
}

/// Borrows `len` elements at `p` after checking for NULL and an impossible size.
///
/// # Safety
/// `p` must point to `len` readable, initialised `T` that outlive the borrow.
pub(crate) unsafe fn slice<'a, T>(p: *const T, len: usize, name: &str) -> Result<&'a [T], Error> {
    non_null(p, name)?;
    if len
        .checked_mul(std::mem::size_of::<T>())
        .is_none_or(|b| b > isize::MAX as usize)
    {
        return Err(Error::invalid(format!("{name}: length {len} is too large")));
    }
    // SAFETY: non-NULL, size fits isize, validity promised by the caller.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// Borrows `len` writable elements at `p` after checking for NULL and an impossible size.
///
/// # Safety
/// `p` must point to `len` writable `T` not aliased elsewhere during the borrow.
pub(crate) unsafe fn slice_mut<'a, T>(
    p: *mut T,
    len: usize,
    name: &str,
) -> Result<&'a mut [T], Error> {
    non_null(p, name)?;
    if len
        .checked_mul(std::mem::size_of::<T>())
        .is_none_or(|b| b > isize::MAX as usize)
    {
        return Err(Error::invalid(format!("{name}: length {len} is too large")));
    }
    // SAFETY: as above.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, len) })
}

/// The library version, `"major.minor.patch"`, as a static NUL-terminated string (never NULL,
/// never to be freed).
///
/// Status: none: one of the two functions that cannot fail and return no status.
///
/// Threads: any thread.
#[no_mangle]
pub extern "C" fn ia_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The message of the last failed call on this thread (naming the function and the problem), or
/// `""` if the last call succeeded. Owned by the library: valid until the next iaemu call on
/// this thread; never NULL; not to be freed.
///
/// Status: none: one of the two functions that cannot fail and return no status.
///
/// Threads: any thread; the message is per thread, so another thread's failures never show
/// here.
#[no_mangle]
pub extern "C" fn ia_last_error_message() -> *const c_char {
    LAST_ERROR.with(|m| m.borrow().as_ptr())
}

/// Sets the default number of threads for all later calls in the process; 0 restores the
/// default (`IAEMU_NUM_THREADS`, else all cores).
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for more than 1024 (as is a per-call `n_threads`
/// above 1024).
///
/// Threads: any thread (an atomic store); calls already running keep the count they started
/// with.
#[no_mangle]
pub extern "C" fn ia_set_num_threads(n_threads: u32) -> c_int {
    guard("ia_set_num_threads", || crate::threads::set_num_threads(n_threads as usize))
}

/// Sets the memory budget, in bytes, of every later call in the process: the most one call may
/// allocate (outputs included); a call that would need more fails with `IA_ERR_OUT_OF_MEMORY`
/// before it starts. 0 restores the default (`IAEMU_MEMORY_BUDGET`, else half of what the
/// process may use, at most 8 GiB).
///
/// Status: `IA_OK`; `IA_ERR_INVALID_ARGUMENT` for less than 64 MiB (other than 0).
///
/// Threads: any thread (an atomic store); calls already past their memory check are not
/// affected.
#[no_mangle]
pub extern "C" fn ia_set_memory_budget(bytes: u64) -> c_int {
    guard("ia_set_memory_budget", || crate::memory::set_budget(bytes))
}
