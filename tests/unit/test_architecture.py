"""The architecture contract's own cycle finder (``tests/architecture.py``, run by
``lint-imports``): it finds every cycle and only cycles."""

import grimp

from tests.architecture import cycles


def graph(*imports: tuple[str, str]) -> grimp.ImportGraph:
    built = grimp.ImportGraph()
    for importer, imported in imports:
        built.add_import(importer=importer, imported=imported)
    return built


def test_a_chain_has_no_cycle() -> None:
    assert cycles(graph(("app.a", "app.b"), ("app.b", "app.c"), ("app.a", "app.c")), "app") == []


def test_each_cycle_is_found_once_with_all_its_modules() -> None:
    found = cycles(
        graph(
            ("app.a", "app.b"),
            ("app.b", "app.c"),
            ("app.c", "app.a"),  # a -> b -> c -> a
            ("app.d", "app.a"),  # into the cycle, not part of it
            ("app.e", "app.f"),
            ("app.f", "app.e"),  # a second one
        ),
        "app",
    )
    assert found == [["app.a", "app.b", "app.c"], ["app.e", "app.f"]]


def test_a_module_importing_itself_is_a_cycle() -> None:
    assert cycles(graph(("app.a", "app.a")), "app") == [["app.a"]]


def test_only_the_package_s_modules_count() -> None:
    # A loop through a module outside the package is not the package's.
    assert cycles(graph(("app.a", "other.b"), ("other.b", "app.a")), "app") == []


def test_a_long_chain_does_not_hit_the_recursion_limit() -> None:
    chain = [(f"app.m{i}", f"app.m{i + 1}") for i in range(3000)]
    assert cycles(graph(*chain, ("app.m3000", "app.m0")), "app") == [
        sorted(f"app.m{i}" for i in range(3001))
    ]
