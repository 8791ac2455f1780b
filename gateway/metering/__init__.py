"""Usage normalisation per API shape, and the metering of one upstream attempt."""

from gateway.metering.usage import Usage, from_chat, from_realtime, from_responses

__all__ = ["Usage", "from_chat", "from_realtime", "from_responses"]
