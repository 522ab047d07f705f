"""``lfqcd info`` (issue #2, "Done means: lfqcd info works"), in-process and as the console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy

import lfqcd
from lfqcd.cli import main
from lfqcd.eigen import available_backends


def test_info_in_process(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"lfqcd {lfqcd.__version__} on ")
    assert f"numpy       {np.__version__}" in out
    assert f"scipy       {scipy.__version__}" in out
    usable = ", ".join(b for b, ok in available_backends().items() if ok)
    assert f"eigensolver backends: {usable}\n" in out
    assert "scipy, dense" in usable
    assert "\nGPU: " in out


def test_info_json(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert set(info) == {"versions", "eigensolver_backends", "gpu", "platform"}
    assert info["versions"]["lfqcd"] == lfqcd.__version__
    assert info["versions"]["numpy"] == np.__version__
    assert info["eigensolver_backends"] == available_backends()
    assert isinstance(info["gpu"], str) and info["gpu"]


def _console_script() -> str:
    """The installed ``lfqcd`` entry point next to this interpreter, else on PATH."""
    here = Path(sys.executable).with_name("lfqcd")
    found = str(here) if here.exists() else shutil.which("lfqcd")
    if found is None:
        pytest.fail("console script 'lfqcd' not installed: run `python -m pip install -e .[dev]`")
    return found


def test_info_console_script():
    proc = subprocess.run([_console_script(), "info"], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"lfqcd {lfqcd.__version__} on ")
    assert "eigensolver backends: auto, scipy, dense" in proc.stdout


def test_info_does_not_import_torch():
    """cli.py: "lfqcd info does not pay for torch" - neither info (versions come from package
    metadata) nor the subcommand modules the parser imports may import torch at module level."""
    code = ("import sys; from lfqcd.cli import main; rc = main(['info']); "
            "print('TORCH_LOADED', 'torch' in sys.modules); sys.exit(rc)")
    root = str(Path(lfqcd.__file__).resolve().parents[1])
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          check=False, cwd=root, env={**os.environ, "PYTHONPATH": root})
    assert proc.returncode == 0, proc.stderr
    assert "TORCH_LOADED False" in proc.stdout, proc.stdout


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "info" in capsys.readouterr().out


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"lfqcd {lfqcd.__version__}"


def test_info_prints_basis_sizes_per_sector(capsys):
    assert main(["info", "--h", "0.4", "--kappa-max", "12", "--max-links", "3"]) == 0
    out = capsys.readouterr().out
    assert "basis static h=0.4 kappa_max=12 (N=30), max_links = 3" in out
    assert "sector 2:        129,920 states   (<= 2 links: 133,460)" in out
    assert "sector 3:      3,507,840 states   (<= 3 links: 3,641,300)" in out


def test_info_basis_sizes_json_and_dlcq(capsys):
    assert main(["info", "--K", "12", "--max-links", "2", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["sectors"] == [48, 1056, 14080]
    assert table["total"] == 15184


def test_info_basis_sizes_bad_input(capsys):
    assert main(["info", "--h", "0.4", "--max-links", "3"]) == 2
    assert "basis sizes need --h and --kappa-max" in capsys.readouterr().err
    assert main(["info", "--K", "12", "--max-links", "4"]) == 2
    assert "max_links=4 is outside the supported range 0..3" in capsys.readouterr().err


def test_info_basis_sizes_with_a_link_momentum_cap(capsys):
    from lfqcd.basis import static_basis

    assert main(["info", "--h", "0.5", "--kappa-max", "3.5", "--max-links", "3",
                 "--link-kappa-max", "2.0", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["total"] == static_basis(0.5, 3.5, max_links=3, link_kappa_max=2.0).dim
    assert main(["info", "--K", "8", "--link-kappa-max", "2.0"]) == 2
    assert "--link-kappa-max applies to static bases" in capsys.readouterr().err
