"""A missing answer is asked for in words that read as English whatever the field's title: a question is answered,
a choice is chosen or selected, a named value is entered."""
from __future__ import annotations

import pytest

from engine.bpmn.forms import clean_submission
from engine.errors import FormInvalid

SCHEMA = {"type": "object", "required": ["problem", "urgent", "urgency", "summary", "bodies"], "properties": {
    "problem": {"type": "string", "title": "What is the problem?", "minLength": 1},
    "urgent": {"type": "boolean", "title": "Is it urgent?"},
    "urgency": {"type": "string", "title": "Urgency", "enum": ["low", "high"]},
    "summary": {"type": "string", "title": "Summary"},
    "bodies": {"type": "array", "title": "Groups to consult", "items": {"type": "string"}},
}}


def test_each_kind_of_missing_answer_has_its_own_words():
    with pytest.raises(FormInvalid) as caught:
        clean_submission(SCHEMA, {})
    assert caught.value.errors == {
        "problem": "Answer ‘What is the problem?’", "urgent": "Choose an answer to ‘Is it urgent?’",
        "urgency": "Select urgency", "summary": "Enter summary", "bodies": "Select groups to consult"}


def test_an_empty_answer_to_a_question_is_asked_for_like_a_missing_one():
    with pytest.raises(FormInvalid) as caught:
        clean_submission(SCHEMA, {"problem": "", "urgent": True, "urgency": "low", "summary": "s", "bodies": []})
    assert caught.value.errors == {"problem": "Answer ‘What is the problem?’"}
