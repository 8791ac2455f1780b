"""Fake OpenAI upstream for tests and the gateway's demo mode (``python -m fake_openai``).

Import from here rather than the submodules; the split between them is an implementation
detail. ``fake_openai/README.md`` describes the endpoints, the token rules and the faults.
"""

from fake_openai.app import FakeOpenAI
from fake_openai.billing import Billed
from fake_openai.faults import Fault
from fake_openai.models import MODELS
from fake_openai.realtime_audio import pcm16_silence
from fake_openai.runner import FakeOpenAIServer
from fake_openai.state import RecordedRequest

__all__ = [
    "MODELS",
    "Billed",
    "FakeOpenAI",
    "FakeOpenAIServer",
    "Fault",
    "RecordedRequest",
    "pcm16_silence",
]
