import pytest

from steps.core.emails import normalise_email
from steps.core.errors import InvalidRequest


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("alice@example.com", "alice@example.com"),
        ("  Alice.Smith@Example.COM \t", "alice.smith@example.com"),
        ("ALICE+tag@sub.example.co.uk", "alice+tag@sub.example.co.uk"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("bob@münchen.de", "bob@xn--mnchen-3ya.de"),
        ("bob@MÜNCHEN.de", "bob@xn--mnchen-3ya.de"),
        ("x@例え.jp", "x@xn--r8jz45g.jp"),
        ("a@b-c.io", "a@b-c.io"),
        ("a@xn--mnchen-3ya.de", "a@xn--mnchen-3ya.de"),
        ("Zoë@example.com", "zoë@example.com"),
        ("Zoe\u0308@example.com", "zoë@example.com"),  # NFC: one account, not two
        ("l" * 64 + "@example.com", "l" * 64 + "@example.com"),
    ],
)
def test_valid(raw, expected):
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        None,
        42,
        ["a@b.de"],
        "",
        "   ",
        "plainaddress",
        "a@b",
        "a@@b.de",
        "a@b@c.de",
        "@example.com",
        "alice@",
        "al ice@example.com",
        "alice@exa mple.com",
        "alice\t@example.com",
        "alice\x00@example.com",
        "ali\u200bce@example.com",
        "alice@example..com",
        "alice@.example.com",
        "alice@example.com.",
        "alice@-example.com",
        "alice@example-.com",
        "alice@exa_mple.com",
        "alice@1.2.3.4",
        "alice@[127.0.0.1]",
        '"alice"@example.com',
        "a,b@example.com",
        ".alice@example.com",
        "alice.@example.com",
        "al..ice@example.com",
        "l" * 65 + "@example.com",
        "a@" + "x" * 64 + ".com",
        "a@" + ".".join(["x" * 60] * 5) + ".com",
        "a" * 1000 + "@example.com",
    ],
)
def test_invalid(raw):
    with pytest.raises(InvalidRequest) as info:
        normalise_email(raw)
    assert str(info.value) == "email must be a valid email address."


def test_total_length_limit():
    local = "l" * 64
    domain = ".".join(["d" * 61] * 3) + ".com"
    assert len(local) + 1 + len(domain) == 254
    assert normalise_email(f"{local}@{domain}") == f"{local}@{domain}"
    longer = ".".join(["d" * 61] * 3) + ".comx"
    with pytest.raises(InvalidRequest):
        normalise_email(f"{local}@{longer}")


def test_message_names_the_field():
    with pytest.raises(InvalidRequest, match="^contact must be a valid email address.$"):
        normalise_email("nope", field="contact")
