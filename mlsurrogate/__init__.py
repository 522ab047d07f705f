"""Feed-forward surrogates for lfqcd observables; tensor- and phantom-parallel training.

Public API (imported lazily, so ``import mlsurrogate`` does not load torch)::

    from mlsurrogate import teacher_student, read_scan_store, train_surrogate, load_surrogate
    ds = teacher_student(n_samples=2000, seed=0)          # or read_scan_store("out/scan_x")
    sur, fit = train_surrogate(ds, ModelConfig(width=64), FitConfig(max_epochs=5))
    sur.save("model.pt"); load_surrogate("model.pt").predict(ds.X[:3])

Layout by job, each layer importing only the ones before it (tests/test_layering.py):

* base: ``errors``, ``seeds`` (the one ``derive_seed``), ``arch``, ``data``, ``costmodel``
  (FLOP/byte/energy model), ``energy`` (NVML/RAPL counters), ``config`` (TOML), ``report``
* ``models.{layers,dense}``: initialisation, activations, the dense FFN reference
* ``parallel.{collectives,runtime,tensor,phantom}``: torch.distributed, TP-A and phantom layers
* ``surrogate``: network construction for every mode, the ``Surrogate`` checkpoint object
* ``train.{loop,api,run,worker,cli}``: the training loop, ``train_surrogate``, ``lfqcd train``
* ``active.{config,simulators,policy,folder,uncertainty,rounds,streaming,run,cli}``: ``lfqcd al``
"""

from __future__ import annotations

import importlib
from typing import Any

_API = {
    "Arch": "mlsurrogate.arch",
    "Dataset": "mlsurrogate.data",
    "Standardizer": "mlsurrogate.data",
    "teacher_student": "mlsurrogate.data",
    "read_scan_store": "mlsurrogate.data",
    "ModelConfig": "mlsurrogate.config",
    "FitConfig": "mlsurrogate.config",
    "TrainConfig": "mlsurrogate.config",
    "load_config": "mlsurrogate.config",
    "FFN": "mlsurrogate.models.dense",
    "Surrogate": "mlsurrogate.surrogate",
    "load_surrogate": "mlsurrogate.surrogate",
    "fit": "mlsurrogate.train.loop",
    "FitResult": "mlsurrogate.train.loop",
    "train_surrogate": "mlsurrogate.train.api",
    "run_training": "mlsurrogate.train.run",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'mlsurrogate' has no attribute {name!r}")
