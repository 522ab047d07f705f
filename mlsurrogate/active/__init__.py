"""Active learning of a surrogate: ``config`` (TOML), ``simulators`` (the simulation client and
the analytic stand-in), ``folder`` (results folder, resume, progress), ``uncertainty``
(ensemble / heteroscedastic models), ``policy`` (batch selection), ``rounds`` (what both
workflows share), ``streaming`` (simulate while training), ``run`` (``run_active_learning``)
and ``cli`` (``lfqcd al``). Each module imports only the ones before it in this list and the
layers below the package (train, surrogate, models, data)."""
