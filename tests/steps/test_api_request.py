import base64

import pytest

from steps.core.api_request import correlation_id, read_json_body, request_context
from steps.core.errors import InvalidRequest, PayloadTooLarge

from .conftest import api_event


def test_reads_a_json_object():
    assert read_json_body(api_event({"email": "a@b.de", "n": [1, {"x": None}]})) == {
        "email": "a@b.de",
        "n": [1, {"x": None}],
    }


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        'application/json;charset="UTF8"',
        "",
        # curl -d's default: the body must still be JSON.
        "application/x-www-form-urlencoded",
    ],
)
def test_accepted_content_types(content_type):
    assert read_json_body(api_event({"a": 1}, content_type=content_type)) == {"a": 1}


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        ("text/plain", "Content-Type: application/json"),
        ("application/x-www-form-urlencoded; charset=iso-8859-1", "UTF-8"),
        ("application/jsonp", "Content-Type: application/json"),
        ("application/json; charset=latin-1", "UTF-8"),
    ],
)
def test_wrong_content_type(content_type, message):
    with pytest.raises(InvalidRequest, match=message):
        read_json_body(api_event({"a": 1}, content_type=content_type))


def _event_with_body(body_field):
    event = api_event({})
    event["request"]["body"] = body_field
    return event


@pytest.mark.parametrize("body_field", ["not base64!", "YW=j", "YQ", 42, ["x"]])
def test_bad_base64_or_type(body_field):
    with pytest.raises(InvalidRequest, match="could not be read"):
        read_json_body(_event_with_body(body_field))


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"{'a': 1}", b'{"a": 1} x', b'{"a": NaN}', b'{"a": Infinity}', b"\xef\xbb\xbf{}"],
)
def test_bad_json(raw):
    with pytest.raises(InvalidRequest) as info:
        read_json_body(api_event(raw=raw))
    assert str(info.value) == "The request body is not valid JSON."


def test_not_utf8():
    with pytest.raises(InvalidRequest, match="UTF-8"):
        read_json_body(api_event(raw='{"a": "é"}'.encode("latin-1")))


@pytest.mark.parametrize("raw", [b"[]", b"[1, 2]", b'"text"', b"42", b"null", b"true"])
def test_top_level_must_be_an_object(raw):
    with pytest.raises(InvalidRequest, match="must be a JSON object"):
        read_json_body(api_event(raw=raw))


def test_depth_five_is_accepted_and_six_rejected():
    five = {"a": {"b": {"c": {"d": [1]}}}}
    assert read_json_body(api_event(five)) == five
    six = {"a": {"b": {"c": {"d": [[1]]}}}}
    with pytest.raises(InvalidRequest, match="nested too deeply"):
        read_json_body(api_event(six))


def test_brackets_inside_strings_do_not_count_as_depth():
    body = {"a": '[[[[[[[[{{{{{{ \\" ]]]'}
    assert read_json_body(api_event(body)) == body


def test_very_deep_nesting_is_rejected_without_recursion_error():
    with pytest.raises(InvalidRequest, match="nested too deeply"):
        read_json_body(api_event(raw=b"[" * 5000 + b"]" * 5000))


def test_duplicate_keys_rejected_also_nested():
    with pytest.raises(InvalidRequest, match="same key more than once"):
        read_json_body(api_event(raw=b'{"password": "a", "password": "b"}'))
    with pytest.raises(InvalidRequest, match="same key more than once"):
        read_json_body(api_event(raw=b'{"x": {"k": 1, "k": 2}}'))


def test_unpaired_surrogate_escape_rejected():
    with pytest.raises(InvalidRequest, match="Unicode"):
        read_json_body(api_event(raw=b'{"password": "abc\\ud800def"}'))


def test_size_limit_exact_and_over(test_config):
    limit = test_config.max_body_bytes
    filler = "x" * (limit - len('{"a": ""}'))
    exact = ('{"a": "' + filler + '"}').encode()
    assert len(exact) == limit
    assert read_json_body(api_event(raw=exact))["a"] == filler
    with pytest.raises(PayloadTooLarge) as info:
        read_json_body(api_event(raw=exact + b" "))
    assert str(info.value) == "The request body is too large."
    assert isinstance(info.value, InvalidRequest)
    assert (info.value.status, info.value.code) == (413, "invalid_request")


def test_explicit_size_limit():
    with pytest.raises(PayloadTooLarge, match="too large"):
        read_json_body(api_event({"a": "x" * 300}), max_body_bytes=256)


def test_oversized_base64_rejected_before_decoding():
    event = _event_with_body("A" * 10_000_000)
    with pytest.raises(PayloadTooLarge, match="too large"):
        read_json_body(event)


@pytest.mark.parametrize(
    "event", [None, "text", [], {}, {"request": None}, {"request": "x"}, {"request": []}]
)
def test_garbled_envelope(event):
    with pytest.raises(InvalidRequest, match="could not be read"):
        read_json_body(event)
    with pytest.raises(InvalidRequest):
        request_context(event)


def test_missing_body_is_not_json():
    with pytest.raises(InvalidRequest, match="not valid JSON"):
        read_json_body({"request": {"contentType": "application/json"}})


def test_request_context_fields_and_caps():
    event = api_event({})
    event["request"]["userAgent"] = "Mozilla/5.0 \x1b[31mred\x1b[0m\n" + "ua " * 400
    context = request_context(event)
    assert context["sourceIp"] == "203.0.113.7"
    assert context["requestId"] == "req-123"
    assert len(context["userAgent"]) == 512
    assert "\x1b" not in context["userAgent"] and "\n" not in context["userAgent"]
    assert context["userAgent"].startswith("Mozilla/5.0 [31mred[0m")


def test_a_body_the_template_found_too_large_is_413_whatever_the_body_field():
    event = api_event({"a": 1})
    event["request"]["bodyTooLarge"] = True
    with pytest.raises(PayloadTooLarge):
        read_json_body(event)
    event["request"]["bodyTooLarge"] = False
    assert read_json_body(event) == {"a": 1}


def test_request_context_tolerates_missing_or_wrong_types():
    context = request_context({"request": {"sourceIp": 5, "userAgent": None}})
    assert context == {"sourceIp": "", "userAgent": "", "requestId": ""}


def test_correlation_id_sources():
    assert correlation_id(api_event({})) == "req-123"
    assert correlation_id({"user": {}, "context": {"requestId": "r2"}}) == "r2"
    assert correlation_id({"requestContext": {"requestId": "r3"}}) == "r3"
    assert correlation_id({"password": "x"}) is None
    assert correlation_id("nope") is None


def test_body_is_base64_of_raw_bytes():
    raw = '{"name": "Zoë"}'.encode()
    event = {"request": {"body": base64.b64encode(raw).decode(), "contentType": ""}}
    assert read_json_body(event) == {"name": "Zoë"}
