"""API-shape adapters: where each API keeps its model, stream flag and usage, and its SSE tap."""
