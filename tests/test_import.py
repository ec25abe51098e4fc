"""The core imports nothing outside the standard library, and the public names exist."""

from __future__ import annotations

import json
import subprocess
import sys

import agent_runtime_core


def test_importing_the_core_pulls_in_no_third_party_module(python: str, subprocess_env: dict[str, str]) -> None:
    code = (
        "import sys, json\n"
        "before = set(sys.modules)\n"
        "import agent_runtime_core, agent_runtime_core.llm, agent_runtime_core.testing, agent_runtime_core.steps\n"
        "import agent_runtime_core.events, agent_runtime_core.state, agent_runtime_core.queue, agent_runtime_core.tracing\n"
        "import agent_runtime_core.cli\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "print(json.dumps(sorted(new - set(sys.stdlib_module_names) - {'agent_runtime_core', '_distutils_hack'})))\n"
    )
    out = subprocess.run([python, "-c", code], env=subprocess_env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []


def test_public_names_exist() -> None:
    for name in agent_runtime_core.__all__:
        assert hasattr(agent_runtime_core, name), name
    assert sys.version_info >= (3, 11)


def test_missing_extra_names_the_extra(python: str, subprocess_env: dict[str, str]) -> None:
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'openai' or name.startswith('openai.'):\n"
        "            raise ImportError('No module named openai')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from agent_runtime_core.llm import get_llm_client\n"
        "try:\n"
        "    get_llm_client('openai', api_key='sk-x-1234567890')\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([python, "-c", code], env=subprocess_env, capture_output=True, text=True, timeout=60)
    assert "pip install 'agent-runtime-core[openai]'" in out.stdout, out.stdout + out.stderr
