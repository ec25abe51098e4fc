"""The run viewer in a real headless Chromium (no root, no browser download at run time: the
binary comes from the npm package @sparticuz/chromium, or CHROMIUM_PATH): a run's timeline fills
in live, another run is cancelled, an interrupt is answered. Screenshots are kept in
`.artifacts/serve/` (or $ARTIFACTS_DIR)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx

from agent_runtime_core import AgentRunner, RunnerConfig
from agent_runtime_core.serve import create_app
from agent_runtime_core.serve.demo import demo_agents

from .conftest import KEY_A, WaitingAgent, serve_app
from .support import require_js, run_node

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR", ROOT / ".artifacts")) / "serve"


async def test_the_viewer_shows_runs_live_cancels_and_answers() -> None:
    require_js("playwright-core")
    require_js("@sparticuz/chromium")
    runner = AgentRunner(RunnerConfig(max_retries=0, run_timeout_seconds=120))
    app = create_app(runner, agents=[*demo_agents(pace=0.03), WaitingAgent()], api_keys=[KEY_A])
    async with serve_app(app) as url:
        seen = await run_node("viewer_check.mjs", {"url": f"{url}/", "apiKey": KEY_A, "artifacts": str(ARTIFACTS)}, timeout=240)
        headers = {"Authorization": f"Bearer {KEY_A}"}
        async with httpx.AsyncClient(base_url=url, headers=headers) as client:
            statuses = {r["run_id"]: r for r in (await client.get("/runs")).json()["runs"]}
    assert seen["errors"] == [], seen["errors"]
    assert seen["askedForKey"] and "research-assistant" in seen["agents"] and "waits" in seen["agents"]
    # Live: tokens were on screen while the run was still running, and more came after.
    live, done = seen["whileStreaming"], seen["finished"]
    assert live["status"] == "running" and live["text"].strip()
    assert live["items"] < done["items"]
    assert done["status"] == "succeeded" and statuses[done["runId"]]["status"] == "succeeded"
    assert done["steps"] == ["plan", "search", "write"]  # nested steps, in order
    assert sorted(done["tools"]) == ["get_weather", "search_web"]
    assert done["checkpoints"] == 3 and done["llmTexts"] >= 2
    assert "pack light" in json.loads(done["output"])["response"]
    assert done["events"] == statuses[done["runId"]]["last_seq"]
    # Cancelled from the page, and the server agrees.
    assert seen["cancelled"]["status"] == "cancelled" and seen["cancelled"]["cancelHidden"]
    assert statuses[seen["cancelled"]["runId"]]["status"] == "cancelled"
    # Interrupt answered from the page: the run resumed and sent the email.
    assert seen["interrupt"] == {"status": "interrupted", "question": "Send this email to the team?"}
    answered = seen["answered"]
    assert answered["status"] == "succeeded" and answered["formHidden"] and answered["tools"] == ["send_email"]
    assert answered["answer"] == "Sent the email."
    assert statuses[answered["runId"]]["result"]["final_output"]["sent"] is True
    assert seen["replayed"]["items"] == done["items"] and seen["replayed"]["runs"] == 3
    for name in ("01-streaming.png", "02-succeeded.png", "03-cancelled.png", "04-interrupt.png", "05-answered.png", "viewer.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000, name
