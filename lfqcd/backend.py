"""Array-backend detection: NumPy always, CuPy when installed *and* a CUDA device is usable.

Nothing else in the project imports cupy directly; the GPU eigensolver imports ``cupyx``
lazily inside its own function. ``import cupyx.scipy.sparse.linalg`` raises ImportError when
CUDA libraries are missing even though ``import cupy`` succeeds (seen with CuPy wheels whose CUDA toolkit is
absent), so
every probe catches ``Exception``-level failures of the import and of the device query.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np


@functools.lru_cache(maxsize=1)
def gpu_available() -> bool:
    """True when CuPy imports, sees at least one CUDA device and its sparse linalg loads."""
    try:
        import cupy

        if not cupy.is_available():
            return False
        import cupyx.scipy.sparse.linalg  # noqa: F401  (fails without cuBLAS/cuSPARSE)

        return True
    except Exception:  # noqa: BLE001 - any failure means "no usable GPU"
        return False


def gpu_description() -> str:
    """One line describing the GPU, or why none is usable."""
    try:
        import cupy
    except Exception:  # noqa: BLE001
        return "cupy not installed"
    if not gpu_available():
        return "cupy installed, no usable CUDA device"
    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    return f"{name} (cupy {cupy.__version__})"


def to_numpy(x: Any) -> np.ndarray:
    """Bring an array (NumPy or CuPy) to host memory."""
    if hasattr(x, "get"):
        return x.get()
    return np.asarray(x)


def to_device_csr(matrix: Any) -> Any:
    """Copy a SciPy sparse matrix to the GPU as a ``cupyx.scipy.sparse.csr_matrix``."""
    import cupyx.scipy.sparse as csp
    import scipy.sparse as sp

    return csp.csr_matrix(sp.csr_matrix(matrix))
