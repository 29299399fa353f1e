"""What a summary request leaves out when the provider finds the conversation too long."""

from __future__ import annotations

from api_router.gateway.compaction import without_oldest


def said(text: str) -> dict:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def call(n: int) -> dict:
    return {"type": "function_call", "call_id": f"c{n}", "name": "shell", "arguments": "{}"}


def output(n: int, size: int) -> dict:
    return {"type": "function_call_output", "call_id": f"c{n}", "output": "x" * size}


def test_the_oldest_third_goes_and_no_output_loses_its_call() -> None:
    items = [said("a" * 300), call(1), output(1, 300), call(2), output(2, 300), said("now")]
    # The newest two thirds would start at output 1: its call comes along, the message before goes.
    assert without_oldest(items) == items[1:]
    items = [said("a" * 300), said("b" * 300), call(1), output(1, 200), said("c" * 300)]
    assert without_oldest(items) == items[2:]


def test_a_window_that_would_start_at_an_output_takes_its_call_along() -> None:
    items = [said("a" * 200), call(1), output(1, 1000)]
    assert without_oldest(items) == [call(1), output(1, 1000)]


def test_one_huge_output_is_cut_short_in_its_middle_when_no_whole_item_can_go() -> None:
    items = [call(1), output(1, 3000)]
    shorter = without_oldest(items)
    assert shorter[0] == call(1) and len(shorter) == 2
    text = shorter[1]["output"]
    assert text.startswith("xxx") and text.endswith("xxx") and "characters left out" in text
    assert len(text) < 3000 * 0.75
    # Asked again and again, it keeps getting shorter until nothing long is left to cut.
    rounds = 0
    while shorter and rounds < 20:
        shorter, rounds = without_oldest(shorter), rounds + 1
    assert shorter == [] and rounds < 20


def test_a_single_message_is_cut_in_its_text() -> None:
    shorter = without_oldest([said("b" * 900)])
    assert len(shorter[0]["content"][0]["text"]) < 700 and shorter[0]["role"] == "user"
    assert without_oldest([]) == [] and without_oldest([said("hi")]) == []
