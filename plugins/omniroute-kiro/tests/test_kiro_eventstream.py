"""The AWS event-stream decoder: frames, CRCs, CodeWhisperer events → IR events."""

from __future__ import annotations

import struct
import zlib
from dataclasses import replace

import pytest
from omniroute_kiro.codec import KiroStreamDecoder
from omniroute_kiro.eventstream import FrameError, MessageReader, encode_message, parse_headers

from omniroute.formats import ir
from omniroute.testing.fake_kiro import (
    closing_events,
    encode_frame,
    event_frame,
    exception_frame,
    text_events,
    tool_events,
)

TOOL_ID = "tooluse_abc123"


def stream(*events: tuple[str, dict]) -> bytes:
    return b"".join(event_frame(kind, payload) for kind, payload in events)


def answer() -> bytes:
    """Text, a tool call, text again, then metering, metrics, context usage and the stop."""
    return stream(
        *text_events("Let me look that up.", pieces=3),
        *tool_events(TOOL_ID, "get_weather", {"city": "Paris", "unit": "c"}, pieces=4),
        *text_events("Done."),
        *closing_events(120, 30),
    )


def decode(data: bytes, *cuts: int) -> list[ir.Event]:
    decoder = KiroStreamDecoder()
    events: list[ir.Event] = []
    start = 0
    for cut in (*cuts, len(data)):
        events += decoder.feed(data[start:cut])
        start = cut
    return normalized(events + decoder.close())


def normalized(events: list[ir.Event]) -> list[ir.Event]:
    """Message ids are random; everything else must be identical."""
    return [replace(e, id="msg") if isinstance(e, ir.MessageStart) else e for e in events]


def test_text_and_a_streamed_tool_call_become_ir_parts_in_order():
    events = decode(answer())
    assert events[0] == ir.MessageStart(id="msg", model="")
    kinds = [type(e).__name__ for e in events[1:]]
    assert kinds == [
        "PartStart", "TextDelta", "TextDelta", "TextDelta",
        "PartStop", "PartStart", "ToolArgumentsDelta", "ToolArgumentsDelta",
        "ToolArgumentsDelta", "ToolArgumentsDelta", "PartStop",
        "PartStart", "TextDelta", "TextDelta",
        "UsageUpdate", "PartStop", "UsageUpdate", "Stop",
    ]  # fmt: skip
    assert events[6] == ir.PartStart(1, "tool_call", id=TOOL_ID, name="get_weather")
    arguments = "".join(e.fragment for e in events if isinstance(e, ir.ToolArgumentsDelta))
    assert arguments == '{"city":"Paris","unit":"c"}'
    text = "".join(e.text for e in events if isinstance(e, ir.TextDelta) and e.index == 0)
    assert text == "Let me look that up."
    assert events[-2] == ir.UsageUpdate(ir.Usage(input=120, output=30))
    assert events[-1] == ir.Stop("tool_use")


def test_a_text_only_answer_ends_its_turn():
    events = decode(stream(*text_events("Hi."), *closing_events(5, 2)))
    assert events[-1] == ir.Stop("end_turn")


def test_frames_split_at_every_byte_offset_decode_identically():
    data = answer()
    whole = decode(data)
    for cut in range(len(data) + 1):
        assert decode(data, cut) == whole, f"split at byte {cut}"


def test_frames_fed_one_byte_at_a_time_decode_identically():
    data = answer()
    assert decode(data, *range(1, len(data))) == decode(data)


def test_a_corrupt_message_crc_ends_the_stream_with_an_error():
    good = stream(*text_events("Hello."))
    bad = bytearray(event_frame("assistantResponseEvent", {"content": "world"}))
    bad[-6] ^= 0xFF  # a payload byte: the message CRC no longer matches
    for cut in range(len(good) + len(bad) + 1):
        events = decode(good + bytes(bad), cut)
        errors = [e for e in events if isinstance(e, ir.StreamError)]
        assert len(errors) == 1 and "message CRC" in errors[0].message, cut
        assert not any(isinstance(e, ir.TextDelta) and e.text == "world" for e in events)
        assert not any(isinstance(e, ir.Stop) for e in events)


def test_a_corrupt_prelude_crc_is_caught_before_the_length_is_trusted():
    bad = bytearray(event_frame("assistantResponseEvent", {"content": "x"}))
    bad[1] ^= 0x7F  # the total length
    reader = MessageReader()
    reader.push(bytes(bad))
    with pytest.raises(FrameError, match="prelude CRC"):
        reader.pop()


def test_an_exception_message_is_a_stream_error_named_after_the_exception():
    data = stream(*text_events("Partial")) + exception_frame(
        "ThrottlingException", "Too many requests, please wait."
    )
    events = decode(data)
    error = events[-1]
    assert isinstance(error, ir.StreamError)
    assert (error.kind, error.status) == ("ThrottlingException", 429)
    assert "Too many requests" in error.message
    assert not any(isinstance(e, ir.Stop) for e in events)


def test_an_exception_before_any_event_is_reported_alone():
    events = decode(exception_frame("ValidationException", "Improperly formed request."))
    assert events == [
        ir.StreamError(
            "ValidationException", "ValidationException: Improperly formed request.", 400
        )
    ]


def test_a_stream_cut_inside_a_message_is_an_error_not_an_answer():
    data = stream(*text_events("Hello"))
    frame = event_frame("assistantResponseEvent", {"content": " more"})
    events = decode(data + frame[:-5])
    assert isinstance(events[-1], ir.StreamError)
    assert not any(isinstance(e, ir.Stop) for e in events)


def test_an_empty_stream_is_an_error():
    assert isinstance(decode(b"")[-1], ir.StreamError)


def test_metering_and_context_usage_without_token_counts_give_no_usage():
    events = decode(
        stream(
            *text_events("Hi"),
            ("meteringEvent", {"unit": "credit", "usage": 0.01}),
            ("contextUsageEvent", {"contextUsagePercentage": 3.2}),
        )
    )
    assert not any(isinstance(e, ir.UsageUpdate) for e in events)


def test_tool_input_given_as_an_object_is_serialized():
    events = decode(
        stream(
            ("toolUseEvent", {"toolUseId": "t1", "name": "f", "input": {"a": 1}, "stop": True}),
        )
    )
    assert ir.ToolArgumentsDelta(0, '{"a":1}') in events
    assert ir.PartStop(0) in events


def test_events_for_a_finished_tool_call_are_ignored():
    events = decode(
        stream(
            *tool_events("t1", "f", {"a": 1}, pieces=1),
            ("toolUseEvent", {"toolUseId": "t1", "name": "f", "input": "junk"}),
        )
    )
    assert [e.fragment for e in events if isinstance(e, ir.ToolArgumentsDelta)] == ['{"a":1}']


def test_reasoning_events_become_a_thinking_part():
    events = decode(stream(("reasoningContentEvent", {"text": "Hmm."}), *text_events("Yes")))
    assert ir.PartStart(0, "thinking") in events
    assert ir.ThinkingDelta(0, "Hmm.") in events
    assert ir.PartStart(1, "text") in events


def test_headers_of_every_type_are_read():
    raw = (
        b"\x02:a" + b"\x00"  # bool true
        + b"\x02:b" + b"\x04" + struct.pack(">i", -7)  # int
        + b"\x02:c" + b"\x06" + struct.pack(">H", 2) + b"\x01\x02"  # bytes
        + b"\x02:d" + b"\x09" + bytes(range(16))  # uuid
        + b"\x02:e" + b"\x07" + struct.pack(">H", 5) + b"event"  # string
    )  # fmt: skip
    assert parse_headers(raw) == {
        ":a": True,
        ":b": -7,
        ":c": b"\x01\x02",
        ":d": bytes(range(16)).hex(),
        ":e": "event",
    }


def test_the_plugin_encoder_and_the_fake_encoder_agree():
    headers = {":message-type": "event", ":event-type": "assistantResponseEvent"}
    payload = b'{"content":"x"}'
    assert encode_message(headers, payload) == encode_frame(headers, payload)
    frame = encode_message(headers, payload)
    assert struct.unpack(">I", frame[-4:])[0] == zlib.crc32(frame[:-4])
