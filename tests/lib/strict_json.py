"""Strict JSON for the tests' checkers: what a client of ours must accept.

loads(text) is json.loads that also refuses a key repeated in an object and
the non-JSON numbers NaN and Infinity (ValueError, like any malformed text).
"""

import json


def _no_dupes(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError(f"duplicate key in {keys}")
    return dict(pairs)


def _no_constant(name):
    raise ValueError(f"non-JSON number {name}")


def loads(text):
    return json.loads(text, object_pairs_hook=_no_dupes, parse_constant=_no_constant)
