"""The layering of Retouch, checked: import-linter contracts plus what a bare import really loads."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if exe is None:
        pytest.skip("import-linter is not installed")
    proc = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "broken" in proc.stdout and " 0 broken" in proc.stdout


def loaded_after(imports: str) -> set[str]:
    code = f"import sys\n{imports}\nprint('\\n'.join(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


def test_engine_runtime_loads_neither_torch_nor_qt() -> None:
    mods = loaded_after("import engine, engine.cli, engine.render, engine.lut, engine.recipe, engine.io\n"
                        "import numpy as np\n"
                        "from engine.recipe import Recipe, Step\n"
                        "engine.render.render(Recipe([Step('saturation', {'amount': 0.3})]), "
                        "np.full((4, 4, 3), 0.3, np.float32))")
    assert "numba" in mods  # the fast path really ran
    heavy = {m.split(".")[0] for m in mods} & {"torch", "PySide6", "shiboken6", "superqt", "app", "models"}
    assert not heavy


def _every_module(package: str) -> str:
    """Source importing every module of ``package``: a lazy or importlib import that the static
    contracts cannot see still shows in ``sys.modules``."""
    names = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                   for p in (ROOT / package).rglob("*.py"))
    assert len(names) > 10
    return "\n".join(f"import {n}" for n in names)


@pytest.mark.parametrize(("package", "forbidden"), [
    ("engine", {"torch", "PySide6", "shiboken6", "qtpy", "superqt", "app", "models", "retouch"}),
    ("app", {"torch", "models"}),
])
def test_every_module_of_a_layer_imports_light(package: str, forbidden: set[str]) -> None:
    mods = loaded_after(_every_module(package))
    assert f"{package}.window" in mods or package != "app"
    assert not {m.split(".")[0] for m in mods} & forbidden


def test_cli_help_is_light() -> None:
    """`retouch --help` builds every subcommand's parser without importing numba, torch or Qt."""
    mods = loaded_after("from retouch.main import build_parser\nbuild_parser().format_help()")
    assert not {m.split(".")[0] for m in mods} & {"torch", "PySide6", "numba", "rawpy"}
