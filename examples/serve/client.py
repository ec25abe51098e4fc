"""A client of the run API: start a run, follow its events over SSE, and reconnect with
Last-Event-ID when the connection drops (each event arrives once, in order).

    python client.py http://127.0.0.1:8000 research-assistant "What should I pack for Paris?"

Set AGENT_RUNTIME_API_KEY to the key the server was started with, if any.
"""

from __future__ import annotations

import json
import os
import sys
import time

import httpx


def follow(client: httpx.Client, run_id: str) -> None:
    last_id = 0
    while True:
        try:
            headers = {"Last-Event-ID": str(last_id)} if last_id else {}
            with client.stream("GET", f"/runs/{run_id}/events", headers=headers, timeout=None) as response:
                response.raise_for_status()
                for line in response.iter_lines():
                    if line.startswith("id: "):
                        last_id = int(line[4:])
                    elif line.startswith("data: "):
                        event = json.loads(line[6:])
                        print(f"{event['seq']:>4}  {event['type']:<20} {json.dumps(event['payload'])[:90]}")
            return  # the stream closes after the run's terminal event
        except httpx.TransportError as error:  # dropped: resume after the last event seen
            print(f"   (connection lost: {error}; resuming after event {last_id})")
            time.sleep(1)


def main(base_url: str, agent_key: str, message: str) -> None:
    key = os.environ.get("AGENT_RUNTIME_API_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(base_url=base_url, headers=headers) as client:
        run = client.post("/runs", json={"agent_key": agent_key, "input": message}).raise_for_status().json()
        print(f"run {run['run_id']} ({run['status']})")
        follow(client, run["run_id"])
        print(json.dumps(client.get(f"/runs/{run['run_id']}").json(), indent=2)[:600])


if __name__ == "__main__":
    main(*(sys.argv[1:4] if len(sys.argv) >= 4 else ["http://127.0.0.1:8000", "research-assistant", "What should I pack for Paris?"]))
