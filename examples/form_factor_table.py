"""A small B-meson form-factor table from Python (the API behind `lfqcd run`).

Run:  python examples/form_factor_table.py [OUT_DIR]
"""

from __future__ import annotations

import sys

from heavy_meson.config import config_from_dict
from heavy_meson.run import run
from heavy_meson.tables import summary_table

config = config_from_dict({
    "run": {"name": "example", "preset": "illustrative", "n_states": 2, "excited_jz": []},
    "renormalization": {"condition": "lambda_bar", "target_GeV": 0.28},
    "resolutions": {"ladder": [[0.5, 8.0], [0.4, 8.0], [0.25, 8.0]]},
    "error_budget": {"enabled": False},
    "observables": {"w_max": 1.6, "n_w": 7},
})
result = run(config, out_dir=sys.argv[1] if len(sys.argv) > 1 else None, progress=None)
print(summary_table(result))
print("\n   w      xi(w)    error")
for w, xi, err in zip(result.w, result.xi["xi"], result.xi["xi_error"], strict=True):
    print(f"{w:6.3f}  {xi:.5f}  {err:.5f}")
