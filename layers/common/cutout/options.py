"""Output options: what the cutouts of an upload look like, and where that is said.

One vocabulary (``format``, ``background``, ``crop``, ``margin``, ``channels``, ``max_size``, and
``variants`` for several outputs of one upload) in one text syntax: ``name=value`` tokens separated by
spaces or commas, names case-insensitive with ``-`` and ``_`` alike, an option for one variant written
``<variant>.<option>``::

    format=webp background=#ffffff crop=subject margin=5% max_size=1024
    variants=full,thumb thumb.format=webp thumb.max-size=256

Three sources, in increasing precedence: the stack's defaults (that text), per-prefix rules (``<prefix>:
<options>``, separated by ``;``; the longest prefix of the key applies) and the upload's own user metadata
(``x-amz-meta-cutout-<option>``, ``x-amz-meta-cutout-variants``, ``x-amz-meta-cutout-<variant>.<option>``).
For each variant and option, the variant's own setting from the highest source that has one wins, then the
setting for every variant from the highest source that has one, then the built-in default: a variant's own
options are its definition, which an option for every variant does not change. The variants are those the
highest source that names ``variants`` names; without any, there is one unnamed variant.

A bad option is an ``OutputOptionsError`` (an ``UnsupportedInputError``: the upload gets a failure record
at admission, before the provider is paid) that names the option, the value, its source and what is
accepted. This module is plain Python: the rendering itself is ``cutout.rendering`` (Pillow)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from cutout.errors import UnsupportedInputError

MAX_VARIANTS = 5
METADATA_PREFIX = "cutout-"  # user metadata as boto3 gives it: lowercased, without x-amz-meta-
STACK_DEFAULT = "from the stack default"
_VARIANT_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
# The separators of a text: spaces and commas before the next ``name=``; a comma or space followed by no
# ``=`` stays in the value (``variants=full,thumb``).
_SEPARATOR = re.compile(r"[\s,]+(?=[^\s,=]+=)")
_RULE = re.compile(r"(?P<prefix>.*?):(?:\s+|$)(?P<options>.*)", re.DOTALL)

Colour = tuple[int, int, int, int]  # red, green, blue, alpha: 0-255


class OutputOptionsError(UnsupportedInputError):
    """An output option that is unknown, mistyped or out of range, wherever it was given."""


@dataclass(frozen=True)
class OutputFormat:
    extension: str
    content_type: str


FORMATS: Mapping[str, OutputFormat] = {
    "png": OutputFormat(".png", "image/png"),
    "webp": OutputFormat(".webp", "image/webp"),
    "jpg": OutputFormat(".jpg", "image/jpeg"),
}


@dataclass(frozen=True)
class Margin:
    """Space kept around the subject's box when cropping to it, on each side: ``amount`` pixels of the
    cutout (before ``max_size`` scales it), or with ``percent`` that percentage of the box's longer side."""

    amount: float = 0
    percent: bool = False

    def pixels(self, box_width: int, box_height: int) -> int:
        if self.percent:
            return round(max(box_width, box_height) * self.amount / 100)
        return int(self.amount)


@dataclass(frozen=True)
class Options:
    """One output's complete options; the defaults are today's cutout (a PNG with alpha, as it came)."""

    format: Literal["png", "webp", "jpg"] = "png"
    background: Colour | None = None  # None: transparent (jpg: flattened onto white)
    crop: Literal["none", "subject"] = "none"
    margin: Margin = Margin()  # with crop=subject only
    channels: Literal["rgba", "alpha"] = "rgba"  # alpha: the mask alone, grayscale (background unused)
    max_size: int | None = None  # the longest side in pixels, downscale only

    @property
    def extension(self) -> str:
        """The output's file extension: ``.png``, ``.webp`` or ``.jpg``."""
        return FORMATS[self.format].extension

    @property
    def content_type(self) -> str:
        return FORMATS[self.format].content_type

    def text(self) -> str:
        """Every option, in the syntax it is given in: what an execution carries, read back by
        :meth:`from_text`."""
        background = (
            "transparent" if self.background is None else "#{:02x}{:02x}{:02x}{:02x}".format(*self.background)
        )
        margin = f"{self.margin.amount:g}%" if self.margin.percent else f"{int(self.margin.amount)}px"
        return (
            f"format={self.format} background={background} crop={self.crop} margin={margin} "
            f"channels={self.channels} max_size={self.max_size or 'none'}"
        )

    @classmethod
    def from_text(cls, text: str) -> Options:
        return _options_of(None, (parse_text(text, "carried by the execution"),))


DEFAULT = Options()


@dataclass(frozen=True)
class Variant:
    """One output of an upload: its name (None for the single output of an upload without variants)."""

    name: str | None
    options: Options

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.name, "options": self.options.text()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Variant:
        name = data["variant"]
        return cls(None if name is None else str(name), Options.from_text(str(data["options"])))


def is_default(variants: tuple[Variant, ...]) -> bool:
    """Whether ``variants`` is the one cutout every upload had before options: streamed as it came."""
    return variants == (Variant(None, DEFAULT),)


# --- values -------------------------------------------------------------------------------------------


def _format(raw: str) -> str:
    value = raw.lower()
    value = "jpg" if value == "jpeg" else value
    if value not in FORMATS:
        raise ValueError
    return value


def _background(raw: str) -> Colour | None:
    value = raw.lower()
    if value == "transparent":
        return None
    if not re.fullmatch(r"#(?:[0-9a-f]{6}|[0-9a-f]{8})", value):
        raise ValueError
    digits = f"{value[1:]}ff"  # opaque unless the alpha is given
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16), int(digits[6:8], 16)


def _choice(*accepted: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw.lower() not in accepted:
            raise ValueError
        return raw.lower()

    return parse


def _margin(raw: str) -> Margin:
    match = re.fullmatch(r"(?P<px>[0-9]{1,5})(?:px)?|(?P<pct>[0-9]{1,3}(?:\.[0-9]+)?)%", raw.lower())
    if match is None:
        raise ValueError
    if match["px"] is not None and int(match["px"]) <= 10_000:
        return Margin(int(match["px"]))
    if match["pct"] is not None and float(match["pct"]) <= 100:
        return Margin(float(match["pct"]), percent=True)
    raise ValueError


def _max_size(raw: str) -> int | None:
    if raw.lower() == "none":
        return None
    if not re.fullmatch(r"[0-9]{1,5}", raw) or not 16 <= int(raw) <= 10_000:
        raise ValueError
    return int(raw)


def _variant_names(raw: str) -> tuple[str, ...]:
    names = tuple(part for part in re.split(r"[\s,]+", raw.strip()) if part)
    if not 1 <= len(names) <= MAX_VARIANTS or len(set(names)) != len(names):
        raise ValueError
    if not all(_VARIANT_NAME.fullmatch(name) for name in names):
        raise ValueError
    return names


# Each option: how its text is read, and what is accepted (for the error message).
_OPTIONS: Mapping[str, tuple[Callable[[str], Any], str]] = {
    "format": (_format, "png, webp, jpg (or jpeg)"),
    "background": (_background, "transparent, #rrggbb, #rrggbbaa"),
    "crop": (_choice("none", "subject"), "none, subject"),
    "margin": (_margin, "pixels (16 or 16px, up to 10000) or a percentage of the subject's box (5%)"),
    "channels": (_choice("rgba", "alpha"), "rgba, alpha"),
    "max_size": (_max_size, "none, or the longest side in pixels from 16 to 10000"),
}
_VARIANTS_ACCEPTED = (
    f"1 to {MAX_VARIANTS} distinct names, each of lowercase letters, digits and '-' "
    "(up to 32, not starting with '-')"
)
_KNOWN = f"known are {', '.join(_OPTIONS)} (each also as <variant>.<option>) and variants"


# --- one source ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Setting:
    value: Any
    origin: str  # where it was given, as error messages say it: "from the stack default", ...


@dataclass(frozen=True)
class OptionSet:
    """What one source says: the variants it names, and options keyed by (variant or None for every
    variant, option)."""

    variants: tuple[str, ...] | None
    options: Mapping[tuple[str | None, str], _Setting]


def parse_text(text: str, origin: str = STACK_DEFAULT) -> OptionSet:
    """The options of one text (the stack default, or one rule's); ``origin`` says where it came from."""
    tokens = []
    for token in _SEPARATOR.split(text.strip(" \t\r\n,")):
        if not token:
            continue
        name, equals, value = token.partition("=")
        if not equals or not name:
            raise OutputOptionsError(f'"{token}" ({origin}) is not name=value: {_KNOWN}')
        tokens.append((name, value, origin))
    return _option_set(tokens)


def parse_metadata(metadata: Mapping[str, str]) -> OptionSet:
    """The options in an object's user metadata (``cutout-*`` keys; other metadata is not ours)."""
    tokens = []
    for key, value in metadata.items():
        name = key.lower()
        if name.startswith(METADATA_PREFIX):
            tokens.append(
                (name.removeprefix(METADATA_PREFIX), value.strip(), f"from the object's metadata {name}")
            )
    return _option_set(tokens)


def _option_set(tokens: Iterable[tuple[str, str, str]]) -> OptionSet:
    variants: tuple[str, ...] | None = None
    options: dict[tuple[str | None, str], _Setting] = {}
    for raw_name, raw, origin in tokens:
        scope_name, dot, option = raw_name.lower().rpartition(".")
        option = option.replace("-", "_")
        scope = scope_name if dot else None
        label = f"{scope}.{option}" if dot else option
        if option == "variants" and not dot:
            if variants is not None:
                raise OutputOptionsError(f'option "variants" is given twice ({origin})')
            variants = _parsed(label, raw, origin, _variant_names, _VARIANTS_ACCEPTED)
            continue
        if option not in _OPTIONS:
            raise OutputOptionsError(f'unknown option "{label}" ({origin}): {_KNOWN}')
        if scope is not None and not _VARIANT_NAME.fullmatch(scope):
            raise OutputOptionsError(
                f'option "{label}" ({origin}): "{scope}" is not a variant name; variant names are '
                "lowercase letters, digits and '-' (up to 32, not starting with '-')"
            )
        if (scope, option) in options:
            raise OutputOptionsError(f'option "{label}" is given twice ({origin})')
        parse, accepted = _OPTIONS[option]
        options[scope, option] = _Setting(_parsed(label, raw, origin, parse, accepted), origin)
    return OptionSet(variants, options)


def _parsed(label: str, raw: str, origin: str, parse: Callable[[str], Any], accepted: str) -> Any:
    try:
        return parse(raw)
    except ValueError:
        raise OutputOptionsError(f'option "{label}" = "{raw}" ({origin}): accepted are {accepted}') from None


# --- the stack's options and their resolution ---------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    prefix: str
    options: OptionSet


def parse_rules(text: str) -> tuple[Rule, ...]:
    """``<prefix>: <options>; <prefix>: <options>; ...`` (a prefix holds neither ``;`` nor ``: ``)."""
    rules: dict[str, Rule] = {}
    for number, part in enumerate((p.strip() for p in text.split(";")), start=1):
        if not part:
            continue
        match = _RULE.fullmatch(part)
        if match is None or not match["prefix"].strip():
            raise OutputOptionsError(
                f'rule {number} "{part}" of the prefix rules: expected "<prefix>: <options>"'
            )
        prefix = match["prefix"].strip()
        if prefix in rules:
            raise OutputOptionsError(f'the prefix rules name prefix "{prefix}" twice')
        rules[prefix] = Rule(prefix, parse_text(match["options"], f'from the rule for prefix "{prefix}"'))
    return tuple(rules.values())


@dataclass(frozen=True)
class OutputOptions:
    """The stack's options: its defaults and its per-prefix rules, parsed (and checked) once, at cold
    start; :meth:`resolve` adds an upload's metadata."""

    defaults: OptionSet
    rules: tuple[Rule, ...]

    @classmethod
    def parse(cls, defaults: str, rules: str) -> OutputOptions:
        parsed = cls(parse_text(defaults), parse_rules(rules))
        _check_scopes((parsed.defaults,))
        for rule in parsed.rules:
            _check_scopes((parsed.defaults, rule.options))
        return parsed

    def rule_for(self, key: str) -> Rule | None:
        """The rule of the longest prefix that ``key`` starts with, if any."""
        matching = [rule for rule in self.rules if key.startswith(rule.prefix)]
        return max(matching, key=lambda rule: len(rule.prefix), default=None)

    def resolve(self, key: str, metadata: Mapping[str, str]) -> tuple[Variant, ...]:
        """The outputs of upload ``key`` whose user metadata is ``metadata``, each with complete options."""
        rule = self.rule_for(key)
        sources = (self.defaults, *((rule.options,) if rule else ()), parse_metadata(metadata))
        _check_scopes(sources)
        named = next((s.variants for s in reversed(sources) if s.variants is not None), (None,))
        return tuple(Variant(name, _options_of(name, sources)) for name in named)


def resolve(defaults: str, rules: str, key: str, metadata: Mapping[str, str]) -> tuple[Variant, ...]:
    """The outputs of upload ``key`` under the stack's ``defaults`` and ``rules`` texts and the upload's
    user ``metadata`` (see the module's docstring)."""
    return OutputOptions.parse(defaults, rules).resolve(key, metadata)


def _check_scopes(sources: tuple[OptionSet, ...]) -> None:
    """An option for one variant names a variant that its own source or a lower one declares (a typo in
    a variant's name is an error, not an option that silently applies to nothing)."""
    declared: list[str] = []
    for source in sources:
        if source.variants is not None:
            declared += [name for name in source.variants if name not in declared]
        for (scope, option), setting in source.options.items():
            if scope is not None and scope not in declared:
                raise OutputOptionsError(
                    f'option "{scope}.{option}" ({setting.origin}) is for variant "{scope}", which is not '
                    "declared: the variants declared by its source or a lower one (stack default < rule < "
                    f"object metadata) are: {', '.join(declared) or 'none'}"
                )


def _options_of(variant: str | None, sources: tuple[OptionSet, ...]) -> Options:
    values: dict[str, Any] = {}
    for option in _OPTIONS:
        for scope in (variant, None):
            found = [s.options[scope, option] for s in reversed(sources) if (scope, option) in s.options]
            if found:
                values[option] = found[0].value
                break
    options = Options(**values)
    if options.crop == "none":
        options = replace(options, margin=Margin())
    if options.channels == "alpha":
        options = replace(options, background=None)
    return options
