"""Tests for the API Gateway (REST v1) mapping-template renderer in localcloud.mapping_templates."""

import base64
import json
import random

import pytest

from localcloud.mapping_templates import (
    EXAMPLE_SYNC_EXECUTION_REQUEST_TEMPLATE,
    EXAMPLE_SYNC_EXECUTION_RESPONSE_TEMPLATE,
    MappingTemplateError,
    RenderedResponse,
    RequestData,
    escape_javascript,
    render_request_template,
    render_response_template,
)

CONTEXT = {
    "requestId": "c0ffee00-1111-2222-3333-444455556666",
    "extendedRequestId": "Ab1CdEFGhIJKlmN=",
    "httpMethod": "POST",
    "resourcePath": "/login",
    "path": "/prod/login",
    "stage": "prod",
    "apiId": "a1b2c3d4e5",
    "accountId": "123456789012",
    "requestTime": "09/Apr/2015:12:34:56 +0000",
    "requestTimeEpoch": 1428582896000,
    "protocol": "HTTP/1.1",
    "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
    "identity": {"sourceIp": "203.0.113.9", "userAgent": "curl/8.5.0"},
    "authorizer": {"principalId": "user-42", "scope": "openid"},
}


def make_request(
    body="",
    headers=None,
    query=None,
    path_params=None,
    stage_variables=None,
    context=None,
    user_agent="curl/8.5.0",
):
    ctx = json.loads(json.dumps(CONTEXT))
    if user_agent is None:
        del ctx["identity"]["userAgent"]
    else:
        ctx["identity"]["userAgent"] = user_agent
    if context:
        ctx.update(context)
    return RequestData(
        body=body,
        headers=headers if headers is not None else {"Content-Type": "application/json"},
        query=query or {},
        path_params=path_params or {},
        stage_variables=stage_variables or {},
        context=ctx,
    )


def render(template, **kwargs):
    return render_request_template(template, make_request(**kwargs))


# ---------------------------------------------------------------------------------------------
# Step Functions StartSyncExecution: request template

# The same escaping written the way cdk/mapping_templates/start_sync_execution.vtl does it
# (#set + #if instead of inline), to show both spellings behave identically.
SET_STYLE_REQUEST_TEMPLATE = r"""## Request mapping: HTTP request -> StartSyncExecution.
#set($userAgent = "")
#if($context.identity.userAgent)
#set($userAgent = $util.escapeJavaScript($util.escapeJavaScript($context.identity.userAgent).replaceAll("\\'", "'")).replaceAll("\\'", "'"))
#end
{
  "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:X",
  "name": "$context.requestId",
  "input": "{\"request\":{\"body\":\"$util.base64Encode($input.body)\",\"sourceIp\":\"$context.identity.sourceIp\",\"userAgent\":\"$userAgent\",\"requestId\":\"$context.requestId\"}}"
}
"""  # noqa: E501

TRICKY_STRINGS = [
    "curl/8.5.0",
    'Mozilla/5.0 "quoted"',
    "it's",
    "it\\'s",
    "back\\slash and \\\\ double",
    "trailing backslash \\",
    "/leading/and/trailing/",
    "</script><script>alert(1)</script>",
    "line1\nline2\r\nline3\ttab\bbell\fform",
    "nul \x00 and \x01 and \x1f and DEL \x7f",
    "caf\u00e9 na\u00efve \u00fc\u00df \u20ac \u4e2d\u6587",
    "emoji \U0001f600 and \U0001f389 flag \U0001f1eb\U0001f1f7",
    "js separators \u2028 \u2029 bom \ufeff",
    "vtl-looking $util.escapeJavaScript($x) #set($a = 1) ${x} $!y #if(true)",
    'json-looking {"a": [1, 2]} \\" \\u0041',
    "",
    " ",
]


def parse_sync_request(rendered):
    outer = json.loads(rendered)
    assert set(outer) == {"stateMachineArn", "name", "input"}
    inner = json.loads(outer["input"])
    return outer, inner["request"]


@pytest.mark.parametrize(
    "template", [EXAMPLE_SYNC_EXECUTION_REQUEST_TEMPLATE, SET_STYLE_REQUEST_TEMPLATE]
)
@pytest.mark.parametrize("text", TRICKY_STRINGS)
def test_sync_request_template_round_trips_body_and_user_agent(template, text):
    rendered = render(template, body=text, user_agent=text)
    outer, request = parse_sync_request(rendered)
    assert outer["stateMachineArn"] == "arn:aws:states:us-east-1:123456789012:stateMachine:X"
    assert outer["name"] == CONTEXT["requestId"]
    assert base64.b64decode(request["body"]).decode("utf-8") == text
    assert request["userAgent"] == text
    assert request["sourceIp"] == "203.0.113.9"
    assert request["requestId"] == CONTEXT["requestId"]


def test_sync_request_template_round_trips_random_strings():
    alphabet = (
        list("abcXYZ019 ~!@#$%^&*()_+-=[]{}|;:,.<>?`")
        + ["'", '"', "\\", "/", "\\'", "\\\\", "$", "#", "##", "#*", "${", "$!"]
        + [chr(code) for code in range(0x20)]
        + ["\x7f", "\x80", "\u00e9", "\u00ff", "\u0100", "\u0fff", "\u1000", "\u20ac", "\uffff"]
        + ["\u2028", "\u4e2d", "\U0001f600", "\U00010000", "\U0010ffff"]
    )
    rng = random.Random(20240601)
    for _ in range(400):
        body = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        agent = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        for template in (EXAMPLE_SYNC_EXECUTION_REQUEST_TEMPLATE, SET_STYLE_REQUEST_TEMPLATE):
            _, request = parse_sync_request(render(template, body=body, user_agent=agent))
            assert base64.b64decode(request["body"]).decode("utf-8") == body
            assert request["userAgent"] == agent


def test_sync_request_template_lone_surrogate_in_user_agent_survives():
    agent = "broken \ud800 surrogate \udfff"
    _, request = parse_sync_request(
        render(EXAMPLE_SYNC_EXECUTION_REQUEST_TEMPLATE, user_agent=agent)
    )
    assert request["userAgent"] == agent


@pytest.mark.parametrize(
    "template", [EXAMPLE_SYNC_EXECUTION_REQUEST_TEMPLATE, SET_STYLE_REQUEST_TEMPLATE]
)
def test_sync_request_template_without_user_agent(template):
    _, request = parse_sync_request(render(template, body='{"a":1}', user_agent=None))
    assert request["userAgent"] == ""
    assert base64.b64decode(request["body"]) == b'{"a":1}'


def test_sync_request_template_rendered_text_is_exact():
    rendered = render(EXAMPLE_SYNC_EXECUTION_REQUEST_TEMPLATE, body="hi", user_agent="it's/\u00e9")
    assert rendered == (
        '{"stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:X",\n'
        ' "name": "c0ffee00-1111-2222-3333-444455556666",\n'
        ' "input": "{\\"request\\": {\\"body\\": \\"aGk=\\", \\"sourceIp\\": \\"203.0.113.9\\", '
        '\\"userAgent\\": \\"it\'s\\\\\\/\\\\u00E9\\", '
        '\\"requestId\\": \\"c0ffee00-1111-2222-3333-444455556666\\"}}"}\n'
    )


# ---------------------------------------------------------------------------------------------
# Step Functions StartSyncExecution: response template


def sync_answer(status, output=None, **extra):
    answer = {
        "executionArn": "arn:aws:states:us-east-1:123456789012:express:X:abc",
        "status": status,
    }
    if output is not None:
        answer["output"] = json.dumps(output)
    answer.update(extra)
    return json.dumps(answer)


def test_sync_response_template_succeeded_sets_status_and_body():
    integration_body = sync_answer("SUCCEEDED", {"statusCode": 201, "body": '{"a":1}'})
    result = render_response_template(
        EXAMPLE_SYNC_EXECUTION_RESPONSE_TEMPLATE, integration_body, make_request()
    )
    assert isinstance(result, RenderedResponse)
    assert result.status_override == 201
    assert result.body == '{"a":1}\n'  # Velocity keeps the newline that ends the body line
    assert json.loads(result.body) == {"a": 1}
    assert result.header_overrides == {}


def test_sync_response_template_with_the_literal_output_from_the_brief():
    integration_body = (
        '{"status": "SUCCEEDED", '
        '"output": "{\\"statusCode\\":201,\\"body\\":\\"{\\\\\\"a\\\\\\":1}\\"}"}'
    )
    assert json.loads(json.loads(integration_body)["output"]) == {
        "statusCode": 201,
        "body": '{"a":1}',
    }
    result = render_response_template(
        EXAMPLE_SYNC_EXECUTION_RESPONSE_TEMPLATE, integration_body, make_request()
    )
    assert (result.status_override, result.body.strip()) == (201, '{"a":1}')


@pytest.mark.parametrize(
    "integration_body",
    [
        sync_answer("FAILED", error="States.TaskFailed", cause="secret stack trace"),
        sync_answer("TIMED_OUT"),
        sync_answer("ABORTED"),
        '{"__type": "ValidationException", "message": "bad input"}',
        "<html>502 Bad Gateway</html>",
        "",
    ],
)
def test_sync_response_template_anything_but_success_is_500(integration_body):
    result = render_response_template(
        EXAMPLE_SYNC_EXECUTION_RESPONSE_TEMPLATE, integration_body, make_request()
    )
    assert result.status_override == 500
    assert json.loads(result.body) == {
        "error": "server_error",
        "error_description": "The request could not be completed.",
    }
    assert "secret" not in result.body


def test_sync_response_template_success_body_may_contain_anything():
    body = json.dumps({"token": 'a"b\\c/\u00e9\U0001f600', "n": [1, 2.5, None, True]})
    result = render_response_template(
        EXAMPLE_SYNC_EXECUTION_RESPONSE_TEMPLATE,
        sync_answer("SUCCEEDED", {"statusCode": 200, "body": body}),
        make_request(),
    )
    assert result.status_override == 200
    assert result.body.strip() == body


def test_sync_response_template_without_status_code_leaves_status_alone():
    result = render_response_template(
        EXAMPLE_SYNC_EXECUTION_RESPONSE_TEMPLATE,
        sync_answer("SUCCEEDED", {"body": "{}"}),
        make_request(),
    )
    assert result.status_override is None
    assert result.body.strip() == "{}"


def test_response_template_sees_request_context_and_integration_input():
    template = "$context.requestId|$context.identity.sourceIp|$input.path('$.status')|$input.body"
    result = render_response_template(template, '{"status":"OK"}', make_request(body="request"))
    assert result.body == f'{CONTEXT["requestId"]}|203.0.113.9|OK|{{"status":"OK"}}'


# ---------------------------------------------------------------------------------------------
# $context.responseOverride


def test_response_override_status_and_hyphenated_headers():
    template = (
        "#set($context.responseOverride.status = 409)\n"
        '#set($context.responseOverride.header.Retry-After = "3")\n'
        "#set($context.responseOverride.header.X-Request-Id = $context.requestId)\n"
        '#set($context.responseOverride.header["Cache-Control"] = "no-store")\n'
        '{"retry": "$context.responseOverride.header.Retry-After"}'
    )
    result = render_response_template(template, "{}", make_request())
    assert result == RenderedResponse(
        body='{"retry": "3"}',
        status_override=409,
        header_overrides={
            "Retry-After": "3",
            "X-Request-Id": CONTEXT["requestId"],
            "Cache-Control": "no-store",
        },
    )


@pytest.mark.parametrize(
    ("value", "expected"), [('"429"', 429), ("302", 302), ("$input.path('$.s')", 404)]
)
def test_response_override_status_is_an_int(value, expected):
    template = f"#set($context.responseOverride.status = {value})"
    result = render_response_template(template, '{"s": 404}', make_request())
    assert result.status_override == expected
    assert isinstance(result.status_override, int)


@pytest.mark.parametrize("value", ['"abc"', "99", "600", "true", '"2OO"'])
def test_response_override_invalid_status_is_an_error(value):
    with pytest.raises(MappingTemplateError):
        render_response_template(
            f"#set($context.responseOverride.status = {value})", "{}", make_request()
        )


def test_response_override_header_value_cannot_inject_lines():
    template = "#set($context.responseOverride.header.X-Echo = $input.path('$.v'))"
    with pytest.raises(MappingTemplateError):
        render_response_template(template, '{"v": "a\\r\\nSet-Cookie: x=1"}', make_request())


def test_response_overrides_do_not_leak_between_renders():
    template = (
        "#if($input.path('$.set'))"
        "#set($context.responseOverride.status = 418)"
        '#set($context.responseOverride.header.X-A = "1")'
        "#end"
    )
    request = make_request()
    first = render_response_template(template, '{"set": true}', request)
    second = render_response_template(template, '{"set": false}', request)
    assert (first.status_override, first.header_overrides) == (418, {"X-A": "1"})
    assert (second.status_override, second.header_overrides) == (None, {})
    assert "responseOverride" not in request.context


def test_templates_cannot_change_the_callers_context():
    request = make_request()
    render_request_template(
        '#set($context.identity.sourceIp = "6.6.6.6")#set($context.stage = "x")', request
    )
    assert request.context["identity"]["sourceIp"] == "203.0.113.9"
    assert request.context["stage"] == "prod"


# ---------------------------------------------------------------------------------------------
# $input

JSON_BODY = json.dumps(
    {
        "user": {"name": 'Ana "A" \u00e9', "age": 30, "tags": ["x", "y"]},
        "items": [{"id": 1, "price": 2.5}, {"id": 2, "price": 10}],
        "flag": False,
        "nothing": None,
        "a-b": "hyphen",
        "weird key": "spaced",
    }
)


def test_input_body_is_raw_text_even_when_not_json():
    for body in ["not json at all {", "a=1&b=2", "", '{"a": 1}', "$util #set($x=1) ${y}"]:
        assert render("$input.body", body=body) == body


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", json.dumps(json.loads(JSON_BODY), separators=(",", ":"), ensure_ascii=False)),
        ("$.user.name", '"Ana \\"A\\" \u00e9"'),
        ("$.user.age", "30"),
        ("$.user.tags", '["x","y"]'),
        ("$.user.tags[0]", '"x"'),
        ("$.user.tags[-1]", '"y"'),
        ("$.items[1]", '{"id":2,"price":10}'),
        ("$.items[1].price", "10"),
        ("$['user']['age']", "30"),
        ('$["a-b"]', '"hyphen"'),
        ("$['weird key']", '"spaced"'),
        ("$.a-b", '"hyphen"'),
        ("$.items[*].id", "[1,2]"),
        ("$.user.*", '["Ana \\"A\\" \u00e9",30,["x","y"]]'),
        ("$.flag", "false"),
        ("$.nothing", ""),
        ("$.missing", ""),
        ("$.user.tags[5]", ""),
        ("$.user.name.first", ""),
    ],
)
def test_input_json(path, expected):
    literal = f'"{path}"' if "'" in path else f"'{path}'"
    assert render(f"$input.json({literal})", body=JSON_BODY) == expected


def test_input_json_with_double_quoted_path_and_raw_json_embedding():
    rendered = render(
        '{"wrapped": $input.json("$.user"), "n": $input.json(\'$.items[0].price\')}', body=JSON_BODY
    )
    assert json.loads(rendered) == {"wrapped": json.loads(JSON_BODY)["user"], "n": 2.5}


def test_input_path_returns_navigable_values():
    template = (
        "#set($root = $input.path('$'))"
        "$root.user.name|$input.path('$.user').age|$input.path('$.user.tags').size()"
        "|$input.path('$.user.tags')[1]|$input.path('$.items').get(0).price"
        "|#if($input.path('$.user.age') > 18)adult#end"
        "|$input.path('$.flag')|#if($input.path('$.flag'))T#{else}F#end"
        "|$input.path('$.user.age').class|$!input.path('$.missing')|$input.path('$.nothing')"
        "|$root.a-b|$root['weird key']|$input.path('$.user')"
    )
    assert render(template, body=JSON_BODY) == (
        'Ana "A" \u00e9|30|2|y|2.5|adult|false|F|||'
        '|hyphen|spaced|{name=Ana "A" \u00e9, age=30, tags=[x, y]}'
    )


def test_input_path_on_form_body_returns_the_raw_string():
    # The widely used application/x-www-form-urlencoded template relies on this AWS behaviour.
    template = """{
#foreach( $token in $input.path('$').split('&') )
#set( $keyVal = $token.split('=') )
#set( $keyValSize = $keyVal.size() )
#if( $keyValSize >= 1 )
#set( $key = $util.urlDecode($keyVal[0]) )
#if( $keyValSize >= 2 )
#set( $val = $util.urlDecode($keyVal[1]) )
#else
#set( $val = '' )
#end
"$key": "$util.escapeJavaScript($val).replaceAll("\\\\'","'")"#if($foreach.hasNext),#end
#end
#end
}"""
    body = "name=Marcus&email=email%40example.com&message=&quote=it%27s+%22fine%22%2F%C3%A9"
    assert json.loads(render(template, body=body)) == {
        "name": "Marcus",
        "email": "email@example.com",
        "message": "",
        "quote": 'it\'s "fine"/\u00e9',
    }


def test_input_on_non_json_body():
    body = "a=1&b=2"
    assert render("$input.path('$')", body=body) == body
    assert render("$input.json('$')", body=body) == '"a=1&b=2"'
    assert render("[$input.path('$.a')][$input.json('$.a')]", body=body) == "[][]"
    assert render("$input.path('$').length()", body="{broken") == "7"


@pytest.mark.parametrize("body", ["", "   \n"])
def test_input_on_empty_body_is_an_empty_object(body):
    assert (
        render("$input.json('$')|$input.path('$').size()|$input.body", body=body)
        == f"{{}}|0|{body}"
    )


def test_input_json_rejects_nan_and_deep_scan():
    assert render("$input.json('$')", body="NaN") == '"NaN"'  # not JSON, so the raw string
    with pytest.raises(MappingTemplateError, match="JSONPath"):
        render("$input.json('$..id')", body=JSON_BODY)


def test_input_params():
    request = dict(
        path_params={"id": "p-7", "shared": "from-path"},
        query={"q": "search term", "shared": "from-query", "page": "2"},
        headers={"Content-Type": "application/json", "X-Custom": "hdr", "Shared": "from-header"},
    )
    assert render("$input.params('id')|$input.params('q')|$input.params('shared')", **request) == (
        "p-7|search term|from-path"
    )
    assert render(
        "$input.params('x-custom')|$input.params('X-CUSTOM')|[$input.params('nope')]", **request
    ) == ("hdr|hdr|[]")
    assert (
        render(
            "$input.params().header.get('content-type')|$input.params().header.X-Custom"
            "|$input.params().querystring.page|$input.params().path.id"
            "|$input.params().header.containsKey('x-custom')|$input.params().keySet()",
            **request,
        )
        == "application/json|hdr|2|p-7|true|[path, querystring, header]"
    )
    assert render(
        "$input.params()", path_params={"id": "7"}, query={"q": "x"}, headers={"A": "b"}
    ) == ("{path={id=7}, querystring={q=x}, header={A=b}}")


def test_all_params_example_from_the_reference_renders_json():
    template = """#set($allParams = $input.params())
{
  "params" : {
    #foreach($type in $allParams.keySet())
    #set($params = $allParams.get($type))
    "$type" : {
      #foreach($paramName in $params.keySet())
      "$paramName" : "$util.escapeJavaScript($params.get($paramName))"
      #if($foreach.hasNext),#end
      #end
    }
    #if($foreach.hasNext),#end
    #end
  }
}"""
    rendered = render(
        template,
        path_params={"id": "7"},
        query={"q": 'say "hi"', "empty": ""},
        headers={"User-Agent": "x/1\n", "Accept": "*/*"},
    )
    assert json.loads(rendered) == {
        "params": {
            "path": {"id": "7"},
            "querystring": {"q": 'say "hi"', "empty": ""},
            "header": {"User-Agent": "x/1\n", "Accept": "*/*"},
        }
    }


# ---------------------------------------------------------------------------------------------
# $util


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain ASCII text ~ ` ! @", "plain ASCII text ~ ` ! @"),
        ("it's", "it\\'s"),
        ('say "hi"', 'say \\"hi\\"'),
        ("a\\b", "a\\\\b"),
        ("</script>", "<\\/script>"),
        ("\b\f\n\r\t", "\\b\\f\\n\\r\\t"),
        ("\x00\x01\x0b\x0f\x10\x1f", "\\u0000\\u0001\\u000B\\u000F\\u0010\\u001F"),
        ("\x7f", "\x7f"),  # Commons Lang 2 escapes only chars above 0x7F
        ("\x80\u00e9\u00ff", "\\u0080\\u00E9\\u00FF"),
        ("\u0100\u0fff\u1000\u20ac\uabcd\uffff", "\\u0100\\u0FFF\\u1000\\u20AC\\uABCD\\uFFFF"),
        ("\U0001f600", "\\uD83D\\uDE00"),
        ("\U0010ffff", "\\uDBFF\\uDFFF"),
        ("", ""),
    ],
)
def test_escape_javascript_matches_commons_lang_2(raw, escaped):
    assert escape_javascript(raw) == escaped
    assert render("$util.escapeJavaScript($input.body)", body=raw) == escaped


def test_escape_javascript_of_ascii_agrees_with_the_per_character_rules():
    # ASCII text takes a one-call path (str.translate); the per-character loop is the reference.
    import random

    from localcloud import mapping_templates

    def by_character(text: str) -> str:
        out = []
        for char in text:
            code = ord(char)
            if code < 0x20 and char not in mapping_templates._NAMED_ESCAPES:
                out.append(f"\\u{code:04X}")
            else:
                out.append(mapping_templates._NAMED_ESCAPES.get(char, char))
        return "".join(out)

    every_ascii = "".join(map(chr, range(0x80)))
    assert escape_javascript(every_ascii) == by_character(every_ascii)
    generator = random.Random(17)
    for _ in range(500):
        text = "".join(chr(generator.randrange(0x80)) for _ in range(generator.randrange(40)))
        assert escape_javascript(text) == by_character(text)


def test_escape_javascript_idiom_removes_escaped_single_quotes():
    idiom = '$util.escapeJavaScript($input.body).replaceAll("\\\\\'","\'")'
    assert idiom == '$util.escapeJavaScript($input.body).replaceAll("\\\\\'","\'")'
    assert render(idiom, body="it's") == "it's"
    assert render(idiom, body="a\\'b") == "a\\\\'b"
    assert render(idiom, body="'\"'") == "'\\\"'"
    for text in ["it's", "a\\'b", "\\\\'''", "mixed ' \" \\ / \n \u00e9 \U0001f600"]:
        assert json.loads('"' + render(idiom, body=text) + '"') == text


def test_util_escape_javascript_of_null_and_numbers():
    assert render("[$util.escapeJavaScript($nothing)][$util.escapeJavaScript(42)]") == "[][42]"


def test_util_parse_json():
    payload = json.dumps({"errorMessage": json.dumps({"key1": "var1", "key2": {"arr": [1, 2, 3]}})})
    template = (
        "#set ($errorMessageObj = $util.parseJson($input.path('$.errorMessage')))\n"
        '{"errorMessageObjKey2ArrVal" : $errorMessageObj.key2.arr[0]}'
    )
    assert json.loads(render(template, body=payload)) == {"errorMessageObjKey2ArrVal": 1}
    assert render("$util.parseJson('[1, \"a\", true, null]')") == "[1, a, true, null]"
    assert render("$util.parseJson('\"text\"').length()") == "4"


@pytest.mark.parametrize("bad", ["{not json", "NaN", ""])
def test_util_parse_json_rejects_invalid_json_without_echoing_it(bad):
    with pytest.raises(MappingTemplateError) as info:
        render("$util.parseJson($input.body)", body=bad + " secret-value")
    assert "secret-value" not in str(info.value)


def test_util_url_encode_and_decode_like_java_urlencoder():
    raw = "a b&c=d/\u00e9~*._-+%"
    encoded = "a+b%26c%3Dd%2F%C3%A9%7E*._-%2B%25"
    assert render("$util.urlEncode($input.body)", body=raw) == encoded
    assert render("$util.urlDecode($input.body)", body=encoded) == raw
    assert render("$util.urlDecode('%F0%9F%98%80+x%2b')") == "\U0001f600 x+"
    with pytest.raises(MappingTemplateError):
        render("$util.urlDecode('100%')")
    with pytest.raises(MappingTemplateError):
        render("$util.urlDecode('%zz')")


def test_util_base64_encode_and_decode_use_utf8():
    text = 'h\u00e9llo \U0001f600 "/\\'
    encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
    assert render("$util.base64Encode($input.body)", body=text) == encoded
    assert render("$util.base64Decode($input.body)", body=encoded) == text
    assert render("$util.base64Decode('aGk')") == "hi"  # missing padding tolerated
    assert render("$util.base64Encode('')") == ""
    for bad in ["@@@@!", "aGk=aGk=", "aGk =", "a"]:
        with pytest.raises(MappingTemplateError):
            render(f"$util.base64Decode('{bad}')")


# ---------------------------------------------------------------------------------------------
# $context and $stageVariables


def test_context_variables():
    template = (
        "$context.requestId|$context.extendedRequestId|$context.httpMethod|$context.resourcePath"
        "|$context.path|$context.stage|$context.apiId|$context.accountId|$context.requestTime"
        "|$context.requestTimeEpoch|$context.protocol|$context.domainName"
        "|$context.identity.sourceIp|$context.identity.userAgent"
        "|$context.authorizer.principalId|$context.authorizer.scope|[$context.identity.apiKey]"
    )
    assert render(template).split("|") == [
        CONTEXT["requestId"],
        "Ab1CdEFGhIJKlmN=",
        "POST",
        "/login",
        "/prod/login",
        "prod",
        "a1b2c3d4e5",
        "123456789012",
        "09/Apr/2015:12:34:56 +0000",
        "1428582896000",
        "HTTP/1.1",
        "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
        "203.0.113.9",
        "curl/8.5.0",
        "user-42",
        "openid",
        "[]",
    ]


def test_stage_variables():
    stage = {"env": "prod", "table-name": "users"}
    assert (
        render(
            "$stageVariables.env|$stageVariables['table-name']|${stageVariables['env']}|[$stageVariables.none]",
            stage_variables=stage,
        )
        == "prod|users|prod|[]"
    )


# ---------------------------------------------------------------------------------------------
# Velocity language as API Gateway runs it


@pytest.mark.parametrize(
    ("value", "expected"), [(1, "one"), (2, "two"), (3, "other"), ("2", "two")]
)
def test_if_elseif_else(value, expected):
    template = "#set($x = $input.path('$.x'))#if($x == 1)one#elseif($x == 2)two#{else}other#end"
    assert render(template, body=json.dumps({"x": value})) == expected


def test_foreach_with_has_next_builds_json():
    template = """[
#foreach($item in $input.path('$.items'))
  {"id": $item.id, "n": $foreach.count, "i": $foreach.index}#if($foreach.hasNext),#end

#end
]"""
    assert json.loads(render(template, body=JSON_BODY)) == [
        {"id": 1, "n": 1, "i": 0},
        {"id": 2, "n": 2, "i": 1},
    ]


def test_foreach_over_map_iterates_values_and_key_set_gives_keys():
    body = json.dumps({"m": {"a": 1, "b": 2}})
    assert render("#foreach($v in $input.path('$.m'))$v,#end", body=body) == "1,2,"
    assert render("#foreach($k in $input.path('$.m').keySet())$k,#end", body=body) == "a,b,"
    assert render("#foreach($x in $nothing)never#end#foreach($i in [1..3])$i#end") == "123"


def test_string_methods():
    body = json.dumps(
        {"s": "  Hello, World  ", "e": "", "emoji": "a\U0001f600b", "csv": "a,b,,c,,"}
    )
    template = (
        "#set($s = $input.path('$.s'))#set($t = $s.trim())"
        "$t.length()|$s.length()|$input.path('$.e').isEmpty()|$t.isEmpty()|$t.toUpperCase()"
        "|$t.toLowerCase()|$t.substring(7)|$t.substring(0, 5)|$t.indexOf('o')|$t.indexOf('zz')"
        "|$t.lastIndexOf('o')|$t.contains('World')|$t.startsWith('Hell')|$t.endsWith('!')"
        "|$t.replace('l', 'L')|$t.replaceAll('[aeiou]', '*')"
        "|$t.replaceAll('(\\w+), (\\w+)', '$2 $1')"
        "|$t.replaceAll('o', '\\$')|$t.replaceFirst('l', '')|$t.matches('H.*d')|$t.charAt(1)"
        "|$input.path('$.emoji').length()|$input.path('$.emoji').substring(1, 3)"
        "|$input.path('$.csv').split(',')|$input.path('$.csv').split(',').size()"
        "|$t.split('\\s*,\\s*')|$t.equals('Hello, World')|$t.equalsIgnoreCase('hello, world')"
        "|$t.concat('!')"
    )
    assert render(template, body=body).split("|") == [
        "12",
        "16",
        "true",
        "false",
        "HELLO, WORLD",
        "hello, world",
        "World",
        "Hello",
        "4",
        "-1",
        "8",
        "true",
        "true",
        "false",
        "HeLLo, WorLd",
        "H*ll*, W*rld",
        "World Hello",
        "Hell$, W$rld",
        "Helo, World",
        "true",
        "e",
        "4",
        "\U0001f600",
        "[a, b, , c]",
        "4",
        "[Hello, World]",
        "true",
        "true",
        "Hello, World!",
    ]


def test_list_and_map_methods():
    template = (
        "#set($l = [1, 2, 3])#set($m = {'a': 1, 'b': 'x'})"
        "$l.size()|$l.get(0)|$l.contains(2)|$l.isEmpty()|$l.indexOf(3)"
        "|#set($ok = $l.add(4))$ok|$l|$l[3]"
        "|$m.get('a')|$m.b|$m['b']|$m.containsKey('b')|$m.keySet()|$m.size()|$m.isEmpty()"
        "|#set($old = $m.put('a', 5))$old|$m|#foreach($e in $m.entrySet())$e.key=$e.value;#end"
        "|$m.get('missing')|[].isEmpty()"
    )
    assert render(template).split("|") == [
        "3",
        "1",
        "true",
        "false",
        "2",
        "true",
        "[1, 2, 3, 4]",
        "4",
        "1",
        "x",
        "x",
        "true",
        "[a, b]",
        "2",
        "false",
        "1",
        "{a=5, b=x}",
        "a=5;b=x;",
        "",
        "[].isEmpty()",  # not a reference: plain text, as in Velocity
    ]


def test_quiet_and_formal_references():
    assert (
        render("[$missing][$!missing][${missing}][$!{missing}][$missing.deep.er]") == "[][][][][]"
    )
    assert render("#set($v = 'x')${v}y|$!{v}|$v.length()") == "xy|x|1"


def test_numbers_strings_and_operators():
    cases = {
        "#if(10 > 9)T#{else}F#end": "T",
        "#if(2 <= 2 && 3 >= 4)T#{else}F#end": "F",
        "#if(1 == 1.0)T#{else}F#end": "T",
        '#if(1 == "1")T#{else}F#end': "T",  # Velocity compares toString() of different types
        '#if("10" > 9)T#{else}F#end': "F",  # relational operators need numbers
        '#if("abc" == "abc" and "a" != "b")T#{else}F#end': "T",
        "#if(true == 'true')T#{else}F#end": "T",
        "#if(1 == true)T#{else}F#end": "F",
        '#set($x = "a" + 1)$x': "a1",
        '#set($x = 1 + "a")$x': "1a",
        "#set($x = 7 / 2)$x": "3",
        "#set($x = -7 / 2)$x": "-3",
        "#set($x = -7 % 3)$x": "-1",
        "#set($x = 7.0 / 2)$x": "3.5",
        "#set($x = 1 / 0)[$x]": "[]",
        "#set($x = 2 * 3 + 1)$x": "7",
        "#set($x = 10000000.0)$x": "1.0E7",
        "#set($x = 0.5)$x": "0.5",
        "#set($x = true)$x": "true",
    }
    for template, expected in cases.items():
        assert render(template) == expected, template


def test_velocity_1_7_truthiness():
    cases = {
        "#if($missing)T#{else}F#end": "F",
        "#if(!$missing)T#{else}F#end": "T",
        '#if("")T#{else}F#end': "T",
        "#if(0)T#{else}F#end": "T",
        "#if(false)T#{else}F#end": "F",
        "#if($missing && $missing.length() > 0)T#{else}F#end": "F",
        "#if($missing || true)T#{else}F#end": "T",
    }
    for template, expected in cases.items():
        assert render(template) == expected, template
    assert render("#if($input.path('$.nothing'))T#{else}F#end", body=JSON_BODY) == "F"


def test_set_with_null_keeps_the_previous_value():
    assert render("#set($a = 'kept')#set($a = $input.path('$.missing'))$a", body="{}") == "kept"


def test_whitespace_follows_velocity():
    template = (
        "  #set($a = 1)\n#if($a == 1)\nyes\n#else\nno\n#end\n#foreach($i in [1..2])\n$i\n#end\nend"
    )
    assert render(template) == "yes\n1\n2\nend"


def test_macros():
    template = (
        '#macro(field $name $value)"$name": "$util.escapeJavaScript($value)"#end\n'
        '{#field("a" "x\'y")}'
    )
    assert render(template) == '{"a": "x\\\'y"}'


# ---------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    "template",
    [
        "#if($a)never closed",
        "#foreach($x in $list)never closed",
        "$input.json('$'",
        "#set($x = )",
        "#if($a not $b)x#end",
        "#{if}($a)x#end",
    ],
)
def test_syntax_errors_raise_mapping_template_error(template):
    with pytest.raises(MappingTemplateError, match="syntax"):
        render(template)


@pytest.mark.parametrize(
    "template",
    [
        "$input.body.noSuchMethod()",
        "$util.noSuchUtil('x')",
        "$input.nope()",
        "$context.requestId.size()",
        "$input.path('$.items').length()",
        "#set($n = 5)$n.substring(1)",
    ],
)
def test_unknown_methods_are_null_as_in_velocity(template):
    # Velocity 1.7 without strict mode: an unknown method is null, which renders as nothing
    # (checked against Apache Velocity by tests/test_velocity_parity.py).
    assert render(template + "|", body=JSON_BODY) == "|"


@pytest.mark.parametrize(
    "template",
    [
        "$util.base64Encode()",
        "$input.body.substring(5000)",
        "$input.path('$.user.tags').get(9)",
        "$input.body.replaceAll('(', 'x')",
        "$input.body.replaceAll('a', '$9')",
        "#include('other.vtl')",
        "#undefinedMacro('x')",
    ],
)
def test_evaluation_errors_raise_mapping_template_error(template):
    with pytest.raises(MappingTemplateError):
        render(template, body=JSON_BODY)


def test_a_replacement_is_read_against_each_pattern_it_is_used_with():
    # The replacement "$2 $1" is kept between requests: it must still be checked against the
    # groups of every pattern, and long replacements (not kept) follow the same rules.
    for _ in range(2):
        assert render("$input.body.replaceAll('(a)(b)', '$2 $1')", body="ab") == "b a"
        with pytest.raises(MappingTemplateError):
            render("$input.body.replaceAll('(a)b', '$2 $1')", body="ab")
    long = "x" * 70
    assert render(f"$input.body.replaceAll('(a)(b)', '$2{long}$1')", body="ab") == f"b{long}a"
    with pytest.raises(MappingTemplateError):
        render(f"$input.body.replaceAll('(a)b', '$2{long}$1')", body="ab")


def test_user_data_is_never_evaluated_as_template():
    evil = "#set($context.responseOverride.status = 200)$util.base64Decode('!!')#if("
    result = render_response_template("$input.body|$input.path('$')", evil, make_request())
    assert result == RenderedResponse(
        body=f"{evil}|{evil}", status_override=None, header_overrides={}
    )


@pytest.mark.parametrize(
    "body", ["[" * 100_000, "[" * 5_000 + "]" * 5_000, '{"a":' * 3_000 + "1" + "}" * 3_000]
)
def test_hostile_bodies_do_not_crash_the_renderer(body):
    assert render("$input.body.length()", body=body) == str(len(body))
    try:
        render("$input.json('$')|$input.path('$.a')", body=body)
    except MappingTemplateError:
        pass  # a controlled failure is acceptable; any other exception is not


def test_compiled_templates_are_reused_safely():
    template = "#set($n = $input.path('$.n'))#set($context.responseOverride.status = $n)$n"
    for n in (200, 201, 404, 200):
        result = render_response_template(template, json.dumps({"n": n}), make_request())
        assert (result.body, result.status_override) == (str(n), n)


def test_a_hash_before_a_reference_is_text_and_the_reference_renders() -> None:
    """Velocity renders "USERID#$id" as USERID#<id>; airspeed alone leaves "$id" unrendered."""
    request = RequestData(context={"authorizer": {"principalId": "u-1"}, "requestId": "r-1"})
    assert (
        render_request_template("USERID#$context.authorizer.principalId", request) == "USERID#u-1"
    )
    assert render_request_template("a # $context.requestId", request) == "a # r-1"
    assert render_request_template("#ffffff $context.requestId", request) == "#ffffff r-1"
