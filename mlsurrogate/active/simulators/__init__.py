"""Simulators for active learning: ``client`` (runs simulator points through a scan executor
into a scan store) and ``standin`` (a cheap analytic stand-in simulator)."""
