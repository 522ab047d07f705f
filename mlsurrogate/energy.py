"""Measured energy where a hardware counter exists, otherwise an explicit "not measured".

Counters: GPU energy from NVML (``nvmlDeviceGetTotalEnergyConsumption``,
mJ since driver load), CPU package energy from RAPL (``/sys/class/powercap/intel-rapl:N/
energy_uj``, wrapping at ``max_energy_range_uj``). Nothing else counts as a measurement: no
TDP x time guesses, no CodeCarbon constant mode. On a machine without counters (such as the
2-core development VM: no ``/sys/class/powercap``, no GPU) every reading is
``energy_j=None, source="none"`` with the note "not measured (...)"; the modeled energy of
:mod:`mlsurrogate.costmodel` is reported separately and labelled "modeled".
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["EnergyMeter", "EnergyReading", "available_counters"]

NOT_MEASURED = "not measured (no RAPL/NVML counter available)"


@dataclass
class EnergyReading:
    """One measured window. ``energy_j`` is None unless a real counter was read."""

    energy_j: float | None
    source: str  # "nvml_counter" | "rapl_counter" | "none"
    scope: str
    duration_s: float
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Rapl:
    """Top-level RAPL package zones under ``root`` (``intel-rapl:N``, also used by AMD)."""

    def __init__(self, root: Path) -> None:
        self.zones: list[tuple[Path, float]] = []
        if not root.is_dir():
            return
        for zone in sorted(root.glob("intel-rapl:*")):
            if zone.name.count(":") != 1:  # skip sub-zones (core, dram) to avoid double counting
                continue
            try:
                int((zone / "energy_uj").read_text())
                wrap = float((zone / "max_energy_range_uj").read_text())
            except (OSError, ValueError):
                continue  # absent or root-only (RAPL side-channel mitigation)
            self.zones.append((zone, wrap))

    def read(self) -> list[float]:
        return [float((z / "energy_uj").read_text()) for z, _ in self.zones]

    def delta_j(self, start: list[float], stop: list[float]) -> float:
        total = 0.0
        for (_, wrap), a, b in zip(self.zones, start, stop, strict=True):
            total += (b - a) if b >= a else (wrap - a + b)  # counter wrapped once
        return total * 1e-6


class _Nvml:
    def __init__(self, device_index: int) -> None:
        import pynvml  # nvidia-ml-py; optional extra "energy"

        pynvml.nvmlInit()
        self._nvml = pynvml
        self.handle = pynvml.nvmlDeviceGetHandleByIndex(device_index)
        self.read()  # raises on GPUs older than Volta

    def read(self) -> float:
        return float(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))  # mJ


def available_counters(
    rapl_root: str | Path = "/sys/class/powercap", device_index: int | None = None
) -> dict[str, bool]:
    """Which energy counters this process can read: ``{"nvml": bool, "rapl": bool}``."""
    return {"nvml": _try_nvml(device_index) is not None, "rapl": bool(_Rapl(Path(rapl_root)).zones)}


def _try_nvml(device_index: int | None) -> _Nvml | None:
    if device_index is None:
        return None
    try:
        return _Nvml(device_index)
    except Exception:  # noqa: BLE001 - no pynvml, no driver, no GPU or unsupported: not available
        return None


class EnergyMeter:
    """Measure the energy of a window with the best available counter.

    ``gpu_index`` (this rank's CUDA device) enables NVML; ``use_rapl`` enables RAPL (give it to
    one rank per machine only: RAPL covers the whole package). Use as a context manager or with
    :meth:`start`/:meth:`stop`; :attr:`reading` holds the last result.
    """

    def __init__(
        self,
        gpu_index: int | None = None,
        use_rapl: bool = True,
        rapl_root: str | Path = "/sys/class/powercap",
    ) -> None:
        self._nvml = _try_nvml(gpu_index)
        self._rapl = _Rapl(Path(rapl_root)) if use_rapl and self._nvml is None else None
        if self._rapl is not None and not self._rapl.zones:
            self._rapl = None
        self._gpu_index = gpu_index
        self._t0 = 0.0
        self._start: Any = None
        self.reading: EnergyReading | None = None

    @property
    def source(self) -> str:
        return "nvml_counter" if self._nvml else ("rapl_counter" if self._rapl else "none")

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self._start = self._nvml.read() if self._nvml else (self._rapl.read() if self._rapl else None)

    def stop(self) -> EnergyReading:
        dt = time.perf_counter() - self._t0
        if self._nvml is not None:
            e = (self._nvml.read() - self._start) * 1e-3
            r = EnergyReading(e, "nvml_counter", f"gpu:{self._gpu_index}", dt,
                              "NVML total-energy counter difference (updates every ~20-100 ms)")
        elif self._rapl is not None:
            e = self._rapl.delta_j(self._start, self._rapl.read())
            r = EnergyReading(e, "rapl_counter",
                              f"cpu packages ({len(self._rapl.zones)}), whole machine", dt,
                              "RAPL energy_uj difference, gross (includes idle power)")
        else:
            r = EnergyReading(None, "none", "none", dt, NOT_MEASURED)
        self.reading = r
        return r

    def __enter__(self) -> EnergyMeter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
