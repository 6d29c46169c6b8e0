"""Conversation state as JSON: every value a type tag plus its fields, and only the bot's own types come back.

bot.persistence stores each person's drafts (``context.user_data``) and each conversation's step with this codec.
A pickle would run whatever code its bytes name when loaded, so anyone able to write the ``conversation_state``
table could run code on every bot host; a JSON value here can only become plain data, dates and times, or an
instance of a dataclass or enum defined in the bot's own packages (`OWN_PACKAGES`), built from its fields.

The format (every JSON object is a tagged value; JSON arrays are lists; strings, numbers, booleans and null are
themselves)::

    {"$type": "dict", "items": [[key, value], ...]}       any hashable keys (int, str, tuple …)
    {"$type": "tuple" | "set" | "frozenset", "items": [...]}
    {"$type": "datetime", "value": "2026-12-04T15:00:00+08:00", "zone": "Asia/Shanghai"}   zone: a ZoneInfo key
    {"$type": "date" | "time", "value": "…"}   {"$type": "timedelta", "seconds": 90.0}
    {"$type": "enum", "class": "bot.models:ActivityKind", "value": "支委会"}
    {"$type": "dataclass", "class": "handlers.activities:_Draft", "fields": {"member_id": 7, …}}

`unpickle_legacy` reads the pickles earlier versions wrote, allowing only the same types; the migration that
introduced this format converts rows with it once.
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import json
import pickle
from datetime import date, datetime, time, timedelta, timezone
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

OWN_PACKAGES = ("bot", "handlers", "scheduler", "knowledge")
TAG = "$type"
MAX_DEPTH = 32


class StateFormatError(ValueError):
    """A value that cannot be stored, or stored text that does not decode to an allowed value."""


# --- encoding ------------------------------------------------------------------------------------------------------


def dumps(value: Any) -> str:
    """``value`` as tagged JSON text; StateFormatError names the first value of a type that cannot be stored."""
    try:
        return json.dumps(_encode(value, 0), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except StateFormatError:
        raise
    except ValueError as error:  # NaN or infinity
        raise StateFormatError(str(error)) from error


def _class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _encode(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise StateFormatError("value nested too deeply")
    inner = depth + 1
    if isinstance(value, Enum):  # first: a StrEnum is a str, an IntEnum an int
        _own_class(type(value), Enum)
        return {TAG: "enum", "class": _class_path(type(value)), "value": _encode(value.value, inner)}
    if value is None or type(value) in (bool, str, int, float):
        return value
    if isinstance(value, list):
        return [_encode(item, inner) for item in value]
    if isinstance(value, tuple | set | frozenset):
        kind = "tuple" if isinstance(value, tuple) else type(value).__name__
        if type(value) not in (tuple, set, frozenset):
            raise StateFormatError(f"cannot store a {type(value).__qualname__}")
        items = list(value) if kind == "tuple" else sorted(value, key=repr)
        return {TAG: kind, "items": [_encode(item, inner) for item in items]}
    if isinstance(value, dict):
        return {TAG: "dict", "items": [[_encode(k, inner), _encode(v, inner)] for k, v in value.items()]}
    if isinstance(value, datetime):
        encoded = {TAG: "datetime", "value": value.isoformat()}
        if isinstance(value.tzinfo, ZoneInfo):
            encoded["zone"] = value.tzinfo.key
        elif value.tzinfo is not None and not isinstance(value.tzinfo, timezone):
            raise StateFormatError(f"cannot store the time zone {value.tzinfo!r}")
        return encoded
    if isinstance(value, date):
        return {TAG: "date", "value": value.isoformat()}
    if isinstance(value, time):
        if value.tzinfo is not None:
            raise StateFormatError("cannot store a time of day with a time zone")
        return {TAG: "time", "value": value.isoformat()}
    if isinstance(value, timedelta):
        return {TAG: "timedelta", "seconds": value.total_seconds()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        _own_class(type(value), None)
        fields = {f.name: _encode(getattr(value, f.name), inner) for f in dataclasses.fields(value)}
        return {TAG: "dataclass", "class": _class_path(type(value)), "fields": fields}
    raise StateFormatError(f"cannot store a {type(value).__module__}.{type(value).__qualname__}")


# --- decoding ------------------------------------------------------------------------------------------------------


def loads(text: str | bytes) -> Any:
    """The value ``dumps`` wrote; StateFormatError for malformed text or a type that is not allowed."""
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise StateFormatError(f"not JSON: {error}") from error
    return _decode(data, 0)


def _decode(data: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise StateFormatError("value nested too deeply")
    inner = depth + 1
    if data is None or isinstance(data, bool | int | float | str):
        return data
    if isinstance(data, list):
        return [_decode(item, inner) for item in data]
    if not isinstance(data, dict):
        raise StateFormatError(f"unexpected JSON {type(data).__name__}")
    tag = data.get(TAG)
    try:
        if tag == "dict":
            return {_decode(k, inner): _decode(v, inner) for k, v in data["items"]}
        if tag in ("tuple", "set", "frozenset"):
            items = [_decode(item, inner) for item in data["items"]]
            return {"tuple": tuple, "set": set, "frozenset": frozenset}[tag](items)
        if tag == "datetime":
            moment = datetime.fromisoformat(data["value"])
            zone = data.get("zone")
            return moment.astimezone(ZoneInfo(zone)) if zone is not None else moment
        if tag == "date":
            return date.fromisoformat(data["value"])
        if tag == "time":
            return time.fromisoformat(data["value"])
        if tag == "timedelta":
            return timedelta(seconds=float(data["seconds"]))
        if tag == "enum":
            enum_class = resolve_class(data["class"], Enum)
            return enum_class(_decode(data["value"], inner))
        if tag == "dataclass":
            cls = resolve_class(data["class"], None)
            values = {str(name): _decode(value, inner) for name, value in dict(data["fields"]).items()}
            init = {f.name for f in dataclasses.fields(cls) if f.init}
            return cls(**{name: value for name, value in values.items() if name in init})
    except StateFormatError:
        raise
    except (KeyError, TypeError, ValueError) as error:  # a field missing or renamed, a bad date …
        raise StateFormatError(f"cannot rebuild a {tag}: {error!r}") from error
    raise StateFormatError(f"unknown type tag {tag!r}")


def resolve_class(path: str, base: type | None) -> type:
    """The class ``module:Qual.Name`` if it is one of ours: a dataclass (``base`` None) or a ``base`` subclass.

    Only modules inside `OWN_PACKAGES` are imported; nothing else is looked up, so a stored name can never reach
    ``os.system``, ``subprocess.Popen`` or any other callable."""
    module_name, _, qualname = str(path).partition(":")
    if module_name.split(".")[0] not in OWN_PACKAGES or not qualname or "<" in qualname:
        raise StateFormatError(f"{path} is not one of the bot's own classes")
    try:
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as error:
        raise StateFormatError(f"{path} no longer exists") from error
    return _own_class(found, base, path)


def _own_class(cls: Any, base: type | None, path: str | None = None) -> type:
    path = path or (_class_path(cls) if isinstance(cls, type) else repr(cls))
    if not isinstance(cls, type) or cls.__module__.split(".")[0] not in OWN_PACKAGES:
        raise StateFormatError(f"{path} is not one of the bot's own classes")
    if base is None and not dataclasses.is_dataclass(cls):
        raise StateFormatError(f"{path} is not a dataclass")
    if base is not None and not issubclass(cls, base):
        raise StateFormatError(f"{path} is not a {base.__name__}")
    return cls


# --- the pickles of earlier versions --------------------------------------------------------------------------------


def _zone_getattr(owner: object, name: str) -> Any:
    """The one ``getattr`` a pickle of an aware datetime needs (``ZoneInfo._unpickle``); a general getattr would
    reach from any allowed class to module globals and from there to anything."""
    if owner is ZoneInfo and name == "_unpickle":
        return ZoneInfo._unpickle  # type: ignore[attr-defined]
    raise StateFormatError(f"getattr({owner!r}, {name!r}) is not allowed")


_STANDARD_CLASSES: dict[tuple[str, str], Any] = {
    ("datetime", "datetime"): datetime,
    ("datetime", "date"): date,
    ("datetime", "time"): time,
    ("datetime", "timedelta"): timedelta,
    ("datetime", "timezone"): timezone,
    ("zoneinfo", "ZoneInfo"): ZoneInfo,
    ("zoneinfo._zoneinfo", "ZoneInfo"): ZoneInfo,
    ("builtins", "getattr"): _zone_getattr,
}


class _OwnTypesUnpickler(pickle.Unpickler):
    """Resolves only dates, times and zones, and the bot's own dataclasses and enums; anything else is refused
    before it can be called."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _STANDARD_CLASSES:
            return _STANDARD_CLASSES[(module, name)]
        try:
            return resolve_class(f"{module}:{name}", None)
        except StateFormatError:
            return resolve_class(f"{module}:{name}", Enum)


def unpickle_legacy(data: bytes) -> Any:
    """A pickle written by an earlier version, read with `_OwnTypesUnpickler`; StateFormatError otherwise."""
    try:
        return _OwnTypesUnpickler(io.BytesIO(data)).load()
    except StateFormatError:
        raise
    except Exception as error:  # any malformed pickle
        raise StateFormatError(f"not a readable pickle: {error!r}") from error
