"""The house's shape: no import cycle inside `app/`, every import pointing down the layers.

The import graph is grimp's (import-linter's engine). It holds every import
statement of every module, those inside functions (lazy) and under
`if TYPE_CHECKING:` included, so a cycle cannot hide behind either. The
layers are the `[importlinter]` contract in setup.cfg, drawn in
docs/architecture.md.
"""
from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]


def app_graph():
    return grimp.build_graph("app", include_external_packages=False, exclude_type_checking_imports=False)


def import_cycles(graph) -> list[list[str]]:
    """One shortest cycle through each import that has a way back to its importer."""
    cycles, seen = [], set()
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is None:
                continue
            cycle = [importer, *back]
            key = frozenset(cycle)
            if key not in seen:
                seen.add(key)
                cycles.append(cycle)
    return cycles


def test_no_import_cycles_inside_app():
    cycles = import_cycles(app_graph())
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_cycle_finder_sees_lazy_and_type_checking_imports(tmp_path, monkeypatch):
    # A cycle made only of a function-level import and a TYPE_CHECKING import is still found.
    package = tmp_path / "cyclic"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from cyclic import b\n    return b\n")
    (package / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                  "    from cyclic import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("cyclic", include_external_packages=False, exclude_type_checking_imports=False)
    assert [set(c) for c in import_cycles(graph)] == [{"cyclic.a", "cyclic.b"}]


def test_every_import_points_down_the_layers():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache", str(ROOT / "setup.cfg")],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_the_layers_name_every_package_of_app():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    layers = config["importlinter:contract:layers"]["layers"]
    named = {name.strip() for line in layers.splitlines() for name in line.split("|") if name.strip()}
    packages = {f"app.{p.name}" for p in (ROOT / "app").iterdir() if (p / "__init__.py").exists()}
    modules = {f"app.{p.stem}" for p in (ROOT / "app").glob("*.py") if p.stem != "__init__"}
    assert packages | modules == named
    assert len(modules) <= 6, f"the root of app/ holds only the factory and its like: {sorted(modules)}"
