"""Flask's JSON through orjson: the same documents, a fraction of the CPU.

Dates and dataclasses still go through Flask's own `default` (so a datetime
is rendered exactly as Flask would); `sort_keys` and `indent` are honoured as
the standard library would (indent as two spaces). Anything orjson
refuses to read that the standard library accepts (integers beyond 64 bits,
NaN) is read by the standard library, so no input changes meaning.
"""
from __future__ import annotations

import json
from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class OrjsonProvider(DefaultJSONProvider):
    def dumps(self, obj: Any, **kwargs: Any) -> str:
        option = _OPTIONS
        if kwargs.get("sort_keys", self.sort_keys):
            option |= orjson.OPT_SORT_KEYS
        if kwargs.get("indent"):
            option |= orjson.OPT_INDENT_2
        return orjson.dumps(obj, default=self.default, option=option).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return orjson.loads(s)
        except orjson.JSONDecodeError:
            return json.loads(s)
