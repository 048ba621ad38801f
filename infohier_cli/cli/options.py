"""`infohier train`'s options, generated from `TrainConfig`: one option per field.

Name, type, default, choices and help come from the field and its metadata
(`infohier_cli.config.setting`); nothing about a setting is written here. Choices become
an Enum (Typer lists them in --help); every default is shown (`show_default=True`).
`config_options` turns a command whose signature ends in `**settings` into one with one
keyword parameter per field (`with_parameters`); `given_settings` picks out those the user
typed.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from enum import Enum
from typing import Annotated, Any, get_type_hints

import typer

from infohier_cli.config import TrainConfig

PANEL = "Training settings (saved in the checkpoint)"


def choice_enum(name: str, choices: tuple[str, ...]) -> type[Enum]:
    """A str Enum whose members are the choices (Typer shows them as [a|b|c])."""
    camel = "".join(part.title() for part in name.split("_"))
    return Enum(camel, {choice: choice for choice in choices}, type=str)


def setting_parameters() -> list[inspect.Parameter]:
    """One keyword-only, Typer-annotated parameter per TrainConfig field."""
    hints = get_type_hints(TrainConfig)
    parameters = []
    for config_field in dataclasses.fields(TrainConfig):
        meta = config_field.metadata
        kind, default = hints[config_field.name], config_field.default
        if meta.get("choices"):
            kind = choice_enum(config_field.name, meta["choices"])
            default = kind(default)
        declarations = [meta["flag"]] if meta.get("flag") else []
        option = typer.Option(
            *declarations,
            help=meta.get("help", ""),
            show_default=meta.get("shown") or True,
            rich_help_panel=PANEL,
        )
        parameters.append(
            inspect.Parameter(
                config_field.name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[kind, option],
                default=default,
            )
        )
    return parameters


def with_parameters(target: Callable, source: Callable, extra: list[inspect.Parameter]) -> Callable:
    """Give `target` the parameters of `source` (annotations resolved, a `**kwargs`
    dropped) followed by `extra`: the signature Typer reads to build the options."""
    signature = inspect.signature(source)
    hints = get_type_hints(source, include_extras=True)
    fixed = [
        p.replace(annotation=hints.get(p.name, p.annotation))
        for p in signature.parameters.values()
        if p.kind != inspect.Parameter.VAR_KEYWORD
    ]
    parameters = fixed + extra
    target.__signature__ = signature.replace(parameters=parameters)
    target.__annotations__ = {p.name: p.annotation for p in parameters}
    return target


def config_options(command: Callable) -> Callable:
    """Replace `command`'s trailing `**settings` by one option per TrainConfig field."""
    return with_parameters(command, command, setting_parameters())


def given_settings(ctx: typer.Context, settings: dict[str, Any]) -> dict[str, Any]:
    """The settings the user typed on the command line (plain values, not Enums)."""
    given = {}
    for name, value in settings.items():
        source = ctx.get_parameter_source(name)
        if source is not None and source.name != "DEFAULT":
            given[name] = value.value if isinstance(value, Enum) else value
    return given
