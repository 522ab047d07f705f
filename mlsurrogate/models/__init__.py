"""Single-process networks and their building blocks: ``layers`` (initialisation, activations,
strict state loading) and ``dense`` (the dense FFN reference). Imports nothing above itself."""
