"""Every benchmark under bench/ imports: a refactor that moves a helper it uses breaks it here,
not on the next person's run (bench.call_latency once imported a name bench.servers no
longer had)."""

import importlib
import pkgutil

import pytest

import bench

MODULES = sorted(m.name for m in pkgutil.iter_modules(bench.__path__))


def test_the_benchmarks_are_all_found():
    assert {"call_latency", "greeting", "turns", "servers"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_every_benchmark_imports(name):
    module = importlib.import_module(f"bench.{name}")
    if hasattr(module, "main"):
        assert callable(module.main)
