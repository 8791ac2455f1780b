"""openai-agents (Python), unchanged, through the gateway: a function tool, a handoff and a
streamed run. The fake scripts the model's tool and handoff calls (``Fault.function_call``)."""

from __future__ import annotations

import asyncio

import openai
from agents import (
    Agent,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from harness import GatewayServer

from fake_openai import FakeOpenAIServer
from fake_openai.faults import Fault

# The SDK exports traces to OpenAI by default: there is no network here, and a gateway's
# user would send them elsewhere anyway.
set_tracing_disabled(True)


def model(gw: GatewayServer) -> OpenAIResponsesModel:
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=gw.token(), max_retries=0)
    return OpenAIResponsesModel(model="gpt-4.1", openai_client=client)


@function_tool
def city_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def test_function_tool_round_trip(client_gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(path="/v1/responses", function_call=("city_weather", '{"city": "Paris"}')))
    fake.inject(Fault(path="/v1/responses", output_text="It is sunny in Paris."))
    agent = Agent(name="weather", instructions="Use tools.", tools=[city_weather])
    agent.model = model(client_gw)
    result = asyncio.run(Runner.run(agent, "Weather in Paris?"))
    assert result.final_output == "It is sunny in Paris."
    first, second = [r.json() for r in fake.requests if r.path == "/v1/responses"]
    assert first["tools"][0]["name"] == "city_weather"
    outputs = [i for i in second["input"] if i.get("type") == "function_call_output"]
    assert [o["output"] for o in outputs] == ["sunny in Paris"]
    assert result.context_wrapper.usage.requests == 2


def test_handoff_to_another_agent(client_gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    spanish = Agent(name="spanish", instructions="Answer in Spanish.", model=model(client_gw))
    triage = Agent(
        name="triage", instructions="Hand off.", handoffs=[spanish], model=model(client_gw)
    )
    fake.inject(Fault(path="/v1/responses", function_call=("transfer_to_spanish", "{}")))
    fake.inject(Fault(path="/v1/responses", output_text="¡Hola!"))
    result = asyncio.run(Runner.run(triage, "Hola"))
    assert result.last_agent is spanish
    assert result.final_output == "¡Hola!"
    first, second = [r.json() for r in fake.requests if r.path == "/v1/responses"]
    assert [t["name"] for t in first["tools"]] == ["transfer_to_spanish"]
    assert second["instructions"] == "Answer in Spanish."


def test_streamed_run(client_gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    agent = Agent(name="streamer", instructions="Be brief.", model=model(client_gw))

    async def run() -> tuple[list[str], object]:
        streamed = Runner.run_streamed(agent, "Stream this answer")
        deltas = [
            event.data.delta
            async for event in streamed.stream_events()
            if event.type == "raw_response_event"
            and event.data.type == "response.output_text.delta"
        ]
        return deltas, streamed.final_output

    deltas, final = asyncio.run(run())
    assert "".join(deltas) == final == "Fake answer: Stream this answer"
    assert len(deltas) > 1
