"""Options declared once: a dataclass field carries its default and its ``--help``; the CLI is generated from it.

Every command (the agent, ``python -m train``, ``python -m convert.quantize``, the benchmarks ...) declares its
options as the fields of one frozen dataclass built with :func:`option`, so the flag, its help, its default and the
constructor cannot drift apart. ``--help`` shows every default; a bool becomes ``--name/--no-name``; a field without a
default is a required option; a field that is itself such a dataclass (a broker's settings) becomes a group of options.
Another command offering the same option declares it with :func:`option_of`. The parser leaves unset options at None,
so a caller can layer other sources (the agent's TOML file and environment) under the command line with
:func:`values_from`.
"""

from __future__ import annotations

import argparse
import enum
import logging
from collections.abc import Sequence
from dataclasses import MISSING, Field, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar, get_type_hints

T = TypeVar("T")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ParsesItems(Protocol):
    """An item type of a tuple option that parses its own items (a string or a TOML table)."""

    def parse(self, value: Any, /) -> Any: ...


def option(
    default: Any = MISSING,
    help: str = "",
    *,
    default_factory: Any = MISSING,
    choices: Sequence[str] | None = None,
    flag: str | None = None,
    separator: str | None = ",",
    cli: bool = True,
    repeat: bool = False,
    shown: str | None = None,
    exists: bool = False,
) -> Any:
    """A dataclass field that is also a command-line option.

    ``choices`` limit a str (or each item of a tuple); ``flag`` overrides ``--<name-with-dashes>``; a tuple's items
    may come as several arguments and each is split on ``separator`` (None: on whitespace), so ``--models a,b`` and
    ``--models a b`` mean the same; ``repeat`` lets the flag be given several times, each adding to the tuple
    (``--source tasmota --source shelly-gen2``); ``shown`` is the default as ``--help`` words it, where the value
    alone would not say it (an empty tuple meaning "all"); ``cli=False`` keeps a field off the command line;
    ``exists`` makes a path given on the command line that is not there a usage error naming it, not a traceback.
    """
    metadata = {
        "help": help,
        "choices": tuple(choices) if choices else None,
        "flag": flag,
        "separator": separator,
        "cli": cli,
        "repeat": repeat,
        "shown": shown,
        "exists": exists,
    }
    return field(default=default, default_factory=default_factory, metadata=metadata)


def option_of(cls: type, name: str, default: Any = MISSING) -> Any:
    """Field ``name`` of ``cls`` declared again for another command (its flag, help, choices), so a command that offers
    the same option does not word it twice; ``default`` overrides the default (and drops its ``shown`` wording)."""
    f = next(f for f in fields(cls) if f.name == name)
    metadata = dict(f.metadata)
    if default is MISSING:
        return field(default=f.default, default_factory=f.default_factory, metadata=metadata)
    return field(default=default, metadata={**metadata, "shown": None})


def cli_fields(cls: type) -> list[Field[Any]]:
    return [f for f in fields(cls) if f.metadata.get("cli", True)]


def flag_of(f: Field[Any]) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def _required(f: Field[Any]) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


def _default(f: Field[Any]) -> Any:
    if f.default is not MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not MISSING else None


def _shown(value: Any, kind: Any) -> str:
    if kind is bool:
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "none"
    return str(value.value if isinstance(value, enum.Enum) else value)


def _items(value: Any, separator: str | None) -> tuple[str, ...]:
    """A tuple option's items from a TOML list, several CLI arguments, or one ``a,b`` string."""
    parts = value if isinstance(value, (list, tuple)) else [value]
    return tuple(item.strip() for part in parts for item in str(part).split(separator) if item.strip())


def _parsed_item_type(kind: Any) -> ParsesItems | None:
    """X of ``tuple[X, ...]`` when X parses its own items (``X.parse``: a string or a TOML table), else None."""
    args = getattr(kind, "__args__", ())
    if getattr(kind, "__origin__", None) is tuple and args and hasattr(args[0], "parse"):
        item_type: ParsesItems = args[0]
        return item_type
    return None


def convert(value: Any, kind: Any, separator: str | None = ",") -> Any:
    """A TOML, environment or command-line value as the field's type (``kind`` from the resolved type hints)."""
    text = str(value)
    if kind is bool:
        return value if isinstance(value, bool) else text.strip().lower() in ("1", "true", "yes", "on")
    if kind == tuple[str, ...]:
        return _items(value, separator)
    item_type = _parsed_item_type(kind)
    if item_type is not None:
        parts = value if isinstance(value, (list, tuple)) else [value]
        return tuple(
            item_type.parse(part)
            for item in parts
            for part in ([item] if isinstance(item, dict) else _items(item, separator))
        )
    if kind in (Path, Path | None):
        return Path(text) if text else None
    if kind in (int, float, int | None, float | None):
        return (int if int in getattr(kind, "__args__", (kind,)) else float)(value)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(value)
    return text


def add_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type) -> None:
    """One argument per CLI field of ``cls``, left at None when not given; help ends with the default (or says the
    option is required). A dataclass field adds its own fields as a group (their names must not clash with these)."""
    hints = get_type_hints(cls)
    for f in cli_fields(cls):
        kind, default, choices = hints[f.name], _default(f), f.metadata.get("choices")
        if isinstance(kind, type) and is_dataclass(kind):
            add_options(parser.add_argument_group(f.name), kind)
            continue
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            choices = tuple(member.value for member in kind)
        shown = f.metadata.get("shown") or ("unset" if default is None else _shown(default, kind))
        help_text = f"{f.metadata['help']} ({'required' if _required(f) else f'default: {shown}'})"
        help_text = help_text.replace("%", "%%")  # argparse formats help with %
        if _required(f):
            parser.add_argument(flag_of(f), dest=f.name, required=True, choices=choices, help=help_text)
        elif kind is bool:
            parser.add_argument(
                flag_of(f), dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text
            )
        elif f.metadata.get("repeat"):
            parser.add_argument(flag_of(f), dest=f.name, action="extend", nargs="+", default=None, help=help_text)
        elif kind == tuple[str, ...]:
            metavar = "{" + ",".join(choices) + "}" if choices else None
            parser.add_argument(flag_of(f), dest=f.name, nargs="*", default=None, metavar=metavar, help=help_text)
        else:
            parser.add_argument(flag_of(f), dest=f.name, default=None, choices=choices, help=help_text)


def values_from(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The options given on the command line, typed; raises ValueError on an item outside a tuple's choices. A
    dataclass field is built from its group's options."""
    hints = get_type_hints(cls)
    values = {}
    for f in cli_fields(cls):
        if is_dataclass(hints[f.name]):
            values[f.name] = hints[f.name](**values_from(args, hints[f.name]))
            continue
        raw = getattr(args, f.name)
        if raw is None:
            continue
        value = convert(raw, hints[f.name], f.metadata.get("separator", ","))
        if f.metadata.get("exists") and value is not None and not Path(value).exists():
            raise ValueError(f"{flag_of(f)}: {value} does not exist (no such file or folder)")
        choices = f.metadata.get("choices")
        if isinstance(value, tuple) and choices and set(value) - set(choices):
            raise ValueError(f"{flag_of(f)}: unknown {sorted(set(value) - set(choices))}; choose from {list(choices)}")
        values[f.name] = value
    return values


def build_parser(cls: type, prog: str, description: str, log_level: str | None = "INFO") -> argparse.ArgumentParser:
    """The command line of ``cls``; with ``log_level``, also ``--log-level`` (not part of the config)."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_options(parser, cls)
    if log_level is not None:
        parser.add_argument(
            "--log-level", default=log_level, choices=LOG_LEVELS, help=f"Python logging level (default: {log_level})"
        )
    return parser


def parse_options(cls: type[T], argv: Sequence[str] | None, parser: argparse.ArgumentParser) -> T:
    """``cls`` from the command line (defaults for what is not given); a value the config refuses is a usage error
    (exit 2, the reason on stderr). Sets up logging when the parser has ``--log-level``."""
    args = parser.parse_args(argv)
    if getattr(args, "log_level", None):
        logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return cls(**values_from(args, cls))
    except (ValueError, TypeError) as error:
        parser.error(str(error))
