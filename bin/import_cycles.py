#!/usr/bin/env python3
"""Fail on any import circle among the project's own modules.

    python bin/import_cycles.py            # the root packages .importlinter names
    python bin/import_cycles.py PKG ...    # these packages instead (importable from the cwd)

Every import counts: at module level, inside a function, under ``if TYPE_CHECKING``. An import
hidden in a function still makes the modules depend on each other; a circle is a design question,
not something to dodge. The import graph is grimp's (the one import-linter checks its contracts
on). import-linter's ``acyclic_siblings`` contract (.importlinter) forbids circles between the
parts of one package; this check also sees circles between modules of different root packages
(``project.x -> orders.y -> project.x``), and those through a package's ``__init__``.

Exit codes: 0 no circle; 1 circles found (each printed, shortest first); 2 bad usage.
"""

from __future__ import annotations

import configparser
import sys
from pathlib import Path

import grimp


def root_packages(config: Path) -> list[str]:
    """The root packages import-linter analyses (one list for both checks)."""
    parser = configparser.ConfigParser()
    parser.read(config)
    return parser.get("importlinter", "root_packages").split()


def find_circles(graph: grimp.ImportGraph) -> list[tuple[str, ...]]:
    """One shortest circle through every direct import that is part of one, each circle once."""
    circles: dict[frozenset[str], tuple[str, ...]] = {}
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is None:
                continue
            circle = (importer, *back)  # importer -> imported -> ... -> importer
            circles.setdefault(frozenset(circle), circle)
    return sorted(circles.values(), key=lambda circle: (len(circle), circle))


def main(argv: list[str]) -> int:
    if any(arg.startswith("-") for arg in argv):
        print(__doc__, file=sys.stderr)
        return 2
    packages = argv or root_packages(Path(".importlinter"))
    sys.path.insert(0, str(Path.cwd()))
    graph = grimp.build_graph(*packages, cache_dir=None)
    circles = find_circles(graph)
    for circle in circles:
        print(f"import circle: {' -> '.join(circle)}")
    print(f"{len(circles)} import circle(s) among {len(graph.modules)} modules of {', '.join(packages)}")
    return 1 if circles else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
