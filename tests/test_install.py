"""Installable anywhere: the wheel, installed into a fresh virtual environment
outside the checkout, runs a search from another directory.

To stay quick, the new environment reuses this interpreter's installed
dependencies (TensorFlow, Ray, ...) through a .pth file and installs only the
wheel, with --no-deps. The checkout (on PYTHONPATH, or installed editable here)
cannot leak in: the test checks that actsearch is imported from the new
environment.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from support import ROOT

pytestmark = pytest.mark.slow


def _run(args: list[str | Path], cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the package sources (the checkout stays clean)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "actsearch", src / "actsearch", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("dist")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", out, src],
        cwd=src,
        env=env,
    )
    (built,) = out.glob("actsearch-*.whl")
    return built


def test_wheel_ships_spaces_license_and_types(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {
        "actsearch/search_spaces/default.yaml",
        "actsearch/search_spaces/seed.yaml",
        "actsearch/py.typed",
        "actsearch/store/alembic.ini",
    } <= set(names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE") for n in names)
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)


def test_wheel_in_a_fresh_venv_searches_from_another_directory(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path, env=dict(os.environ))
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    new_site = Path(
        _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path, env=env).strip()
    )
    # the dependencies of this interpreter, without processing its .pth files (the editable checkout)
    ours = [p for p in [*site.getsitepackages(), sysconfig.get_paths()["purelib"]] if Path(p).is_dir()]
    (new_site / "_actsearch_test_deps.pth").write_text("\n".join(dict.fromkeys(ours)) + "\n")
    _run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index", wheel],
        cwd=tmp_path,
        env=env,
    )

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = _run(
        [python, "-c", "import actsearch; print(actsearch.__file__, actsearch.__version__)"], cwd=elsewhere, env=env
    )
    assert where.startswith(str(venv)), where
    assert not where.split()[1].startswith("0+"), where  # the version comes from the installed metadata

    out = _run(
        [
            venv / "bin" / "actsearch",
            "search",
            "--space",
            "seed",
            "--population",
            "4",
            "--generations",
            "1",
            "--executor",
            "local",
            "--epochs",
            "2",
            "--reevaluate-top",
            "0",  # no re-check: 32 trainings fewer
            "--db",
            "results/actsearch.db",
            "--run",
            "wheel",
        ],
        cwd=elsewhere,
        env=env,
    )
    assert "leaderboard" in out and "(baseline)" in out and "re-checking" not in out, out
    assert (elsewhere / "results" / "actsearch.db").is_file()
    out = _run(
        [venv / "bin" / "actsearch", "report", "--run", "wheel", "--db", "results/actsearch.db"], cwd=elsewhere, env=env
    )
    assert (elsewhere / "results" / "reports" / "wheel.png").is_file(), out  # beside the store
    assert not (elsewhere / "runs").exists()
