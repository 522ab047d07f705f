"""Training: ``loop`` (the loop shared by every mode), ``api`` (single-process
``train_surrogate``), ``run`` (what ``lfqcd train`` runs on each rank), ``worker`` (one torchrun
rank) and ``cli`` (``lfqcd train``). Imports only the layers below (models, parallel,
surrogate, config, data)."""
