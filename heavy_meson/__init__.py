"""Heavy-light mesons in the heavy-quark limit on the transverse lattice (built on lfqcd)."""
