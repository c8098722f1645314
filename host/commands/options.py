"""Shared pieces of the `host` command line: the one-line error, the parser, value types and option checks."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, NoReturn, Sequence


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one line instead of usage plus message."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{self.prog}: {message} (see {self.prog} --help)")


def integer(text: str) -> int:
    """An integer argument."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    return value


def count(text: str) -> int:
    """A whole number >= 1."""
    value = integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def number(text: str) -> float:
    """A real number."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def int_list(text: str) -> list[int]:
    """A comma list of integers."""
    return [integer(t) for t in text.split(",") if t]


def float_list(text: str) -> list[float]:
    """A comma list of numbers."""
    return [number(t) for t in text.split(",") if t]


def str_list(text: str) -> list[str]:
    """A comma list of names."""
    return [t.strip() for t in text.split(",") if t.strip()]


def option(dest: str) -> str:
    """The option spelling of an argparse dest."""
    return "--" + dest.replace("_", "-")


def only_for(args: argparse.Namespace, applies: dict[str, tuple[str, ...]], name: str, chosen: str) -> None:
    """CliError naming the first option given that does not apply to `chosen` (`applies`: dest -> the values of
    `name`, e.g. --target, it applies to); options given are those not None and not False."""
    for dest, choices in applies.items():
        value = getattr(args, dest)
        if value is not None and value is not False and chosen not in choices:
            raise CliError(f"{option(dest)} applies to {name} {' or '.join(choices)} only, not {name} {chosen}")


class Deprecated(argparse.Action):
    """An old spelling of an option that still works for one release: it stores into the new option's dest and
    leaves a one-line warning in args.deprecated for main to print once."""

    def __init__(self, option_strings: Sequence[str], dest: str, new: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)
        self.new = new

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)
        namespace.deprecated = f"{option_string} is deprecated; use {self.new}"


class Renamed(argparse.Action):
    """An option whose old meaning here has a new name, rejected in one line naming it (aliasing it to what the
    old name means elsewhere would change the command silently)."""

    def __init__(self, option_strings: Sequence[str], dest: str, new: str, **kwargs: Any) -> None:
        super().__init__(option_strings, argparse.SUPPRESS, nargs="?", help=argparse.SUPPRESS, **kwargs)
        self.new = new

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        raise CliError(f"{parser.prog}: {option_string} is now {self.new}")


def out_folder(path: Path) -> Path:
    """`path` if it is a folder or can become one; CliError when it, or a folder it would be in, is a file."""
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                raise CliError(f"--out {path}: {p} is a file, not a folder")
            return path
    return path


def out_file(path: Path) -> Path:
    """`path` if a file can be written there; CliError when it is a folder or its folder is not one."""
    if path.is_dir():
        raise CliError(f"--out {path} is a folder: name the file to write")
    if not path.parent.is_dir():
        raise CliError(f"--out {path}: {path.parent} is not a folder")
    return path
