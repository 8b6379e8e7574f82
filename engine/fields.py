"""Case data validation: a pydantic model generated from a flow's `fields:` declarations.

Opening a case validates all fields at once (required ones present, defaults applied,
unknown ones refused); event data and `set` actions validate one field at a time.
Every problem names the field and says what is wrong in plain words.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    TypeAdapter,
    ValidationError,
    create_model,
)

from engine.definition import FieldDef, FlowDefinition
from engine.errors import InvalidData


def _text(value: Any) -> Any:
    """Numbers typed into a text field (a phone number from YAML) are taken as text."""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    return value


def _python_type(field: FieldDef, tz: ZoneInfo) -> Any:
    def localise(value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().replace("T", " ")
            with contextlib.suppress(ValueError):
                value = datetime.strptime(value, "%Y-%m-%d %H:%M")
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=tz)
        return value

    base: Any = {
        "text": Annotated[str, BeforeValidator(_text)],
        "int": int,
        "decimal": Decimal,
        "bool": bool,
        "date": date,
        "datetime": Annotated[datetime, BeforeValidator(localise)],
        "duration": timedelta,
    }.get(field.type, Any)
    if field.type == "choice":
        base = Literal[field.choices]
    return base | None if field.optional else base


def _fits(field: FieldDef) -> Callable[[Any], bool]:
    """Whether a value is already exactly what validating it would give (so validation can
    be skipped: most `set` actions and event data are). Anything else goes to pydantic."""
    exact = {"text": str, "int": int, "decimal": Decimal, "bool": bool, "date": date,
             "duration": timedelta}.get(field.type)  # fmt: skip
    none_ok = field.optional

    if field.type == "choice":
        choices = frozenset(field.choices)
        return lambda v: (v is None and none_ok) or (type(v) is str and v in choices)
    if field.type == "datetime":
        return lambda v: (v is None and none_ok) or (type(v) is datetime and v.tzinfo is not None)
    if exact is None:
        return lambda v: False
    return lambda v: (v is None and none_ok) or type(v) is exact


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
        hint = f"; did you mean `{close[0]}`?" if close else ""
        return f"not a field of this flow{hint}"

    def _describe(self, name: str, err: Any) -> str:
        kind = err.get("type", "")
        field = self.fields.get(name)
        if kind == "missing":
            return "required but not given"
        if kind == "extra_forbidden":
            return self._unknown(name)
        if field is not None and field.type == "choice":
            return f"{err.get('input')!r} is not one of: {', '.join(field.choices)}"
        if kind in ("none_required",) or err.get("input") is None:
            return "must be given (it may not be empty)"
        wanted = {"text": "a text", "int": "a whole number", "decimal": "a number",
                  "bool": "true or false", "date": "a date like 2026-03-06",
                  "datetime": "a date-time like 2026-03-06 16:30",
                  "duration": "a duration"}  # fmt: skip
        expected = wanted.get(field.type, field.type) if field else "a value"
        return f"{err.get('input')!r} is not {expected}"
