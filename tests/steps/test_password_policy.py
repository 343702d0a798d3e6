import pytest

from steps.core.config import Config
from steps.core.errors import InvalidRequest, WeakPassword
from steps.core.password_policy import (
    check_password_policy,
    common_passwords,
    context_words_for,
    is_common,
    is_trivial,
    normalise_login_password,
)

GOOD = "violet tractor spoon"  # 20 characters, no common words
CONFIG = Config()


def check(password, context=("alice.smith@example.com", "alice.smith")):
    return check_password_policy(password, context_words=context, config=CONFIG)


def test_a_good_passphrase_passes_unchanged():
    assert check(GOOD) == GOOD
    assert check("Gr8 lemon-zebra!") == "Gr8 lemon-zebra!"  # 16 characters


@pytest.mark.parametrize("password", [None, "", 123, ["x" * 20], {"p": 1}])
def test_missing_or_not_a_string(password):
    with pytest.raises(InvalidRequest) as info:
        check(password)
    assert str(info.value) == "password is required."


def test_minimum_length_in_code_points():
    with pytest.raises(WeakPassword) as info:
        check("violet tractor")  # 14
    assert str(info.value) == "Password must be at least 15 characters long."
    assert check("violet tractorz") == "violet tractorz"  # 15
    # 15 code points that are 45 UTF-8 bytes count as 15
    assert len(check("水星の魔女は空を飛ぶ鳥と猫と犬")) == 15


def test_no_composition_rules():
    assert check("just lower case words here")
    assert check("ｓｏｍｅ　ｗｉｄｅ　ｗｏｒｄｓ") == "some wide words"


def test_maximum_length_without_truncation():
    base = "violet tractor spoon " * 10
    a, b = (base * 2)[:199] + "a", (base * 2)[:199] + "b"
    for password in (a, b):
        with pytest.raises(WeakPassword) as info:
            check(password)
        assert str(info.value) == "Password must be at most 128 characters long."
    exactly = (base * 2)[:128]
    assert check(exactly) == exactly
    with pytest.raises(WeakPassword):
        check(exactly + "x")


def test_length_is_counted_after_nfkc():
    # U+FDFA expands to 18 code points under NFKC
    with pytest.raises(WeakPassword, match="at most 128"):
        check("\ufdfa" * 8)
    # ligatures expand: 8 "ﬃ" become 24 letters and pass the minimum
    assert check("\ufb03" * 3 + " violet tractor") == "ffi" * 3 + " violet tractor"


def test_nfkc_normalisation_of_full_width_and_compatibility_forms():
    assert check("Ｖｉｏｌｅｔ ｔｒａｃｔｏｒ ｓｐｏｏｎ") == "Violet tractor spoon"
    composed = "caf\u00e9 violet tractor"
    decomposed = "cafe\u0301 violet tractor"
    assert check(composed) == check(decomposed)


@pytest.mark.parametrize(
    "password",
    [
        "password1234567",
        "Password123456789",
        "PASSWORDPASSWORD",
        "iloveyouiloveyou",
        "qwertyuiopasdfghjkl",
        "dragon sunshine princess",
        "password!!!!!!!!!!!!",
        "1234567890123456",
    ],
)
def test_common_passwords_rejected(password):
    with pytest.raises(WeakPassword) as info:
        check(password)
    assert str(info.value) == "Password is too common; choose a longer passphrase."


def test_exact_match_is_common_even_at_length():
    config = Config(password_min_length=8)
    with pytest.raises(WeakPassword, match="too common"):
        check_password_policy("Password", config=config)
    with pytest.raises(WeakPassword, match="too common"):
        check_password_policy("qwertyuiop", config=config)


def test_passphrase_containing_one_common_word_is_accepted():
    assert check("my dragon eats seven lemons") == "my dragon eats seven lemons"


@pytest.mark.parametrize(
    ("password", "context"),
    [
        ("alice.smith rides a bike", ("alice.smith@example.com", "alice.smith")),
        ("ALICE.SMITH rides a bike", ("alice.smith@example.com", "alice.smith")),
        ("violet stepauth tractor", ()),
        ("violet STEPAUTH tractor", ()),
    ],
)
def test_context_words_rejected(password, context):
    with pytest.raises(WeakPassword) as info:
        check(password, context)
    assert str(info.value) == "Password must not contain your email address or the service name."


def test_service_name_from_config_is_a_context_word():
    config = Config(service_name="acmeauth")
    with pytest.raises(WeakPassword, match="service name"):
        check_password_policy("the acmeauth violet tractor", config=config)


def test_short_context_words_are_ignored():
    assert check("bob rides a violet tractor", ("bob@example.com", "bob")) == (
        "bob rides a violet tractor"
    )


def test_context_words_for_email():
    assert context_words_for("alice@example.com") == ["alice@example.com", "alice"]


@pytest.mark.parametrize(
    "password",
    [
        "a" * 20,
        "€" * 16,
        "abcdefghijklmnopq",
        "zyxwvutsrqponmlkj",
        "123456789:;<=>?@",
        "AbCdEfGhIjKlMnOp",
        "abababababababab",
        "abcdabcdabcdabcd",
        "Xx" * 10,
    ],
)
def test_repeated_or_sequential_rejected(password):
    with pytest.raises(WeakPassword, match="repeated character"):
        check(password)


def test_is_trivial_and_is_common_helpers():
    assert is_trivial("aaaa") and is_trivial("dcba") and not is_trivial("abcabd")
    assert is_common("password", min_length=15)
    assert not is_common("violet tractor spoon", min_length=15)
    assert "password" in common_passwords()
    assert 100 <= len(common_passwords())


def test_messages_never_echo_the_password():
    secret = "Sup3rSecretPassword"
    for password in (secret[:5], secret * 10, f"{secret}stepauth"):
        with pytest.raises((WeakPassword, InvalidRequest)) as info:
            check(password)
        assert secret[:5] not in str(info.value)


def test_login_normalisation_applies_no_strength_policy():
    assert normalise_login_password("short", config=CONFIG) == "short"
    assert normalise_login_password("password", config=CONFIG) == "password"
    assert normalise_login_password("ｐａｓｓ", config=CONFIG) == "pass"
    assert normalise_login_password("x" * 128, config=CONFIG) == "x" * 128


@pytest.mark.parametrize("password", [None, "", 5])
def test_login_password_required(password):
    with pytest.raises(InvalidRequest, match="^password is required.$"):
        normalise_login_password(password, config=CONFIG)


def test_login_password_too_long():
    with pytest.raises(InvalidRequest, match="at most 128 characters"):
        normalise_login_password("x" * 129, config=CONFIG)


def test_the_blocklist_ships_at_least_20000_common_passwords_with_its_licence() -> None:
    from importlib import resources

    from steps.core.password_policy import common_passwords

    listed = common_passwords()
    assert len(listed) >= 20000
    assert {"123456", "password", "qwerty", "iloveyou", "dragon"} <= listed
    licence = resources.files("steps").joinpath("data/COMMON_PASSWORDS_LICENSE.txt").read_text()
    assert "MIT License" in licence and "zxcvbn" in licence


@pytest.mark.parametrize(
    ("password", "common"),
    [
        ("correct horse battery staple", False),  # four words: a passphrase
        ("my dragon eats seven lemons", False),
        ("trombone-lighthouse-42", False),
        ("dragon sunshine princess", True),  # three listed words only
        ("dragonsunshineprincess", True),
        ("password1234567", True),  # a listed password with digits around it
        ("!!sunshine2024!!", True),
        ("iloveyouiloveyou", True),  # a listed password repeated
    ],
)
def test_common_means_listed_or_built_from_few_listed_entries(password, common) -> None:
    from steps.core.password_policy import is_common

    assert is_common(password, min_length=15) is common
