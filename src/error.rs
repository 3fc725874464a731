//! The one error type of the library. Every failure names the problem in words; the C ABI maps
//! each variant to one status code (see `ffi::status`).

/// What went wrong, in the categories the C ABI reports as status codes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The caller passed something unusable: NaN, wrong sizes, bad bin edges, NULL pointers.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A file could not be read or written, or its contents are not what was expected.
    #[error("I/O error: {0}")]
    Io(String),
    /// Valid input outside the domain a model or method supports.
    #[error("out of domain: {0}")]
    OutOfDomain(String),
    /// A feature that this build or this platform does not offer.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The request needs more memory than the memory budget allows ([`crate::memory`]), or
    /// than the allocator could give; the message says how much.
    #[error("out of memory: {0}")]
    OutOfMemory(String),
    /// A bug in iaemu (a caught panic, a broken invariant): please report it.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Result alias used across the crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }
    /// Shorthand for [`Error::Io`].
    pub fn io(msg: impl Into<String>) -> Self {
        Error::Io(msg.into())
    }
}
