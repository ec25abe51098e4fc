"""agent-runtime-core: one runtime for every AI agent."""
