"""Errors specific to the surrogate-training package.

All derive from :class:`lfqcd.errors.LFQCDError`, so ``lfqcd train`` prints them as one clear
line. Each docstring states the cause and the fix; each message names the offending value.
"""

from __future__ import annotations

from lfqcd.errors import InvalidParameterError, LFQCDError, ResultFileError


class ParallelLayoutError(InvalidParameterError):
    """The (width n, ranks p, ghosts k) layout is impossible.

    Causes: ``p`` does not divide ``n``; ``k < 1``; ``k >= n/p`` (the phantom-parallel method requires
    ``1 <= k < m``). Fix: pick ``n`` a multiple of ``p`` and ``k`` below ``n/p``.
    """


class CheckpointMismatchError(ResultFileError):
    """A checkpoint does not fit the model or configuration it is loaded into.

    The message lists the fields that differ (architecture, parallel layout, input/output
    names, tensor shapes). Fix: load it with the configuration that wrote it (stored inside the
    checkpoint), or train a new model.
    """


class DatasetError(LFQCDError, ValueError):
    """A training data set is missing, malformed or unusable (no ok rows, unknown columns...).

    Fix: check the scan folder (``summary.csv`` + ``scan.json``) named in the message.
    """


class CollectiveError(LFQCDError, RuntimeError):
    """A collective (all-gather, reduce-scatter, all-reduce) failed on this rank.

    Almost always a peer rank died or did not reach the same collective within the
    process-group timeout. Fix: look at the other ranks' errors (the first failing rank is the
    cause); raise ``parallel.timeout_s`` only if ranks are merely slow.
    """


class RankFailureError(LFQCDError, RuntimeError):
    """One or more ranks of a multi-process run failed or did not finish within the timeout.

    The message names the failing ranks and their first error line. Fix: see that error.
    """
