"""Where a run's ADK session lives, and what the run keeps in its checkpoint.

`StateStoreSessionService` is an ADK `BaseSessionService` over our `StateStore`: every session
(its events and state) is one JSON value, written when ADK appends an event (before a tool of a
model response runs), so the session persists where the run's state does. App- and user-scoped
state (`app:` / `user:` keys) are values of their own, merged in when a session is read, as ADK's
own services do.

The run's checkpoint (`ctx.checkpoint`, format `CHECKPOINT_FORMAT`) says where the run is:
- `status: "running"`: the ADK invocation id and session id; a run executed again (after a crash,
  or by a retry) resumes that invocation from the saved session (the App is resumable), so
  finished model calls and tool outputs are not redone;
- `status: "interrupted"`: the question asked (a tool confirmation or a long-running tool);
  `runner.resume(run_id, answer)` sends the answer as the function response ADK waits for;
- `status: "done"`: the run's result, returned as it is when the run is executed again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.events.event import Event
from google.adk.sessions import BaseSessionService, Session
from google.adk.sessions.base_session_service import GetSessionConfig, ListSessionsResponse
from google.adk.sessions.state import State

from agent_runtime_core import RunContext
from agent_runtime_core.errors import NonRetriableError
from agent_runtime_core.integration import get_logger
from agent_runtime_core.state import StateStore

__all__ = ["CHECKPOINT_FORMAT", "Saved", "StateStoreSessionService"]

logger = get_logger("agent_runtime_google_adk")

CHECKPOINT_FORMAT = "google-adk/1"
"""The `format` of the checkpoints this adapter writes (checkpoints of other formats are ignored)."""


class StateStoreSessionService(BaseSessionService):
    """ADK sessions in an agent-runtime-core `StateStore` (memory, SQLite, Redis), under `prefix`."""

    def __init__(self, store: StateStore, *, prefix: str = "google-adk") -> None:
        self.store = store
        self.prefix = prefix

    def _key(self, app_name: str, user_id: str, session_id: str) -> str:
        return f"{self.prefix}:session:{app_name}:{user_id}:{session_id}"

    def _app_key(self, app_name: str) -> str:
        return f"{self.prefix}:app-state:{app_name}"

    def _user_key(self, app_name: str, user_id: str) -> str:
        return f"{self.prefix}:user-state:{app_name}:{user_id}"

    async def _scoped(self, key: str) -> dict[str, Any]:
        value = await self.store.get(key)
        return dict(value) if isinstance(value, Mapping) else {}

    async def _save_scoped(self, app_name: str, user_id: str, delta: Mapping[str, Any]) -> None:
        """Write `app:` / `user:` keys of `delta` to their own values; return nothing."""
        app = {k.removeprefix(State.APP_PREFIX): v for k, v in delta.items() if k.startswith(State.APP_PREFIX)}
        user = {k.removeprefix(State.USER_PREFIX): v for k, v in delta.items() if k.startswith(State.USER_PREFIX)}
        if app:
            await self.store.set(self._app_key(app_name), {**await self._scoped(self._app_key(app_name)), **app})
        if user:
            key = self._user_key(app_name, user_id)
            await self.store.set(key, {**await self._scoped(key), **user})

    async def _merged(self, session: Session) -> Session:
        for key, value in (await self._scoped(self._app_key(session.app_name))).items():
            session.state[State.APP_PREFIX + key] = value
        for key, value in (await self._scoped(self._user_key(session.app_name, session.user_id))).items():
            session.state[State.USER_PREFIX + key] = value
        return session

    async def _write(self, session: Session) -> None:
        data = session.model_dump(mode="json", by_alias=False)
        data["state"] = {
            k: v for k, v in data.get("state", {}).items()
            if not k.startswith((State.APP_PREFIX, State.USER_PREFIX, State.TEMP_PREFIX))
        }
        await self.store.set(self._key(session.app_name, session.user_id, session.id), data)

    async def create_session(
        self, *, app_name: str, user_id: str, state: dict[str, Any] | None = None, session_id: str | None = None
    ) -> Session:
        session_id = (session_id or "").strip() or uuid.uuid4().hex
        if await self.store.get(self._key(app_name, user_id, session_id)) is not None:
            raise AlreadyExistsError(f"Session with id {session_id} already exists.")
        state = dict(state or {})
        await self._save_scoped(app_name, user_id, state)
        own = {k: v for k, v in state.items() if not k.startswith((State.APP_PREFIX, State.USER_PREFIX, State.TEMP_PREFIX))}
        session = Session(app_name=app_name, user_id=user_id, id=session_id, state=own, last_update_time=time.time())
        await self._write(session)
        return await self._merged(session)

    async def get_session(
        self, *, app_name: str, user_id: str, session_id: str, config: GetSessionConfig | None = None
    ) -> Session | None:
        data = await self.store.get(self._key(app_name, user_id, session_id))
        if data is None:
            return None
        session = Session.model_validate(data)
        if config is not None:
            events = session.events
            if config.num_recent_events is not None:
                events = events[-config.num_recent_events :] if config.num_recent_events else []
            if config.after_timestamp is not None:
                events = [e for e in events if e.timestamp >= config.after_timestamp]
            session.events = events
        return await self._merged(session)

    async def list_sessions(self, *, app_name: str, user_id: str | None = None) -> ListSessionsResponse:
        prefix = f"{self.prefix}:session:{app_name}:" + (f"{user_id}:" if user_id is not None else "")
        sessions = []
        for key in await self.store.list_keys(prefix):
            data = await self.store.get(key)
            if isinstance(data, Mapping):
                session = Session.model_validate({**data, "events": []})
                sessions.append(await self._merged(session))
        sessions.sort(key=lambda s: (s.last_update_time, s.user_id, s.id))
        return ListSessionsResponse(sessions=sessions)

    async def delete_session(self, *, app_name: str, user_id: str, session_id: str) -> None:
        await self.store.delete(self._key(app_name, user_id, session_id))

    async def get_user_state(self, *, app_name: str, user_id: str) -> dict[str, Any]:
        return await self._scoped(self._user_key(app_name, user_id))

    async def append_event(self, session: Session, event: Event) -> Event:
        """ADK's own bookkeeping, then the session is written (non-partial events only)."""
        event = await super().append_event(session, event)
        if event.partial:
            return event
        session.last_update_time = event.timestamp
        delta = event.actions.state_delta if event.actions else None
        if delta:
            await self._save_scoped(session.app_name, session.user_id, delta)
        await self._write(session)
        return event


class Saved:
    """One run's checkpoint: where the run is (`running` / `interrupted` / `done`)."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    async def load(self) -> dict[str, Any] | None:
        """The run's checkpoint, if it has one of this adapter's format."""
        if self.ctx.state_store is None:
            return None
        checkpoint = await self.ctx.get_checkpoint()
        if checkpoint is not None and checkpoint.get("format") != CHECKPOINT_FORMAT:
            logger.warning("Run %s has a checkpoint of another format; starting afresh.", self.ctx.run_id)
            return None
        return checkpoint

    async def save(self, state: dict[str, Any], *, force: bool = False) -> None:
        if self.ctx.state_store is None:
            if force:
                raise NonRetriableError("A human-in-the-loop pause needs a state store to save the run; give the AgentRunner one.")
            return
        await self.ctx.checkpoint({"format": CHECKPOINT_FORMAT, **state})
