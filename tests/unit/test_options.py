"""Output options: the text syntax, every option and its errors, the three sources and their precedence,
named variants, per-prefix rules and object metadata."""

import re

import pytest

from cutout.errors import PermanentError, UnsupportedInputError
from cutout.options import (
    Margin,
    Options,
    OutputOptions,
    OutputOptionsError,
    Variant,
    parse_rules,
    resolve,
)

KEY = "uploads/products/shoe.jpg"


def options(defaults: str = "", rules: str = "", key: str = KEY, **metadata: str) -> Options:
    """The options of the single output (no variants); metadata as ``cutout_max_size="512"`` for
    ``cutout-max-size: 512``."""
    (variant,) = resolve(defaults, rules, key, {k.replace("_", "-"): v for k, v in metadata.items()})
    assert variant.name is None
    return variant.options


def error(defaults: str = "", rules: str = "", key: str = KEY, metadata: dict[str, str] | None = None) -> str:
    with pytest.raises(OutputOptionsError) as raised:
        resolve(defaults, rules, key, metadata or {})
    return str(raised.value)


# --- the defaults and each option ---------------------------------------------------------------------


def test_without_options_the_output_is_todays_cutout():
    assert resolve("", "", KEY, {}) == (Variant(None, Options()),)
    assert Options() == Options(
        format="png", background=None, crop="none", margin=Margin(0), channels="rgba", max_size=None
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("format=png", Options(format="png")),
        ("format=webp", Options(format="webp")),
        ("format=jpg", Options(format="jpg")),
        ("format=jpeg", Options(format="jpg")),
        ("format=WebP", Options(format="webp")),
        ("background=transparent", Options(background=None)),
        ("background=#ffffff", Options(background=(255, 255, 255, 255))),
        ("background=#FF8000", Options(background=(255, 128, 0, 255))),
        ("background=#11223344", Options(background=(0x11, 0x22, 0x33, 0x44))),
        ("crop=none", Options(crop="none")),
        ("crop=subject", Options(crop="subject")),
        ("crop=subject margin=16", Options(crop="subject", margin=Margin(16))),
        ("crop=subject margin=16px", Options(crop="subject", margin=Margin(16))),
        ("crop=subject margin=0", Options(crop="subject", margin=Margin(0))),
        ("crop=subject margin=5%", Options(crop="subject", margin=Margin(5, percent=True))),
        ("crop=subject margin=2.5%", Options(crop="subject", margin=Margin(2.5, percent=True))),
        ("crop=subject margin=10000", Options(crop="subject", margin=Margin(10000))),
        ("crop=subject margin=100%", Options(crop="subject", margin=Margin(100, percent=True))),
        ("channels=rgba", Options(channels="rgba")),
        ("channels=alpha", Options(channels="alpha")),
        ("max_size=16", Options(max_size=16)),
        ("max_size=10000", Options(max_size=10000)),
        ("max_size=none", Options(max_size=None)),
    ],
)
def test_each_option_and_value(text, expected):
    assert options(text) == expected


@pytest.mark.parametrize(
    ("fmt", "extension", "content_type"),
    [("png", ".png", "image/png"), ("webp", ".webp", "image/webp"), ("jpeg", ".jpg", "image/jpeg")],
)
def test_the_format_names_the_extension_and_the_content_type(fmt, extension, content_type):
    chosen = options(f"format={fmt}")
    assert (chosen.extension, chosen.content_type) == (extension, content_type)


def test_a_margin_in_percent_is_of_the_boxs_longer_side():
    assert Margin(5, percent=True).pixels(200, 80) == 10
    assert Margin(5, percent=True).pixels(80, 200) == 10
    assert Margin(2.5, percent=True).pixels(100, 30) == 2  # rounded (2.5 -> 2, to even)
    assert Margin(50, percent=True).pixels(200, 80) == 100
    assert Margin(16).pixels(200, 80) == 16


def test_a_margin_without_a_crop_to_the_subject_is_dropped():
    assert options("margin=5%") == Options()


def test_the_mask_has_no_background():
    assert options("channels=alpha background=#ff0000") == Options(channels="alpha")


# --- the syntax ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "format=webp background=#ffffff crop=subject margin=5% max_size=1024",
        "format=webp,background=#ffffff,crop=subject,margin=5%,max_size=1024",
        "  format=webp, background=#ffffff ,crop=subject\nmargin=5%\tmax-size=1024, ",
        "FORMAT=webp Background=#FFFFFF CROP=subject Margin=5% MAX-SIZE=1024",
        "format=webp background=#ffffff crop=subject margin=5% Max_Size=1024",
    ],
)
def test_separators_and_name_spelling_do_not_matter(text):
    assert options(text) == Options(
        format="webp",
        background=(255, 255, 255, 255),
        crop="subject",
        margin=Margin(5, percent=True),
        max_size=1024,
    )


@pytest.mark.parametrize("text", ["", "   ", ",", " , ,"])
def test_an_empty_text_says_nothing(text):
    assert options(text) == Options()


# --- errors: each names the option, the value, its source and what is accepted --------------------------


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("format=gif", "png, webp, jpg (or jpeg)"),
        ("format=", "png, webp, jpg (or jpeg)"),
        ("background=white", "transparent, #rrggbb, #rrggbbaa"),
        ("background=#fff", "transparent, #rrggbb, #rrggbbaa"),
        ("background=#1234567", "transparent, #rrggbb, #rrggbbaa"),
        ("background=#gggggg", "transparent, #rrggbb, #rrggbbaa"),
        ("crop=center", "none, subject"),
        ("margin=-5", "pixels (16 or 16px, up to 10000) or a percentage"),
        ("margin=10001", "pixels (16 or 16px, up to 10000) or a percentage"),
        ("margin=101%", "pixels (16 or 16px, up to 10000) or a percentage"),
        ("margin=5.5.5%", "pixels (16 or 16px, up to 10000) or a percentage"),
        ("margin=5em", "pixels (16 or 16px, up to 10000) or a percentage"),
        ("channels=rgb", "rgba, alpha"),
        ("max_size=15", "none, or the longest side in pixels from 16 to 10000"),
        ("max_size=10001", "none, or the longest side in pixels from 16 to 10000"),
        ("max_size=1.5", "none, or the longest side in pixels from 16 to 10000"),
        ("max_size=٣٢", "none, or the longest side in pixels from 16 to 10000"),
        ("variants=full,Thumb", "1 to 5 distinct names, each of lowercase letters, digits and '-'"),
        ("variants=a,b,c,d,e,f", "1 to 5 distinct names"),
        ("variants=full,full", "1 to 5 distinct names"),
        ("variants=-full", "not starting with '-'"),
        (f"variants={'a' * 33}", "up to 32"),
        ("variants=", "1 to 5 distinct names"),
    ],
)
def test_a_bad_value_names_option_value_source_and_what_is_accepted(text, accepted):
    name, _, value = text.partition("=")
    message = error(text)
    assert message.startswith(f'option "{name}" = "{value}" (from the stack default): accepted are ')
    assert accepted in message


def test_the_source_of_a_bad_value_is_named_at_each_level():
    assert error("format=gif") == (
        'option "format" = "gif" (from the stack default): accepted are png, webp, jpg (or jpeg)'
    )
    assert error(rules="uploads/products/: format=gif") == (
        'option "format" = "gif" (from the rule for prefix "uploads/products/"): accepted are png, webp, '
        "jpg (or jpeg)"
    )
    assert error(metadata={"cutout-format": "gif"}) == (
        'option "format" = "gif" (from the object\'s metadata cutout-format): accepted are png, webp, '
        "jpg (or jpeg)"
    )


def test_an_unknown_option_lists_the_known_ones():
    assert error("fromat=png") == (
        'unknown option "fromat" (from the stack default): known are format, background, crop, margin, '
        "channels, max_size (each also as <variant>.<option>) and variants"
    )


def test_an_unknown_metadata_key_is_an_error_not_ignored():
    message = error(metadata={"cutout-fromat": "png"})
    assert message.startswith('unknown option "fromat" (from the object\'s metadata cutout-fromat): known')


@pytest.mark.parametrize("key", ["cutout-", "cutout-.format", "cutout-thumb.variants"])
def test_a_metadata_key_that_names_no_option_is_an_error(key):
    assert "(from the object's metadata " + key + ")" in error(metadata={key: "png"})


def test_a_token_that_is_not_name_value_is_an_error():
    assert error("format=png webp=").startswith('unknown option "webp"')
    assert error("webp format=png").startswith('"webp" (from the stack default) is not name=value: known')
    assert error("=webp").startswith('"=webp" (from the stack default) is not name=value')


def test_a_value_holding_an_equals_sign_is_a_bad_value():
    assert error("format=a=b").startswith('option "format" = "a=b" (from the stack default)')


def test_a_value_running_into_the_next_word_is_a_bad_value():
    assert error("format=webp thumb").startswith('option "format" = "webp thumb" (from the stack default)')


@pytest.mark.parametrize(
    "text",
    ["format=png format=webp", "max-size=100 max_size=200", "variants=a variants=b", "format=png Format=png"],
)
def test_an_option_given_twice_in_one_source_is_an_error(text):
    assert "is given twice (from the stack default)" in error(text)


def test_metadata_spelling_one_option_twice_is_an_error():
    assert "given twice" in error(metadata={"cutout-max-size": "100", "cutout-max_size": "200"})


def test_the_error_is_an_unsupported_input_so_admission_records_it():
    with pytest.raises(UnsupportedInputError) as raised:
        resolve("format=gif", "", KEY, {})
    assert isinstance(raised.value, PermanentError)
    assert type(raised.value).__name__ == "OutputOptionsError"


# --- precedence: stack default < longest matching rule < object metadata, option by option -------------


def test_a_rule_overrides_the_default_and_metadata_overrides_the_rule():
    defaults, rules = "format=webp", "uploads/products/: format=jpg"
    assert options(defaults).format == "webp"
    assert options(defaults, rules).format == "jpg"
    assert options(defaults, rules, cutout_format="png").format == "png"


def test_precedence_is_option_by_option():
    chosen = options(
        "format=webp background=#ffffff max_size=2048",
        "uploads/products/: crop=subject background=#000000",
        cutout_max_size="512",
    )
    assert chosen == Options(format="webp", background=(0, 0, 0, 255), crop="subject", max_size=512)


def test_a_higher_source_may_set_an_option_back_to_its_default():
    assert options("max_size=256 crop=subject background=#ffffff", cutout_max_size="none") == Options(
        crop="subject", background=(255, 255, 255, 255)
    )
    assert options("background=#ffffff", cutout_background="transparent").background is None


def test_the_longest_matching_prefix_applies():
    rules = "uploads/: format=webp; uploads/products/: format=jpg; uploads/products/shoes/: format=png"
    assert options(rules=rules, key="uploads/a.jpg").format == "webp"
    assert options(rules=rules, key="uploads/products/a.jpg").format == "jpg"
    assert options(rules=rules, key="uploads/products/shoes/a.jpg").format == "png"


def test_only_one_rule_applies_the_others_do_not_fill_in():
    rules = "uploads/: crop=subject; uploads/products/: format=jpg"
    assert options(rules=rules, key="uploads/products/a.jpg") == Options(format="jpg")


def test_a_rule_applies_only_under_its_prefix():
    rules = "uploads/products/: format=jpg"
    assert options("format=webp", rules, key="uploads/productsx.jpg").format == "webp"
    assert options("format=webp", rules, key="uploads/Products/a.jpg").format == "webp"  # keys are exact


def test_metadata_other_than_ours_is_ignored():
    assert options(content_type="x", cutoutformat="gif", source_key="a") == Options()


def test_metadata_keys_are_read_whatever_their_case():
    assert resolve("", "", KEY, {"Cutout-Format": "webp"})[0].options.format == "webp"


def test_metadata_values_are_trimmed():
    assert options(cutout_max_size=" 512 ").max_size == 512


# --- rules --------------------------------------------------------------------------------------------


def test_rules_syntax():
    rules = parse_rules(" uploads/a/: format=webp ;; uploads/10:30/:\tcrop=subject; uploads/b/: ;")
    assert [rule.prefix for rule in rules] == ["uploads/a/", "uploads/10:30/", "uploads/b/"]
    assert options(rules="uploads/10:30/:\tcrop=subject", key="uploads/10:30/a.jpg").crop == "subject"
    assert options(rules="uploads/b/:", key="uploads/b/a.jpg") == Options()


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (
            "uploads/a/ format=webp",
            'rule 1 "uploads/a/ format=webp" of the prefix rules: expected "<prefix>: <options>"',
        ),
        ("uploads/a/: format=webp; uploads/b/:format=png", 'rule 2 "uploads/b/:format=png"'),
        (": format=webp", 'rule 1 ": format=webp" of the prefix rules'),
        (
            "uploads/a/: format=webp; uploads/a/: crop=subject",
            'the prefix rules name prefix "uploads/a/" twice',
        ),
    ],
)
def test_a_malformed_rule_is_an_error(rules, message):
    assert message in error(rules=rules)


def test_the_stack_options_are_checked_once_whole_before_any_upload():
    with pytest.raises(OutputOptionsError, match='rule for prefix "uploads/x/"'):
        OutputOptions.parse("", "uploads/a/: format=webp; uploads/x/: crop=middle")
    with pytest.raises(
        OutputOptionsError, match=re.escape('"thumb.format" (from the rule for prefix "uploads/x/")')
    ):
        OutputOptions.parse("", "uploads/x/: thumb.format=webp")


def test_the_rule_for_a_key():
    stack = OutputOptions.parse("", "uploads/: format=webp; uploads/products/: format=jpg")
    assert stack.rule_for("uploads/products/a.jpg").prefix == "uploads/products/"
    assert stack.rule_for("other/a.jpg") is None


# --- variants -----------------------------------------------------------------------------------------


def variants(
    defaults: str = "", rules: str = "", key: str = KEY, **metadata: str
) -> dict[str | None, Options]:
    found = resolve(defaults, rules, key, {k.replace("_", "-"): v for k, v in metadata.items()})
    return {variant.name: variant.options for variant in found}


def test_named_variants_share_unscoped_options_and_keep_their_own():
    found = variants("variants=full,thumb format=webp thumb.max_size=256 thumb.background=#ffffff")
    assert found == {
        "full": Options(format="webp"),
        "thumb": Options(format="webp", max_size=256, background=(255, 255, 255, 255)),
    }


def test_variants_come_in_the_order_named():
    assert list(variants("variants=thumb full,large")) == ["thumb", "full", "large"]


def test_variants_may_be_separated_by_spaces_or_commas_with_options_after():
    text = "variants=full, thumb crop=subject"
    assert variants(text) == {"full": Options(crop="subject"), "thumb": Options(crop="subject")}


def test_five_variants_at_most():
    assert list(variants("variants=a,b,c,d,e")) == ["a", "b", "c", "d", "e"]


def test_a_variant_name_is_lowercase_letters_digits_and_dashes():
    assert list(variants(f"variants=thumb-2x,{'a' * 32}")) == ["thumb-2x", "a" * 32]


def test_a_scoped_name_is_case_insensitive_like_any_name():
    assert variants("variants=thumb THUMB.Max-Size=256")["thumb"].max_size == 256


def test_a_variants_own_option_beats_an_option_for_every_variant_from_any_source():
    found = variants("variants=full,thumb thumb.max_size=256", cutout_max_size="1024")
    assert (found["full"].max_size, found["thumb"].max_size) == (1024, 256)


def test_a_variants_own_option_from_a_higher_source_wins():
    found = variants(
        "variants=full,thumb thumb.format=webp",
        "uploads/products/: thumb.format=jpg",
        **{"cutout_thumb.format": "png"},
    )
    assert found["thumb"].format == "png"
    assert (
        variants("variants=full,thumb thumb.format=webp", "uploads/products/: thumb.format=jpg")[
            "thumb"
        ].format
        == "jpg"
    )


def test_metadata_may_choose_among_the_variants_and_keep_their_definitions():
    found = variants("variants=full,thumb thumb.max_size=256", cutout_variants="thumb")
    assert found == {"thumb": Options(max_size=256)}


def test_metadata_may_declare_a_variant_and_set_its_options():
    found = variants(
        cutout_variants="full,small", **{"cutout_small.max-size": "128", "cutout_small.format": "webp"}
    )
    assert found == {"full": Options(), "small": Options(max_size=128, format="webp")}


def test_a_variant_declared_lower_may_be_set_where_other_variants_are_declared():
    found = variants(
        "variants=full,thumb thumb.max_size=256",
        cutout_variants="thumb,small",
        **{"cutout_thumb.format": "webp", "cutout_small.max-size": "64"},
    )
    assert found == {"thumb": Options(format="webp", max_size=256), "small": Options(max_size=64)}


def test_a_rule_may_set_options_of_a_variant_the_defaults_declare():
    found = variants("variants=full,thumb", "uploads/products/: thumb.crop=subject")
    assert found == {"full": Options(), "thumb": Options(crop="subject")}


def test_an_option_for_an_undeclared_variant_is_an_error():
    assert error("variants=full,thumb thumbb.format=webp") == (
        'option "thumbb.format" (from the stack default) is for variant "thumbb", which is not declared: '
        "the variants declared by its source or a lower one (stack default < rule < object metadata) are: "
        "full, thumb"
    )
    assert error(metadata={"cutout-thumb.format": "webp"}).endswith("are: none")


def test_a_variant_declared_only_by_a_higher_source_does_not_count_for_a_lower_one():
    message = error(rules="uploads/products/: small.format=webp", metadata={"cutout-variants": "small"})
    assert message.startswith('option "small.format" (from the rule for prefix "uploads/products/")')


def test_a_bad_value_of_a_variants_option_names_the_variant():
    assert error("variants=thumb thumb.format=gif").startswith(
        'option "thumb.format" = "gif" (from the stack default): accepted are'
    )
    assert error(metadata={"cutout-variants": "thumb", "cutout-thumb.max-size": "9"}).startswith(
        'option "thumb.max_size" = "9" (from the object\'s metadata cutout-thumb.max-size)'
    )


@pytest.mark.parametrize("name", ["Thumb!", "-thumb", "th_umb"])
def test_a_scope_that_is_no_variant_name_is_an_error(name):
    assert error(f"{name}.format=png") == (
        f'option "{name.lower()}.format" (from the stack default): "{name.lower()}" is not a variant name; '
        "variant names are lowercase letters, digits and '-' (up to 32, not starting with '-')"
    )
