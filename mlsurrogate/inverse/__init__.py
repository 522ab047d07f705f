"""Inverse problem through the surrogate: couplings from target observables (``lfqcd infer``).

Modules: ``config`` (TOML), ``forward`` (couplings -> simulators -> observables in GeV),
``lightlight`` (the calibration's light-light mesons as a simulator), ``standin`` (an analytic
stand-in simulator for tests), ``ensemble`` (deep ensemble of dense surrogates), ``posterior``
(likelihood with the ensemble spread, best fit, Laplace, sampler, tension map), ``run`` (one
run), ``report`` (text and corner plot), ``cli`` (the subcommand).
"""
