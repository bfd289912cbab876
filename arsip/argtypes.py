"""argparse value types shared by the commands: a bad value is a one-line usage error that
names the option (argparse adds "argument --max-pages: ..."; the CLI exits 2)."""

from __future__ import annotations

from argparse import ArgumentTypeError


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise ArgumentTypeError(f"must not be negative: {value}")
    return value


def positive_int(text: str) -> int:
    value = non_negative_int(text)
    if value < 1:
        raise ArgumentTypeError(f"must be at least 1: {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise ArgumentTypeError(f"must be positive: {text}")
    return value
