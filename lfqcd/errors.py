"""Exceptions raised by lfqcd, heavy_meson and mlsurrogate.

Naming rule: ``<Object><Problem>Error``. Each class says what causes it and how to fix it; the
message itself always names the offending value. All derive from :class:`LFQCDError`, so a
caller (or the CLI) can catch every expected failure with one clause and still let genuine bugs
propagate as tracebacks.
"""

from __future__ import annotations

from typing import Any


class LFQCDError(Exception):
    """Base class of every expected, user-facing error in this project."""


class InvalidParameterError(LFQCDError, ValueError):
    """A coupling, mass, resolution or option has an invalid value (negative, NaN, unknown...).

    Fix: correct the named value in the run configuration or call.
    """


class ConfigError(LFQCDError, ValueError):
    """A run configuration (TOML) is malformed: unknown keys, wrong types, inconsistent units.

    Fix: compare with the documented configurations in ``runs/``.
    """


class BasisTooLargeError(LFQCDError, MemoryError):
    """The requested basis or operator would not fit in memory.

    The message gives the estimate. Fix: reduce the resolution (larger grid spacing, smaller
    cutoff), solve a single symmetry sector, or raise ``memory_limit_bytes`` deliberately.
    """

    def __init__(self, message: str, estimate_bytes: int, limit_bytes: int) -> None:
        super().__init__(message)
        self.estimate_bytes = estimate_bytes
        self.limit_bytes = limit_bytes


class BackendUnavailableError(LFQCDError, RuntimeError):
    """An eigensolver or compute backend was requested that is unknown or not installed.

    Fix: pick one of the names listed in the message (``lfqcd info`` shows what is usable).
    """


class EigNoConvergenceError(LFQCDError, RuntimeError):
    """An eigensolver did not converge to the requested tolerance.

    Carries whatever partial eigenpairs and residual norms the backend produced (possibly
    empty) so that nothing computed is lost. Fix: raise ``maxiter``, loosen ``tol`` knowingly,
    or use ``backend="dense"`` for small bases.
    """

    def __init__(
        self,
        message: str,
        eigenvalues: Any = None,
        eigenvectors: Any = None,
        residuals: Any = None,
    ) -> None:
        super().__init__(message)
        self.eigenvalues = eigenvalues
        self.eigenvectors = eigenvectors
        self.residuals = residuals


class ResultFileError(LFQCDError, OSError):
    """A result or checkpoint file is missing, truncated, corrupt or from a different config.

    Fix: delete the named file (it will be recomputed) or point to the right folder.
    """


class OutputFolderError(LFQCDError, OSError):
    """The output folder (``--out``) cannot be used: not writable, a file, or it already holds
    another command's or another configuration's results.

    Fix: choose a new or empty folder with ``--out``, or pass ``--overwrite`` to replace what
    the message says is there.
    """
