"""Fake OpenAI upstream for tests and the gateway's demo mode.

Import from here rather than the submodules; the split between them is an implementation detail.
"""

from gateway.fake_upstream.faults import Fault
from gateway.fake_upstream.realtime import pcm16_silence
from gateway.fake_upstream.runner import FakeOpenAIServer
from gateway.fake_upstream.server import MODELS, FakeOpenAI, RecordedRequest

__all__ = ["MODELS", "FakeOpenAI", "FakeOpenAIServer", "Fault", "RecordedRequest", "pcm16_silence"]
