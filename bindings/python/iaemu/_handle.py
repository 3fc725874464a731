"""The owner of one C handle: close() (idempotent), context manager, freed in __del__."""

from __future__ import annotations

import threading

from . import _lib
from .errors import InvalidArgumentError


class _Handle:
    _free_name = ""  # the C function that frees this kind of handle
    _kind = ""  # the class name in messages

    def __init__(self, handle: int):
        self._handle = handle
        self._close_lock = threading.Lock()

    def _h(self) -> int:
        """The handle, or a clear error once closed."""
        h = getattr(self, "_handle", None)
        if not h:
            raise InvalidArgumentError(
                f"{self._kind} is closed: it cannot be used after close()", -1
            )
        return h

    @property
    def closed(self) -> bool:
        return not getattr(self, "_handle", None)

    def close(self) -> None:
        """Frees the C object now. Idempotent; later use raises InvalidArgumentError. A call on
        another thread that is already inside the library with this object finishes normally
        (the C side keeps the object alive until it returns)."""
        lock = getattr(self, "_close_lock", None)
        if lock is None:  # __init__ never ran
            return
        with lock:
            h, self._handle = self._handle, None
        if h:
            _lib.check(getattr(_lib.lib, self._free_name)(h))

    def __enter__(self):
        self._h()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown, or a handle the library no longer knows
            pass
