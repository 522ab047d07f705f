"""lfqcd: light-front QCD on a transverse lattice.

Generic machinery only (no heavy-quark physics): Fock bases, sparse operator assembly,
eigensolvers, couplings and units. See ``heavy_meson`` for the B meson and ``mlsurrogate``
for the surrogate networks.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
