from collections.abc import AsyncIterator

import pytest

from calls.providers.base import Finished, TextDelta, ToolCall, ToolCalls, ToolSpec
from calls.providers.groq_llm import GroqLLM
from calls.tests.fakes import FakeChatCompletions, closed_port_url
from calls.tests.fakes.chat import chunk, finish, text, tool_call
from calls.tests.providers.streams import drain

MESSAGES = [
    {"role": "system", "content": "You take pizza orders."},
    {"role": "user", "content": "Where is my order?"},
]
LOOKUP = ToolSpec(
    name="lookup_order",
    description="Find an order by its number.",
    parameters={"type": "object", "properties": {"order_id": {"type": "string"}}},
)
HANG_UP = ToolSpec(name="hang_up", description="End the call.", parameters={"type": "object"})
USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}


@pytest.fixture
async def server() -> AsyncIterator[FakeChatCompletions]:
    async with FakeChatCompletions() as fake:
        yield fake


def groq(url: str, **kwargs: object) -> GroqLLM:
    return GroqLLM(api_key="gsk-test", base_url=url, timeout=1.0, **kwargs)


async def test_text_streams_in_pieces_and_the_request_is_on_the_wire(server):
    server.chunks = [
        text(""),  # Groq opens with an empty content delta
        chunk({"reasoning": "The user wants their order."}),
        text("Let me "),
        text("check."),
        chunk({}, "stop", x_groq={"id": "req-1", "usage": USAGE}),
    ]

    events, error = await drain(groq(server.url).stream(MESSAGES, []))

    assert error is None
    assert events[:2] == [TextDelta("Let me "), TextDelta("check.")]
    assert events[2].reason == "stop"
    assert events[2].usage.items() >= USAGE.items()
    request = server.last
    assert request.path == "/openai/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer gsk-test"
    body = request.json()
    assert body["model"] == "openai/gpt-oss-20b"
    assert body["messages"] == MESSAGES
    assert body["stream"] is True
    assert body["reasoning_effort"] == "low"
    assert "tools" not in body and "tool_choice" not in body


async def test_reasoning_effort_only_goes_to_gpt_oss(server):
    await drain(groq(server.url, model="qwen/qwen3.6-27b", temperature=0.1).stream(MESSAGES, []))

    body = server.last.json()
    assert body["model"] == "qwen/qwen3.6-27b"
    assert body["temperature"] == 0.1
    assert "reasoning_effort" not in body


async def test_tool_call_fragments_are_assembled_into_one_tool_calls(server):
    server.chunks = [
        tool_call(0, id="call_1", name="lookup_order", arguments='{"order'),
        tool_call(0, arguments='_id": '),
        tool_call(0, arguments='"42"}'),
        tool_call(1, id="call_2", name="hang_up"),
        finish("tool_calls"),
    ]

    events, error = await drain(groq(server.url).stream(MESSAGES, [LOOKUP, HANG_UP]))

    assert error is None
    assert events == [
        ToolCalls(
            [
                ToolCall(id="call_1", name="lookup_order", arguments={"order_id": "42"}),
                ToolCall(id="call_2", name="hang_up", arguments={}),
            ]
        ),
        Finished(reason="tool_calls"),
    ]
    body = server.last.json()
    assert body["tools"] == [LOOKUP.as_openai(), HANG_UP.as_openai()]
    assert body["tool_choice"] == "auto"


async def test_a_whole_tool_call_in_one_delta(server):
    server.chunks = [
        text("One moment."),
        tool_call(0, id="call_9", name="lookup_order", arguments='{"order_id": "7"}'),
        finish("tool_calls"),
    ]

    events, error = await drain(groq(server.url).stream(MESSAGES, [LOOKUP]))

    assert error is None
    assert events == [
        TextDelta("One moment."),
        ToolCalls([ToolCall(id="call_9", name="lookup_order", arguments={"order_id": "7"})]),
        Finished(reason="tool_calls"),
    ]


async def test_unparseable_tool_arguments_are_a_transient_error(server):
    server.chunks = [
        tool_call(0, id="call_1", name="lookup_order", arguments='{"order_id": '),
        finish("tool_calls"),
    ]

    events, error = await drain(groq(server.url).stream(MESSAGES, [LOOKUP]))

    assert events == []
    assert error is not None and not error.permanent and error.provider == "groq"
    assert "lookup_order" in str(error)


async def test_a_stream_without_a_finish_reason_is_an_error(server):
    server.chunks = [text("Your order is")]

    events, error = await drain(groq(server.url).stream(MESSAGES, []))

    assert events == [TextDelta("Your order is")]
    assert error is not None and not error.permanent


@pytest.mark.parametrize(("mode", "permanent"), [("401", True), ("429", False), ("500", False)])
async def test_http_errors_say_whether_they_are_permanent(server, mode, permanent):
    server.mode = mode

    events, error = await drain(groq(server.url).stream(MESSAGES, []))

    assert events == []
    assert error is not None
    assert error.permanent is permanent
    assert error.provider == "groq"
    assert f"HTTP {mode}" in str(error)


async def test_a_hanging_server_times_out_as_a_transient_error(server):
    server.mode = "hang"

    events, error = await drain(groq(server.url).stream(MESSAGES, []))

    assert events == []
    assert error is not None and not error.permanent
    assert "timed out" in str(error)


async def test_a_refused_connection_is_a_transient_error():
    events, error = await drain(groq(closed_port_url()).stream(MESSAGES, []))

    assert events == []
    assert error is not None and not error.permanent and error.provider == "groq"


async def test_a_stream_cut_mid_answer_raises_after_the_partial_text(server):
    server.mode = "cut"
    server.chunks = [text("Your "), text("order "), text("is on "), text("its way."), finish()]

    events, error = await drain(groq(server.url).stream(MESSAGES, []))

    assert events[0] == TextDelta("Your ")
    assert Finished not in {type(event) for event in events}
    assert error is not None and not error.permanent
