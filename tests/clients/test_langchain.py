"""langchain-openai's ``ChatOpenAI(use_responses_api=True)``, unchanged, through the gateway:
invoke, streaming and tool calls."""

from __future__ import annotations

from harness import GatewayServer
from langchain_core.messages import AIMessageChunk
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from fake_openai import FakeOpenAIServer
from fake_openai.faults import Fault


def chat(gw: GatewayServer) -> ChatOpenAI:
    return ChatOpenAI(
        model="gpt-4.1",
        base_url=gw.base_url,
        api_key=SecretStr(gw.token()),
        use_responses_api=True,
        max_retries=0,
    )


def test_invoke(client_gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    message = chat(client_gw).invoke("Hello LangChain")
    assert message.text == "Fake answer: Hello LangChain"
    assert message.usage_metadata is not None
    assert message.usage_metadata["output_tokens"] > 0
    (sent,) = [r for r in fake.requests if r.path == "/v1/responses"]
    assert sent.json()["model"] == "gpt-4.1"


def test_stream(client_gw: GatewayServer) -> None:
    chunks = list(chat(client_gw).stream("Stream with LangChain"))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert len(chunks) > 2
    whole = chunks[0]
    for chunk in chunks[1:]:
        whole += chunk
    assert whole.text == "Fake answer: Stream with LangChain"
    assert whole.usage_metadata is not None
    assert whole.usage_metadata["total_tokens"] > 0


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def test_tool_call(client_gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(path="/v1/responses", function_call=("add", '{"a": 2, "b": 3}')))
    message = chat(client_gw).bind_tools([add]).invoke("What is 2 + 3?")
    (call,) = message.tool_calls
    assert call["name"] == "add"
    assert call["args"] == {"a": 2, "b": 3}
    (sent,) = [r for r in fake.requests if r.path == "/v1/responses"]
    assert sent.json()["tools"][0]["name"] == "add"


def test_tool_call_streamed(client_gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(path="/v1/responses", function_call=("add", '{"a": 4, "b": 5}')))
    chunks = list(chat(client_gw).bind_tools([add]).stream("What is 4 + 5?"))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    whole = AIMessageChunk(content="")
    for chunk in chunks:
        assert isinstance(chunk, AIMessageChunk)
        whole += chunk
    (call,) = whole.tool_calls
    assert (call["name"], call["args"]) == ("add", {"a": 4, "b": 5})
