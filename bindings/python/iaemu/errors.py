"""The exceptions: one per negative status of the C ABI, each carrying the library's message."""

from __future__ import annotations

IA_ERR_INVALID_ARGUMENT = -1
IA_ERR_IO = -2
IA_ERR_OUT_OF_DOMAIN = -3
IA_ERR_UNSUPPORTED = -4
IA_ERR_INTERNAL = -5
IA_ERR_OUT_OF_MEMORY = -6


class IAEmuError(Exception):
    """A failing iaemu call. `status` is the C status (a negative IA_ERR_* code) and `message` the
    text of ia_last_error_message() for that call (it names the function and the problem)."""

    status: int = 0

    def __init__(self, message: str, status: int | None = None):
        # One argument to the base class, so that OSError does not read (errno, strerror).
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status

    def __str__(self) -> str:
        return self.message


class InvalidArgumentError(IAEmuError, ValueError):
    """IA_ERR_INVALID_ARGUMENT (-1): NULL, wrong length, NaN, bad edges, a closed handle, ..."""

    status = IA_ERR_INVALID_ARGUMENT


class IaIOError(IAEmuError, OSError):
    """IA_ERR_IO (-2): a file could not be read or written, or is corrupt."""

    status = IA_ERR_IO


class OutOfDomainError(IAEmuError):
    """IA_ERR_OUT_OF_DOMAIN (-3): a point outside the model's training domain (extrapolation not
    allowed). `flags` holds the per-row domain flags (bit k: parameter k is outside) when the call
    reports them (predict, jacobian), else None."""

    status = IA_ERR_OUT_OF_DOMAIN

    def __init__(self, message: str, status: int | None = None, flags=None):
        super().__init__(message, status)
        self.flags = flags


class UnsupportedError(IAEmuError):
    """IA_ERR_UNSUPPORTED (-4): not available in this build (e.g. the emulator in the lite build,
    or a CUDA device that LibTorch does not see)."""

    status = IA_ERR_UNSUPPORTED


class InternalError(IAEmuError):
    """IA_ERR_INTERNAL (-5): a bug in iaemu (such as a caught panic); the message says more."""

    status = IA_ERR_INTERNAL


class OutOfMemoryError(IAEmuError, MemoryError):
    """IA_ERR_OUT_OF_MEMORY (-6): the request needs more memory than the memory budget allows
    (set_memory_budget, IAEMU_MEMORY_BUDGET), or than the machine could give; refused before the
    work starts where it can be foreseen. The message says how much it would need."""

    status = IA_ERR_OUT_OF_MEMORY


_BY_STATUS = {
    IA_ERR_INVALID_ARGUMENT: InvalidArgumentError,
    IA_ERR_IO: IaIOError,
    IA_ERR_OUT_OF_DOMAIN: OutOfDomainError,
    IA_ERR_UNSUPPORTED: UnsupportedError,
    IA_ERR_INTERNAL: InternalError,
    IA_ERR_OUT_OF_MEMORY: OutOfMemoryError,
}


def _raise_for_status(status: int, message: str, flags=None):
    if not message:
        message = f"iaemu call failed with status {status} and no message"
    cls = _BY_STATUS.get(status)
    if cls is None:  # a status this binding does not know: still an error, never ignored
        raise IAEmuError(f"{message} (unknown status {status})", status)
    if cls is OutOfDomainError:
        raise OutOfDomainError(message, status, flags)
    raise cls(message, status)
