"""An import-linter contract type of our own: no import cycle between the modules of a
package (``lint-imports``, configured in ``pyproject.toml``; ``make lint`` runs it).

import-linter's ``acyclic_siblings`` looks for cycles between sibling *packages*; the layers
contract orders packages. Neither says that no module of ``app`` reaches back to itself,
which is the property the architecture promises: every import, at module level or not,
points one way. This contract finds the strongly connected components of the module graph
(Tarjan) and reports each cycle found.
"""

from __future__ import annotations

from collections.abc import Iterator

import grimp
from importlinter import Contract, ContractCheck, fields, output


def cycles(graph: grimp.ImportGraph, package: str) -> list[list[str]]:
    """The import cycles among ``package``'s modules: each a strongly connected component of
    more than one module (or a module that imports itself), sorted."""
    modules = sorted(m for m in graph.modules if m == package or m.startswith(f"{package}."))
    inside = set(modules)
    edges = {
        m: sorted(graph.find_modules_directly_imported_by(m) & inside) for m in modules
    }  # fmt: skip
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strongconnect(root: str) -> None:
        # Tarjan's algorithm, iterative (a deep package must not hit the recursion limit).
        work: list[tuple[str, Iterator[str]]] = [(root, iter(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(edges[successor])))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in edges[node]:
                        found.append(sorted(component))

    for module in modules:
        if module not in index:
            strongconnect(module)
    return sorted(found)


class AcyclicModulesContract(Contract):
    """``packages``: no import cycle between any two modules of each package."""

    type_name = "acyclic_modules"

    packages = fields.ListField(subfield=fields.StringField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        found = {package: cycles(graph, package) for package in self.packages}  # type: ignore[attr-defined]
        found = {package: loops for package, loops in found.items() if loops}
        return ContractCheck(kept=not found, warnings=[], metadata={"cycles": found})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for package, loops in check.metadata["cycles"].items():
            for loop in loops:
                output.print_error(f"A cycle in {package}: {' <-> '.join(loop)}")
                output.new_line()
