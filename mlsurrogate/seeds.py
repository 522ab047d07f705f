"""The one seed-derivation rule of the package (numpy only, no torch).

Every independent random stream - a layer's initial weights, a phantom rank's block, an
active-learning round's batch draw, candidate pool or ensemble member - gets its seed from
:func:`derive_seed` of the run's seed and integers naming the purpose, so streams never
collide and do not depend on Python's hash randomisation.
"""

from __future__ import annotations

import numpy as np

__all__ = ["derive_seed"]

_MASK64 = (1 << 64) - 1


def derive_seed(*parts: int) -> int:
    """A 63-bit seed for the integers ``parts`` (``numpy.random.SeedSequence``).

    Negative integers are taken modulo 2**64. The result suits ``torch.Generator.manual_seed``,
    ``numpy.random.default_rng`` and ``scipy.stats.qmc`` alike.
    """
    if not parts:
        raise ValueError("derive_seed needs at least one integer")
    state = np.random.SeedSequence([int(p) & _MASK64 for p in parts]).generate_state(2)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)
