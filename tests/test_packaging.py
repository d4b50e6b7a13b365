"""The distribution: one top-level package, `confcast`, with every subpackage, template and script inside it.

pyproject.toml lists the packages one by one (the folders are renamed into `confcast.*` by package-dir, which
setuptools' discovery cannot do): a folder left out of that list would vanish from the wheel while the editable
install of a developer still found it. These tests catch that.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"config": "confcast.config", "flows": "confcast.flows", "tasks": "confcast.tasks"}
DATA_SUFFIXES = {".html", ".xml", ".js", ".css", ".ogg"}


def declared_packages() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return set(config["tool"]["setuptools"]["packages"])


def package_folders() -> dict[str, Path]:
    """Every folder of the source tree that installs as a package: it holds Python modules or data files."""
    found = {}
    for folder, package in FOLDERS.items():
        for path in [ROOT / folder, *sorted(p for p in (ROOT / folder).rglob("*") if p.is_dir())]:
            if path.name == "__pycache__":
                continue
            if any(f.suffix == ".py" or f.suffix in DATA_SUFFIXES for f in path.iterdir() if f.is_file()):
                parts = path.relative_to(ROOT / folder).parts
                found[".".join((package, *parts))] = path
    return found


def test_every_package_folder_is_declared() -> None:
    folders = package_folders()
    assert "confcast.tasks.media" in folders and "confcast.tasks.site.templates" in folders
    assert set(folders) == declared_packages()


def test_a_missing_package_is_noticed(tmp_path: Path) -> None:
    """The check above compares the two sets; a folder added without declaring it breaks the equality."""
    folders = set(package_folders())
    assert folders - (declared_packages() - {"confcast.tasks.media"}) == {"confcast.tasks.media"}


def test_python_folders_are_regular_packages() -> None:
    """A folder of modules without __init__.py would install as a namespace package, silently, or not at all."""
    missing = [
        name
        for name, path in package_folders().items()
        if any(path.glob("*.py")) and not (path / "__init__.py").is_file()
    ]
    assert missing == []


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    # Built from a copy: setuptools keeps build/ in the source tree, where files of an earlier build would linger.
    source = tmp_path_factory.mktemp("source") / "confcast"
    generated = (".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".hypothesis", ".pytest_cache")
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*generated, "test-artifacts", ".work"))
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (path,) = out.glob("confcast-*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def test_wheel_top_level_is_confcast_only(wheel: zipfile.ZipFile) -> None:
    top = {name.split("/")[0] for name in wheel.namelist()}
    dist_info = {name for name in top if name.endswith(".dist-info")}
    assert top - dist_info == {"confcast"}
    assert len(dist_info) == 1


def test_wheel_holds_every_module_template_and_script(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for name, path in package_folders().items():
        for file in path.iterdir():
            if file.is_file() and (file.suffix == ".py" or file.suffix in DATA_SUFFIXES):
                assert f"{name.replace('.', '/')}/{file.name}" in names, file
    assert "confcast/tasks/site/templates/conference.html" in names
    assert "confcast/tasks/site/static/player.js" in names


def test_wheel_entry_point_is_the_namespaced_cli(wheel: zipfile.ZipFile) -> None:
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    assert "confcast = confcast.flows.cli:main" in wheel.read(entry_points).decode()


def test_editable_install_imports_from_this_checkout() -> None:
    """The installed `confcast` (editable, by scripts/install.sh) is this tree, under its namespaced names only."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import importlib.util as u, confcast.tasks.site.pages as p; print(p.__file__);"
            "print(u.find_spec('tasks'), u.find_spec('flows'), u.find_spec('config'))",
        ],
        capture_output=True,
        text=True,
        cwd="/",  # not the checkout: its folders must not be importable by their bare names
    )
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert Path(first) == ROOT / "tasks" / "site" / "pages.py"
    assert second == "None None None"
    assert metadata.version("confcast")


def test_the_cli_loads_without_the_test_extras() -> None:
    """The README's main install has no test extras: no command may import them when the CLI loads."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    extras = [requirement.split("=")[0].split(">")[0].split("<")[0].split("[")[0].strip()
              for requirement in config["project"]["optional-dependencies"]["test"]]
    blocked = ", ".join(f"{name.replace('-', '_')!r}: None" for name in extras if name != "ruff")
    code = (f"import sys; sys.modules.update({{{blocked}}}); "
            "from confcast.flows.cli import app; from typer.main import get_command; get_command(app); print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_every_deployment_of_prefect_yaml_is_a_flow_of_the_package() -> None:
    """`prefect deploy --all` imports each entrypoint on the workers: a renamed flow or module must fail here."""
    import importlib

    import yaml
    from prefect import Flow

    deployments = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))["deployments"]
    assert {"publish-conference", "publish-event", "scan-inbox", "rebuild-site"} <= {d["name"] for d in deployments}
    for deployment in deployments:
        module, name = deployment["entrypoint"].split(":")
        flow = getattr(importlib.import_module(module), name)
        assert isinstance(flow, Flow) and flow.name == deployment["name"], deployment
