"""AG-UI's real TypeScript client (`@ag-ui/client` HttpAgent, run by Node.js) against the server:
it verifies the event order itself (and throws on a violation), builds its messages from the
events, and resumes a cut stream with Last-Event-ID."""

from __future__ import annotations

import uuid
from typing import Any

from .conftest import KEY_A, Served
from .support import require_js, run_node


def options(served: Served, agent: str, **extra: Any) -> dict[str, Any]:
    return {
        "url": f"{served.url}/agui/{agent}",
        "apiKey": KEY_A,
        "threadId": "thread-js",
        "runId": str(uuid.uuid4()),
        "messages": [{"id": "u1", "role": "user", "content": "What's the weather in Paris?"}],
        **extra,
    }


async def test_the_typescript_client_runs_an_agent(served: Served) -> None:
    require_js("@ag-ui/client")
    out = await run_node("agui_client.mjs", options(served, "chatty"))
    assert "error" not in out, out["error"]
    types = [e["type"] for e in out["events"]]
    assert types[0] == "RUN_STARTED" and types[-1] == "RUN_FINISHED"
    assert {"STEP_STARTED", "TEXT_MESSAGE_CONTENT", "TOOL_CALL_START", "TOOL_CALL_RESULT", "CUSTOM"} <= set(types)
    assert out["result"] == {"response": "It is sunny in Paris."}
    # The client's own view of the conversation, built from the events.
    by_role = [(m["role"], m.get("content")) for m in out["messages"]]
    assert by_role[0] == ("user", "What's the weather in Paris?")
    assert ("assistant", "Let me check.") in by_role and ("tool", "sunny") in by_role
    assert ("assistant", "It is sunny in Paris.") in by_role
    call = next(m for m in out["messages"] if m.get("toolCalls"))["toolCalls"][0]
    assert call["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}


async def test_the_typescript_client_resumes_a_cut_stream(served: Served) -> None:
    require_js("@ag-ui/client")
    run_id = str(uuid.uuid4())
    first = await run_node("agui_client.mjs", options(served, "paced", stopAfter=6, runId=run_id, state={"pause": 0.05}))
    assert len(first["events"]) >= 6 and first["lastEventId"]
    assert "RUN_FINISHED" not in [e["type"] for e in first["events"]]  # cut mid-run
    second = await run_node("agui_client.mjs", options(served, "paced", runId=run_id, lastEventId=first["lastEventId"]))
    assert "error" not in second, second["error"]
    types = [e["type"] for e in second["events"]]
    assert types[0] == "RUN_STARTED" and types[-1] == "RUN_FINISHED"
    progress = [e["value"]["seq"] for e in first["events"] + second["events"] if e["type"] == "CUSTOM"]
    assert progress == list(range(2, 22))  # the 20 progress events, each once, in order
    assert second["result"] == {"count": 20}


async def test_the_typescript_client_sees_an_interrupt_and_answers_it(served: Served) -> None:
    require_js("@ag-ui/client")
    first = await run_node("agui_client.mjs", options(served, "asks"))
    assert "error" not in first, first["error"]
    (interrupt,) = first["pendingInterrupts"]
    assert interrupt["message"] == "Send the email to bob?"
    resume = [{"interruptId": interrupt["id"], "status": "resolved", "payload": "yes"}]
    second = await run_node("agui_client.mjs", options(served, "asks", resume=resume))
    assert "error" not in second, second["error"]
    assert second["result"] == {"answer": "yes"}
    assert [e["type"] for e in second["events"]] == ["RUN_STARTED", "TOOL_CALL_RESULT", "RUN_FINISHED"]


async def test_the_typescript_client_sees_a_failure(served: Served) -> None:
    require_js("@ag-ui/client")
    out = await run_node("agui_client.mjs", options(served, "fails"))
    assert out["events"][-1]["type"] == "RUN_ERROR"
    assert out["events"][-1]["message"] == "the database is gone"
