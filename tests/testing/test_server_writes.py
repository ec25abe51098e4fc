"""The loopback OpenAI-compatible server buffers each reply and sends it in one go: what reaches
the client is unchanged (well-formed replies, streamed or not, on a kept-alive connection), and an
interim "100 Continue" still goes out at once."""

from __future__ import annotations

import json
import socket

from agent_runtime_core.testing import OpenAICompatibleServer, ScriptedModel, reply

ANSWER = "It is sunny and 22°C in Paris today."


def _request(body: dict[str, object], *, expect_100: bool = False) -> tuple[bytes, bytes]:
    data = json.dumps(body).encode()
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n" + ("Expect: 100-continue\r\n" if expect_100 else "") + "\r\n"
    ).encode()
    return head, data


def _read_reply(sock: socket.socket) -> tuple[bytes, bytes]:
    """One HTTP reply (headers, body), chunked or with a Content-Length."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, _, rest = buf.partition(b"\r\n\r\n")
    if b"chunked" in head.lower():
        while not rest.endswith(b"0\r\n\r\n"):
            rest += sock.recv(65536)
        body = b""
        while True:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            if size == 0:
                return head, body
            body, rest = body + rest[:size], rest[size + 2 :]
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(rest) < length:
        rest += sock.recv(65536)
    return head, rest


def test_streamed_and_plain_replies_are_whole_on_a_kept_alive_connection() -> None:
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    with OpenAICompatibleServer(ScriptedModel([reply(ANSWER)])) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            for stream in (True, False, True):
                head, data = _request({"model": "gpt-4o", "messages": messages, "stream": stream})
                sock.sendall(head + data)
                status, body = _read_reply(sock)
                assert status.startswith(b"HTTP/1.1 200")
                if stream:
                    events = [e for e in body.decode().split("\n\n") if e]
                    assert events[-1] == "data: [DONE]"
                    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
                    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
                    assert text == ANSWER
                else:
                    assert json.loads(body)["choices"][0]["message"]["content"] == ANSWER
        assert server.model_calls == 3


def test_an_expect_100_continue_request_gets_its_interim_reply_before_sending_the_body() -> None:
    with (
        OpenAICompatibleServer(ScriptedModel([reply(ANSWER)])) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock,
    ):
        head, data = _request(
            {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}, expect_100=True
        )
        sock.sendall(head)  # the body waits for "100 Continue", as a client would
        interim = b""
        while b"\r\n\r\n" not in interim:
            interim += sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100")
        sock.sendall(data)
        status, body = _read_reply(sock)
        assert status.startswith(b"HTTP/1.1 200")
        assert json.loads(body)["choices"][0]["message"]["content"] == ANSWER
