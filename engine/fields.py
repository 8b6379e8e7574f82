"""Case data validation: a pydantic model generated from a flow's `fields:` declarations.

Opening a case validates all fields at once (required ones present, defaults applied,
unknown ones refused); event data and `set` actions validate one field at a time.
Every problem names the field and says what is wrong in plain words.
"""

from __future__ import annotations

import contextlib
import difflib
import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Strict,
    TypeAdapter,
    ValidationError,
    create_model,
)
from pydantic_core import PydanticCustomError

from engine import limits
from engine.definition import FieldDef, FlowDefinition
from engine.errors import InvalidData
from engine.expressions import to_timedelta
from engine.i18n import msg

_BAD_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_DECIMAL_TEXT = re.compile(r"[+-]?\d{1,18}(\.\d{1,18})?")


def _text_ok(value: str) -> str:
    """A text within the length limit, without control characters or lone surrogates (they
    cannot be stored: PostgreSQL refuses NUL, UTF-8 refuses surrogates)."""
    if len(value) > limits.MAX_TEXT_CHARS:
        raise PydanticCustomError(
            "text_too_long", f"is {len(value):,} characters long; a text may have at most "
            f"{limits.MAX_TEXT_CHARS:,} (limit text-length)",
        )  # fmt: skip
    bad = _BAD_TEXT.search(value)
    if bad is not None:
        raise PydanticCustomError(
            "bad_character", f"contains {limits.char_name(bad.group())} at position "
            f"{bad.start() + 1}, which a text may not hold",
        )  # fmt: skip
    return value


def _int_ok(value: int) -> int:
    if not -limits.MAX_INT <= value <= limits.MAX_INT:
        raise PydanticCustomError("int_range", "is outside ±10^18 (limit int-range)")
    return value


def _decimal_in(value: Any) -> Any:
    """Numbers and decimal texts (`"12.50"`, what JSON and forms send) as Decimal; no bools,
    no NaN or infinity, at most 18 digits either side of the point."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and abs(value) <= limits.MAX_INT:
        return Decimal(value)
    if isinstance(value, float) and math.isfinite(value):
        value = repr(value)
    if isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value.strip()):
        return Decimal(value.strip())
    return value


def _decimal_fits(value: Decimal) -> bool:
    return value.is_finite() and abs(value) < _DECIMAL_BOUND


_DECIMAL_BOUND = Decimal(limits.MAX_INT)


def _decimal_ok(value: Decimal) -> Decimal:
    if not _decimal_fits(value):
        raise PydanticCustomError("decimal_range", "is not a number within ±10^18")
    return value


def _date_in(value: Any) -> Any:
    """A date, or its ISO text `2026-03-06`; never a date-time or a number of days."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return date.fromisoformat(value.strip())
    return value


def _in_years(value: date) -> date:
    if not limits.MIN_YEAR <= value.year <= limits.MAX_YEAR:
        raise PydanticCustomError(
            "year_range", f"has the year {value.year}, outside {limits.MIN_YEAR}–"
            f"{limits.MAX_YEAR} (limit year-range)",
        )  # fmt: skip
    return value


def _datetime_in(tz: ZoneInfo) -> Callable[[Any], Any]:
    """A date-time with its zone, or without one (then it is in the calendar's zone), or
    its ISO text `2026-03-06 16:30[+08:00]`; never a bare date or epoch seconds."""

    def localise(value: Any) -> Any:
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = datetime.fromisoformat(value.strip())
        if type(value) is datetime and value.tzinfo is None:
            return value.replace(tzinfo=tz)
        return value

    return localise


def elapsed(text: str) -> timedelta | None:
    """An elapsed duration written as in a flow (`30m`, `2h`, `3d`); None when the text is
    not one (working time needs a calendar)."""
    with contextlib.suppress(ValueError):
        from dsl.compiler import compile_duration
        from dsl.parser import parse_duration

        duration = compile_duration(parse_duration(text))  # as a flow reads it
        if duration.unit == "seconds":
            return to_timedelta(duration)
    return None


def _duration_in(value: Any) -> Any:
    """A timedelta, or an elapsed duration written as in a flow (`30m`, `2h`, `3d`)."""
    if isinstance(value, str):
        return elapsed(value) or value
    return value


def _duration_ok(value: timedelta) -> timedelta:
    if abs(value) > limits.MAX_DURATION:
        raise PydanticCustomError(
            "duration_range", msg("is longer than 100 years (limit duration)")
        )
    return value


def _python_type(field: FieldDef, tz: ZoneInfo) -> Any:
    """The field's type for pydantic, in strict mode: `123` is not a text, `"yes"` not a bool,
    `5` not a date. Texts stand for the values JSON has no type for (dates, date-times,
    decimals, durations), each in one written form."""
    strict = Strict()
    base: Any = {
        "text": Annotated[str, strict, AfterValidator(_text_ok)],
        "int": Annotated[int, strict, AfterValidator(_int_ok)],
        "decimal": Annotated[Decimal, BeforeValidator(_decimal_in), strict,
                             AfterValidator(_decimal_ok)],
        "bool": Annotated[bool, strict],
        "date": Annotated[date, BeforeValidator(_date_in), strict, AfterValidator(_in_years)],
        "datetime": Annotated[datetime, BeforeValidator(_datetime_in(tz)), strict,
                              AfterValidator(_in_years)],
        "duration": Annotated[timedelta, BeforeValidator(_duration_in), strict,
                              AfterValidator(_duration_ok)],
    }.get(field.type, Any)  # fmt: skip
    if field.type == "choice":
        base = Literal[field.choices]
    return base | None if field.optional else base


def _fits(field: FieldDef) -> Callable[[Any], bool]:
    """Whether a value is already exactly what validating it would give (so validation can
    be skipped: most `set` actions and event data are). Anything else goes to pydantic."""
    none_ok = field.optional
    if field.type == "choice":
        choices = frozenset(field.choices)
        return lambda v: (v is None and none_ok) or (type(v) is str and v in choices)
    if field.type == "text":
        most, bad = limits.MAX_TEXT_CHARS, _BAD_TEXT.search
        # isprintable() is a fast yes for ordinary text (CJK included); tabs, newlines and
        # the like go on to the pattern of what a text may not hold
        return lambda v: (
            (v is None and none_ok)
            or (type(v) is str and len(v) <= most and (v.isprintable() or bad(v) is None))
        )
    if field.type == "bool":
        return lambda v: (v is None and none_ok) or type(v) is bool
    if field.type == "int":
        big = limits.MAX_INT
        return lambda v: (v is None and none_ok) or (type(v) is int and -big <= v <= big)
    if field.type == "decimal":
        return lambda v: (v is None and none_ok) or (type(v) is Decimal and _decimal_fits(v))
    if field.type == "duration":
        longest = limits.MAX_DURATION
        return lambda v: (v is None and none_ok) or (type(v) is timedelta and abs(v) <= longest)
    low, high = limits.MIN_YEAR, limits.MAX_YEAR
    if field.type == "date":
        return lambda v: (v is None and none_ok) or (type(v) is date and low <= v.year <= high)
    if field.type == "datetime":
        return lambda v: (
            (v is None and none_ok)
            or (type(v) is datetime and v.tzinfo is not None and low <= v.year <= high)
        )
    return lambda v: False


def check_shape(data: object) -> Mapping[str, Any]:
    """Case or event data as a mapping of field names, at most `limits.MAX_DATA_KEYS` of
    them: InvalidData (naming `data`) for a list, a text, numbers as keys…"""
    if type(data) is not dict and not isinstance(data, Mapping):  # a dict: no ABC check
        problem = msg("must be a mapping of field names to values, got {data}", data=_kind_of(data))
        raise InvalidData({"data": problem})
    if len(data) > limits.MAX_DATA_KEYS:
        problem = msg(
            "has {data:,} keys; at most {MAX_DATA_KEYS} (limit data-keys)",
            data=len(data),
            MAX_DATA_KEYS=limits.MAX_DATA_KEYS,
        )
        raise InvalidData({"data": problem})
    for key in data:
        if type(key) is not str:
            raise InvalidData(
                {"data": msg("the key {key} is not a field name", key=limits.shorten(key))}
            )
    return data


def check_names(**names: object) -> None:
    """Who is acting and on what (`actor`, `role`, `case_id`): each a text of at most
    `limits.MAX_NAME_CHARS` without control characters, or None; InvalidData naming it."""
    for key, value in names.items():
        if value is None:
            continue
        if type(value) is not str:
            raise InvalidData(
                {
                    key: msg(
                        "must be a text, got {value} {value2}",
                        value=_kind_of(value),
                        value2=limits.shorten(value),
                    )
                }
            )
        if len(value) > limits.MAX_NAME_CHARS or not value.isprintable():
            most = limits.MAX_NAME_CHARS
            problem = msg(
                "{value} is not a name: at most {most} characters, none invisible "
                "(limit name-length)",
                value=limits.shorten(value),
                most=most,
            )
            raise InvalidData({key: problem})


class FieldSchema:
    """Validators for one flow's fields, built once per loaded flow."""

    def __init__(self, definition: FlowDefinition, tz: ZoneInfo) -> None:
        self.fields = {f.name: f for f in definition.fields}
        self._adapters = {f.name: TypeAdapter(_python_type(f, tz)) for f in definition.fields}
        specs: dict[str, Any] = {}
        for f in definition.fields:
            type_ = _python_type(f, tz)
            if f.required:
                specs[f.name] = (type_, ...)
            elif f.has_default:  # validated once here (the model does not validate defaults)
                specs[f.name] = (type_, self._adapters[f.name].validate_python(f.default))
            else:
                specs[f.name] = (type_, None)
        self._model: type[BaseModel] = create_model(
            f"{definition.name}_fields",
            __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True),
            **specs,
        )
        self._validate = self._model.__pydantic_validator__.validate_python
        self._fits = {f.name: _fits(f) for f in definition.fields}
        # what the model gives for fields not in the data, in the model's order (required
        # fields hold a place that the data fills)
        self._defaults = {name: spec[1] if spec[1] is not ... else None
                          for name, spec in specs.items()}  # fmt: skip
        self._required = frozenset(f.name for f in definition.fields if f.required)

    def validate_all(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """All fields of a new case: defaults applied, required ones present, no unknown ones."""
        fits = self._fits
        for name, value in data.items():
            check = fits.get(name)
            if check is None or not check(value):
                break  # unknown, or to be converted or refused: the model says which
        else:
            if self._required.issubset(data):  # what the model would give, without it
                values = self._defaults.copy()
                values.update(data)
                return values
        return self.validate_with_model(data)

    def validate_with_model(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """`validate_all` by the pydantic model alone (what its shortcut must agree with)."""
        try:
            model = self._validate(data if type(data) is dict else dict(data))
        except ValidationError as exc:
            raise InvalidData(self._problems(exc)) from None
        return model.__dict__.copy()  # type: ignore[no-any-return]

    def validate_one(self, name: str, value: Any) -> Any:
        """One field's value (a `set` action), validated; InvalidData names what is wrong."""
        fits = self._fits.get(name)
        if fits is not None and fits(value):
            return value
        return self.validate_some({name: value})[name]

    def validate_some(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Some fields (event data, a `set`): each value must fit its field's type."""
        values: dict[str, Any] = {}
        problems: dict[str, str] = {}
        for name, value in data.items():
            fits = self._fits.get(name)
            if fits is None:
                problems[name] = self._unknown(name)
            elif fits(value):
                values[name] = value
            else:
                try:
                    values[name] = self._adapters[name].validate_python(value)
                except ValidationError as exc:
                    problems[name] = self._describe(name, exc.errors()[0])
        if problems:
            raise InvalidData(problems)
        return values

    def _problems(self, exc: ValidationError) -> dict[str, str]:
        problems: dict[str, str] = {}
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            problems.setdefault(name, self._describe(name, err))
        return problems

    def _unknown(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self.fields), n=1)
        hint = msg("; did you mean `{close}`?", close=close[0]) if close else ""
        return msg("not a field of this flow{hint}", hint=hint)

    def _describe(self, name: str, err: Any) -> str:
        kind = err.get("type", "")
        field = self.fields.get(name)
        given = err.get("input")
        if kind == "missing":
            return msg("required but not given")
        if kind == "extra_forbidden":
            return self._unknown(name)
        if field is not None and field.type == "choice" and isinstance(given, str):
            return msg(
                "{given} is not one of: {choices}",
                given=limits.shorten(given),
                choices=", ".join(field.choices),
            )
        if given is None:
            return msg("must be given (it may not be empty)")
        if kind in _RANGE_ERRORS:  # raised by the validators above, with their own words
            return f"{limits.shorten(given)} {err['msg']}"
        expected = _WANTED.get(field.type, field.type) if field else "a value"
        quote = (field is not None and field.type == "text" and type(given) in (int, float)
                 and msg(" (write it in quotes: \"{given}\")", given=given))  # fmt: skip
        return msg(
            "expected {expected}, got {given} {given2}{value}",
            expected=expected,
            given=_kind_of(given),
            given2=limits.shorten(given),
            value=quote or "",
        )


_WANTED = {
    "text": "a text",
    "int": msg("a whole number"),
    "decimal": msg('a number (or a text like "12.50")'),
    "bool": msg("true or false"),
    "date": msg("a date like 2026-03-06"),
    "datetime": msg("a date-time like 2026-03-06 16:30 (with a zone, or in the calendar's)"),
    "duration": msg("a duration like 30m, 2h or 3d"),
    "choice": msg("one of the choices"),
}
_RANGE_ERRORS = frozenset(
    {"text_too_long", "bad_character", "int_range", "decimal_range", "year_range",
     "duration_range"}
)  # fmt: skip


def _kind_of(value: Any) -> str:
    """What a value is, in words, for `expected a text, got the whole number 123`."""
    kinds = {bool: msg("the truth value"), int: msg("the whole number"),
             float: msg("the number"), Decimal: msg("the number"), str: msg("the text"),
             list: msg("a list"), dict: msg("a mapping"), date: msg("the date"),
             datetime: msg("the date-time"), timedelta: msg("the duration")}  # fmt: skip
    return kinds.get(type(value), f"a {type(value).__name__}")
