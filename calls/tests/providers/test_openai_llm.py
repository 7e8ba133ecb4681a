from collections.abc import AsyncIterator

import pytest

from calls.providers.base import Finished, TextDelta, ToolCall, ToolCalls, ToolSpec
from calls.providers.openai_llm import OpenAICompatibleLLM
from calls.tests.fakes import FakeChatCompletions, closed_port_url
from calls.tests.fakes.chat import chunk, finish, text, tool_call, usage_only
from calls.tests.providers.streams import drain

MESSAGES = [{"role": "user", "content": "Book a table for two."}]
BOOK = ToolSpec(
    name="book_table",
    description="Reserve a table.",
    parameters={
        "type": "object",
        "properties": {"people": {"type": "integer"}, "time": {"type": "string"}},
    },
)
USAGE = {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}


@pytest.fixture
async def server() -> AsyncIterator[FakeChatCompletions]:
    async with FakeChatCompletions() as fake:
        yield fake


def llm(url: str, **kwargs: object) -> OpenAICompatibleLLM:
    options: dict = {"model": "llama3.2", "timeout": 1.0} | kwargs
    return OpenAICompatibleLLM(base_url=f"{url}/v1", **options)


async def test_text_streams_in_pieces_and_the_request_is_on_the_wire(server):
    server.chunks = [text(""), text("For two, "), text("certainly."), finish(), usage_only(USAGE)]

    events, error = await drain(llm(server.url).stream(MESSAGES, []))

    assert error is None
    assert events == [
        TextDelta("For two, "),
        TextDelta("certainly."),
        Finished(reason="stop", usage=USAGE),
    ]
    request = server.last
    assert request.path == "/v1/chat/completions"
    # Local servers need no key; the SDK still sends one.
    assert request.headers["Authorization"] == "Bearer none"
    body = request.json()
    assert body["model"] == "llama3.2"
    assert body["messages"] == MESSAGES
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert "tools" not in body and "reasoning_effort" not in body


async def test_api_key_and_gpt_oss_reasoning_effort(server):
    model = llm(server.url, model="gpt-oss:20b", api_key="sk-test", temperature=0.7)

    await drain(model.stream(MESSAGES, []))

    assert server.last.headers["Authorization"] == "Bearer sk-test"
    body = server.last.json()
    assert body["reasoning_effort"] == "low"
    assert body["temperature"] == 0.7


async def test_tool_call_fragments_are_assembled_into_one_tool_calls(server):
    server.chunks = [
        tool_call(0, id="call_a", name="book_table", arguments=""),
        tool_call(0, arguments='{"peo'),
        tool_call(0, arguments='ple": 2, "time"'),
        tool_call(0, arguments=': "19:30"}'),
        finish("tool_calls"),
    ]

    events, error = await drain(llm(server.url).stream(MESSAGES, [BOOK]))

    assert error is None
    assert events == [
        ToolCalls(
            [ToolCall(id="call_a", name="book_table", arguments={"people": 2, "time": "19:30"})]
        ),
        Finished(reason="tool_calls"),
    ]
    body = server.last.json()
    assert body["tools"] == [BOOK.as_openai()]
    assert body["tool_choice"] == "auto"


async def test_a_whole_tool_call_in_one_delta_without_an_id(server):
    # Some local servers send the call whole and leave the id out.
    server.chunks = [
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "type": "function",
                        "function": {"name": "book_table", "arguments": '{"people": 4}'},
                    }
                ]
            }
        ),
        finish("tool_calls"),
    ]

    events, error = await drain(llm(server.url).stream(MESSAGES, [BOOK]))

    assert error is None
    assert events == [
        ToolCalls([ToolCall(id="call_0", name="book_table", arguments={"people": 4})]),
        Finished(reason="tool_calls"),
    ]


async def test_unparseable_tool_arguments_are_a_transient_error(server):
    server.chunks = [tool_call(0, id="c", name="book_table", arguments="{people: 2}"), finish()]

    events, error = await drain(llm(server.url, name="ollama").stream(MESSAGES, [BOOK]))

    assert events == []
    assert error is not None and not error.permanent and error.provider == "ollama"


@pytest.mark.parametrize(("mode", "permanent"), [("401", True), ("429", False), ("500", False)])
async def test_http_errors_say_whether_they_are_permanent(server, mode, permanent):
    server.mode = mode

    events, error = await drain(llm(server.url).stream(MESSAGES, []))

    assert events == []
    assert error is not None
    assert error.permanent is permanent
    assert error.provider == "openai"
    assert f"HTTP {mode}" in str(error)


async def test_a_hanging_server_times_out_as_a_transient_error(server):
    server.mode = "hang"

    events, error = await drain(llm(server.url).stream(MESSAGES, []))

    assert events == []
    assert error is not None and not error.permanent
    assert "timed out" in str(error)


async def test_a_refused_connection_is_a_transient_error():
    events, error = await drain(llm(closed_port_url()).stream(MESSAGES, []))

    assert events == []
    assert error is not None and not error.permanent


async def test_a_stream_cut_mid_answer_raises_after_the_partial_text(server):
    server.mode = "cut"
    server.chunks = [text("A table "), text("for two "), text("at "), text("seven."), finish()]

    events, error = await drain(llm(server.url).stream(MESSAGES, []))

    assert events[0] == TextDelta("A table ")
    assert Finished not in {type(event) for event in events}
    assert error is not None and not error.permanent
