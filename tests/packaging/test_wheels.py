"""Every distribution (the core and each adapter) build, and install from their wheel files alone, by name.

`make test-packaging` runs this in .venv-all (it needs `build`, `hatchling` and the
frameworks). The core and each adapter are built with `python -m build --no-isolation` (sdist,
then the wheel from that sdist; hatchling comes from this environment) into a temporary folder,
then:

1. No METADATA carries a direct reference (`name @ url`): the core's extras name the adapters,
   and each adapter names the core, like any other requirement.
2. A fresh virtual environment (`python -m venv`: its own pip, no pip configuration, no index)
   installs `agent-runtime-core` with `--no-index --find-links DIR`: the core has no
   dependencies, so this is a complete install from the files and nothing else.
3. The same environment then installs `agent-runtime-core[<every adapter extra>]`, still
   with `--no-index --find-links DIR`: pip must resolve each adapter by name through the core's
   extras, and their requirement on the core by name, from the wheels in DIR.
4. Outside the checkout, that environment imports the core and each adapter's runtime class from
   its own site-packages, and the console script `agent-runtime` runs.

The frameworks (LangGraph, CrewAI, the OpenAI Agents SDK and what they pull in, about 1.3 GB) are
in no file here, and fetching them would need the network and minutes. For step 3 the fresh
environment therefore sees this environment's third-party packages: a `.pth` file adds a folder
of symbolic links to them, leaving out this checkout's own distributions. pip finds the
frameworks already installed, exactly as on a machine that has them, and must still install our
four distributions from the wheels (its report says what it installed and from where). So the
test proves what our packaging can break (names, versions, extras, no file:// reference, the
files inside each wheel, the entry point) and takes the frameworks' own packaging as given.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
# distribution name -> (source folder, import name, a name its package exports)
DISTRIBUTIONS = {
    "agent-runtime-core": (ROOT, "agent_runtime_core", "AgentRunner"),
    "agent-runtime-langgraph": (
        ROOT / "adapters" / "langgraph",
        "agent_runtime_langgraph",
        "LangGraphRuntime",
    ),
    "agent-runtime-crewai": (ROOT / "adapters" / "crewai", "agent_runtime_crewai", "CrewAIRuntime"),
    "agent-runtime-openai-agents": (
        ROOT / "adapters" / "openai_agents",
        "agent_runtime_openai_agents",
        "OpenAIAgentsRuntime",
    ),
    "agent-runtime-pydantic-ai": (
        ROOT / "adapters" / "pydantic_ai",
        "agent_runtime_pydantic_ai",
        "PydanticAIRuntime",
    ),
    "agent-runtime-google-adk": (
        ROOT / "adapters" / "google_adk",
        "agent_runtime_google_adk",
        "GoogleADKRuntime",
    ),
}
ADAPTER_EXTRAS = {
    "langgraph": "agent-runtime-langgraph",
    "crewai": "agent-runtime-crewai",
    "openai-agents": "agent-runtime-openai-agents",
    "pydantic-ai": "agent-runtime-pydantic-ai",
    "google-adk": "agent-runtime-google-adk",
}
TIMEOUT = 240


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _clean_env() -> dict[str, str]:
    """No pip configuration (files or PIP_* variables), no PYTHONPATH pointing at the checkout."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        args, cwd=cwd, env=_clean_env(), capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode == 0, f"{args} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def dist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdists and wheels of the four distributions, built side by side."""
    out = tmp_path_factory.mktemp("dist")
    builds = [
        (
            name,
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "build",
                    "--no-isolation",
                    "--outdir",
                    str(out / name),
                    str(src),
                ],
                cwd=out,
                env=_clean_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            ),
        )
        for name, (src, _, _) in DISTRIBUTIONS.items()
    ]
    for name, proc in builds:
        output, _ = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0, f"building {name} failed:\n{output}"
    flat = out / "all"
    flat.mkdir()
    for path in out.glob("*/*"):
        if path.parent != flat:
            path.rename(flat / path.name)
    return flat


def _metadata(wheel: Path) -> dict[str, list[str]]:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        message = Parser().parsestr(zf.read(name).decode())
    return {key: message.get_all(key) or [] for key in ("Name", "Requires-Dist", "Provides-Extra")}


def _wheel(dist_dir: Path, name: str) -> Path:
    wheels = list(dist_dir.glob(f"{name.replace('-', '_')}-*.whl"))
    assert len(wheels) == 1, (name, sorted(p.name for p in dist_dir.iterdir()))
    return wheels[0]


def test_every_distribution_builds_an_sdist_and_a_wheel(dist_dir: Path) -> None:
    for name in DISTRIBUTIONS:
        stem = name.replace("-", "_")
        assert len(list(dist_dir.glob(f"{stem}-*.tar.gz"))) == 1, sorted(
            p.name for p in dist_dir.iterdir()
        )
        with zipfile.ZipFile(_wheel(dist_dir, name)) as zf:
            package = DISTRIBUTIONS[name][1]
            assert f"{package}/__init__.py" in zf.namelist()
            assert not [n for n in zf.namelist() if n.startswith(("tests/", ".venv"))]


def test_no_wheel_carries_a_direct_reference(dist_dir: Path) -> None:
    requirements = {
        name: [Requirement(r) for r in _metadata(_wheel(dist_dir, name))["Requires-Dist"]]
        for name in DISTRIBUTIONS
    }
    for name, requires in requirements.items():
        direct = [str(r) for r in requires if r.url is not None]
        assert not direct, f"{name} requires by URL: {direct}"
    core = _metadata(_wheel(dist_dir, "agent-runtime-core"))
    assert core["Name"] == ["agent-runtime-core"]
    by_name = {_norm(r.name): r for r in requirements["agent-runtime-core"]}
    for extra, adapter in ADAPTER_EXTRAS.items():
        assert extra in core["Provides-Extra"]
        requirement = by_name.get(adapter)
        assert requirement is not None and requirement.specifier.contains("0.1.0"), requirement
        assert requirement.marker is not None and requirement.marker.evaluate({"extra": extra}), (
            requirement
        )
    # The core needs nothing unless an extra is asked for.
    assert all(
        r.marker is not None and "extra" in str(r.marker)
        for r in requirements["agent-runtime-core"]
    )
    for adapter in ADAPTER_EXTRAS.values():
        core_requirement = [
            r for r in requirements[adapter] if _norm(r.name) == "agent-runtime-core"
        ]
        assert len(core_requirement) == 1 and core_requirement[0].marker is None, (
            adapter,
            requirements[adapter],
        )
        assert core_requirement[0].specifier.contains("0.1.0"), core_requirement


def _third_party_view(folder: Path) -> Path:
    """Symbolic links to this environment's installed packages, except this checkout's own."""
    folder.mkdir()
    site_packages = Path(sysconfig.get_paths()["purelib"])
    ours = {stem.replace("-", "_") for stem in DISTRIBUTIONS}
    skipped = (
        "pip",
        "setuptools",
        "_distutils_hack",
        "pkg_resources",
        "__editable__",
        "_virtualenv",
    )
    for entry in site_packages.iterdir():
        stem = entry.name.split("-", 1)[0] if entry.name.endswith(".dist-info") else entry.name
        if (
            entry.suffix == ".pth"
            or stem.startswith(tuple(ours))
            or stem.startswith(skipped)
            or stem == "__pycache__"
        ):
            continue
        (folder / entry.name).symlink_to(entry)
    return folder


def _pip_install(
    python: Path, dist_dir: Path, report: Path, *requirements: str
) -> list[dict[str, object]]:
    _run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--no-index",
            "--find-links",
            str(dist_dir),
            "--report",
            str(report),
            *requirements,
        ],
        cwd=report.parent,
    )
    installed: list[dict[str, object]] = json.loads(report.read_text())["install"]
    return installed


def test_wheels_install_from_files_alone_by_name(dist_dir: Path, tmp_path: Path) -> None:
    venv = tmp_path / "fresh"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"

    # The core alone: no dependency, so nothing but its wheel is needed.
    installed = _pip_install(python, dist_dir, tmp_path / "core.json", "agent-runtime-core")
    assert [_norm(str(item["metadata"]["name"])) for item in installed] == ["agent-runtime-core"]  # type: ignore[index]

    # The adapters through the core's extras, by name; the frameworks are already there.
    site_packages = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            cwd=tmp_path,
        ).stdout.strip()
    )
    view = _third_party_view(tmp_path / "third-party")
    (site_packages / "third_party_view.pth").write_text(f"{view}\n")
    extras = ",".join(ADAPTER_EXTRAS)
    installed = _pip_install(
        python, dist_dir, tmp_path / "adapters.json", f"agent-runtime-core[{extras}]"
    )
    names = sorted(_norm(str(item["metadata"]["name"])) for item in installed)  # type: ignore[index]
    assert names == sorted(ADAPTER_EXTRAS.values()), names
    for item in installed:
        url = str(item["download_info"]["url"])  # type: ignore[index]
        assert url.startswith("file://") and url.endswith(".whl") and str(dist_dir) in url, url
        assert not item["is_direct"], item  # found by name in --find-links, not given as a path

    # Imported outside the checkout, from the fresh environment's own site-packages.
    checks = "; ".join(
        f"import {module}; from {module} import {export}; "
        f"assert {module}.__file__.startswith({str(site_packages)!r}), {module}.__file__; "
        f"assert importlib.metadata.distribution({name!r}).read_text('direct_url.json') is None"
        for name, (_, module, export) in DISTRIBUTIONS.items()
    )
    _run(
        [str(python), "-I", "-c", f"import importlib.metadata; {checks}; print('ok')"], cwd=tmp_path
    )
    assert (
        "usage"
        in _run([str(venv / "bin" / "agent-runtime"), "--help"], cwd=tmp_path).stdout.lower()
    )
