"""The import graph of the installed package: no cycles, production never imports measuring or demo code, and each
third-party library behind the few modules named for it (the architecture in README.md).

The graph is read from the source with `ast`, so an import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The installed package: top-level folders become subpackages of `confcast` (pyproject.toml, package-dir).
FOLDERS = {"config": "confcast.config", "flows": "confcast.flows", "tasks": "confcast.tasks"}

# The command line may defer an import of the project until Prefect's environment is set (Prefect reads it at
# import): only these modules may import project modules inside a function.
DEFERRING_MODULES = {"confcast.flows.cli", "confcast.flows.bench"}

# Code that only measures or makes the demo; only the CLI (and each other) may import it.
NOT_FOR_PRODUCTION = ("confcast.tasks.bench", "confcast.tasks.demo")
MAY_IMPORT_BENCH_AND_DEMO = (
    "confcast.flows.cli",
    "confcast.flows.bench",
    "confcast.tasks.bench",
    "confcast.tasks.demo",
)

# Third-party library -> the modules allowed to import it (its adapters).
ADAPTERS = {
    "boto3": {"confcast.tasks.storage.s3"},
    "botocore": {"confcast.tasks.storage.s3"},
    "jinja2": {"confcast.tasks.site.pages"},
    "cryptography": {"confcast.tasks.storage.seaweedfs"},  # the embedded server's private TLS certificates
    "anyascii": {"confcast.tasks.metadata"},
    "ffmpeg": {"confcast.tasks.media.ffmpeg"},
    "faster_whisper": {
        "confcast.tasks.transcription.faster_whisper_engine",
        "confcast.tasks.transcription.vad",  # the Silero VAD model ships inside faster-whisper
        "confcast.tasks.transcription.model_lookup",  # its table of model names on the Hugging Face hub
    },
    "ctranslate2": {"confcast.tasks.transcription.faster_whisper_engine"},
    "whisper": {"confcast.tasks.transcription.openai_whisper_engine"},
    "torch": {"confcast.tasks.transcription.openai_whisper_engine", "confcast.tasks.transcription.convert"},
    "pagefind": {"confcast.tasks.site.pagefind_index"},
    "playwright": {"confcast.tasks.bench.search"},  # bench search measures a first search in Chromium
    "fastapi": {"confcast.flows.review"},  # the local review editor's server
    "uvicorn": {"confcast.flows.review"},
    "starlette": set(),  # reached through fastapi only
}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    in_function: bool


def module_files() -> dict[str, Path]:
    modules = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join((package, *parts))] = path
    return modules


def imports_of(module: str, path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    inside = {id(child) for f in functions for child in ast.walk(f) if child is not f}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno, id(node) in inside)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # `from pkg import module` imports the module
                yield Import(module, f"{base}.{alias.name}", node.lineno, id(node) in inside)


def project_graph() -> tuple[dict[str, set[str]], list[Import]]:
    modules = module_files()
    every = [imp for name, path in modules.items() for imp in imports_of(name, path)]
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for imp in every:
        target = resolve(imp.imported, modules)
        if target is not None and target != imp.importer:
            graph[imp.importer].add(target)
    return graph, every


def resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module an import names (`confcast.tasks.models.Conference` -> `confcast.tasks.models`)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each a cycle to break."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_cycle_finder_sees_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_is_read_whole() -> None:
    graph, _ = project_graph()
    assert "confcast.flows.publish" in graph and "confcast.tasks.models" in graph
    assert "confcast.tasks.models" in graph["confcast.tasks.site.layout"]


def test_no_import_cycles() -> None:
    graph, _ = project_graph()
    assert find_cycles(graph) == []


def test_project_imports_inside_functions_only_where_the_cli_defers_prefect() -> None:
    _, every = project_graph()
    modules = module_files()
    deferred = [
        f"{imp.importer}:{imp.line} imports {imp.imported}"
        for imp in every
        if imp.in_function and resolve(imp.imported, modules) and imp.importer not in DEFERRING_MODULES
    ]
    assert deferred == []


def test_production_code_never_imports_the_benchmarks_or_the_demo() -> None:
    _, every = project_graph()
    wrong = [
        f"{imp.importer}:{imp.line} imports {imp.imported}"
        for imp in every
        if imp.imported.startswith(NOT_FOR_PRODUCTION) and not imp.importer.startswith(MAY_IMPORT_BENCH_AND_DEMO)
    ]
    assert wrong == []


@pytest.mark.parametrize("library", sorted(ADAPTERS))
def test_each_library_behind_its_adapter(library: str) -> None:
    _, every = project_graph()
    importers = {
        imp.importer
        for imp in every
        if (imp.imported == library or imp.imported.startswith(library + "."))
        and not imp.importer.startswith("confcast.tasks.bench")
    }
    assert importers <= ADAPTERS[library], (
        f"{library} imported outside its adapter: {sorted(importers - ADAPTERS[library])}"
    )
