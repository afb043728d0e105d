"""`hedgeops completion bash|zsh|fish`: a completion script written from the CLI's own argparse parser, so a new
command or option is completed the day it is added (no argcomplete: the script is static, the shell never runs
Python to complete)."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from dataclasses import dataclass

SHELLS = ("bash", "zsh", "fish")
PROG = "hedgeops"


@dataclass(frozen=True)
class Option:
    flags: tuple[str, ...]  # as written: ("-o", "--output")
    help: str
    takes_value: bool
    choices: tuple[str, ...]
    repeatable: bool


@dataclass(frozen=True)
class Positional:
    name: str
    help: str
    choices: tuple[str, ...]
    many: bool  # nargs + or *


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    options: tuple[Option, ...]
    positionals: tuple[Positional, ...]


def _help(action: argparse.Action) -> str:
    return " ".join(str(action.help or "").split())


def _options(parser: argparse.ArgumentParser) -> tuple[Option, ...]:
    return tuple(Option(tuple(a.option_strings), _help(a), a.nargs != 0, tuple(map(str, a.choices or ())),
                        isinstance(a, argparse._AppendAction | argparse._CountAction))
                 for a in parser._actions if a.option_strings and a.help != argparse.SUPPRESS)


def model(parser: argparse.ArgumentParser) -> tuple[tuple[Option, ...], tuple[Command, ...]]:
    """The top-level options and every subcommand (aliases included) with its options and positionals."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest: _help(c) for c in sub._choices_actions}
    commands = []
    for name, p in sub.choices.items():
        positionals = tuple(Positional(a.dest, _help(a), tuple(map(str, a.choices or ())), a.nargs in ("+", "*"))
                            for a in p._actions if not a.option_strings and a.help != argparse.SUPPRESS)
        commands.append(Command(name, helps.get(name, ""), _options(p), positionals))
    return _options(parser), tuple(commands)


def render(parser: argparse.ArgumentParser, shell: str) -> str:
    top, commands = model(parser)
    renderers: dict[str, Callable[[tuple[Option, ...], tuple[Command, ...]], str]] = {
        "bash": _bash, "zsh": _zsh, "fish": _fish}
    return renderers[shell](top, commands)


def _short(text: str, limit: int = 72) -> str:
    """A help line cut for a completion menu: its first clause, at most `limit` characters."""
    text = text.split("; ")[0]
    return text if len(text) <= limit else text[:limit - 1].rsplit(" ", 1)[0] + "…"


# bash -----------------------------------------------------------------------------------------------------------

def _words(items: list[str]) -> str:
    return shlex.quote(" ".join(items))


def _pattern(flags: tuple[str, ...]) -> str:
    return "|".join(shlex.quote(f) for f in flags)


def _bash_command(c: Command) -> list[str]:
    lines = [f"        {shlex.quote(c.name)})"]
    valued = [o for o in c.options if o.takes_value]
    if valued:
        lines.append('            case "$prev" in')
        for o in valued:
            offer = f'COMPREPLY=( $(compgen -W {_words(list(o.choices))} -- "$cur") ); ' if o.choices else ""
            lines.append(f"                {_pattern(o.flags)}) {offer}return 0 ;;")
        lines.append("            esac")
    flags = [f for o in c.options for f in o.flags]
    choices = [ch for p in c.positionals for ch in p.choices]
    lines.append('            if [[ $cur == -* ]]; then')
    lines.append(f'                COMPREPLY=( $(compgen -W {_words(flags)} -- "$cur") )')
    if choices:
        lines.append("            else")
        lines.append(f'                COMPREPLY=( $(compgen -W {_words(choices)} -- "$cur") )')
    lines.append("            fi")
    lines.append("            ;;")
    return lines


def _bash(top: tuple[Option, ...], commands: tuple[Command, ...]) -> str:
    top_valued = [f for o in top if o.takes_value for f in o.flags]
    skip = f"            {_pattern(tuple(top_valued))}) (( i++ )) ;;\n" if top_valued else ""
    body = "\n".join(line for c in commands for line in _bash_command(c))
    return f"""\
# bash completion for {PROG}, written by `{PROG} completion bash` from the CLI's own parser.
# Load it with:  source <({PROG} completion bash)   (e.g. in ~/.bashrc)
_{PROG}() {{
    local cur prev cmd w i
    COMPREPLY=()
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    prev=""
    (( COMP_CWORD > 0 )) && prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    # --option=value: bash splits the word at '=' (COMP_WORDBREAKS)
    if [[ $cur == "=" ]]; then
        cur=""
    elif [[ $prev == "=" ]] && (( COMP_CWORD > 1 )); then
        prev="${{COMP_WORDS[COMP_CWORD-2]}}"
    fi
    cmd=""
    for (( i = 1; i < COMP_CWORD; i++ )); do
        w="${{COMP_WORDS[i]}}"
        case "$w" in
{skip}            -*) ;;
            *) cmd="$w"; break ;;
        esac
    done
    case "$cmd" in
        "")
            if [[ $cur == -* ]]; then
                COMPREPLY=( $(compgen -W {_words([f for o in top for f in o.flags])} -- "$cur") )
            else
                COMPREPLY=( $(compgen -W {_words([c.name for c in commands])} -- "$cur") )
            fi
            ;;
{body}
    esac
    return 0
}}
# -o default: where nothing is offered (paths, values), bash completes file names
complete -o default -F _{PROG} {PROG}
"""


# zsh ------------------------------------------------------------------------------------------------------------

def _zsh_quoted(text: str) -> str:
    """Text for inside a single-quoted word."""
    return text.replace("'", "'\\''")


def _zsh_text(text: str) -> str:
    """An explanation for inside an _arguments spec's brackets: the characters that delimit a spec's parts (or
    that _arguments expands) escaped with a backslash, as clap_complete does."""
    for char in "\\[]:$`":
        text = text.replace(char, "\\" + char)
    return _zsh_quoted(text)


def _zsh_action(choices: tuple[str, ...]) -> str:
    return f"({' '.join(choices)})" if choices else "_default"


def _zsh_options(options: tuple[Option, ...]) -> list[str]:
    specs = []
    for o in options:
        exclude = "*" if o.repeatable else (f"({' '.join(o.flags)})" if len(o.flags) > 1 else "")
        for flag in o.flags:
            suffix = ("=" if flag.startswith("--") else "+") if o.takes_value else ""
            value = f":{o.flags[-1].lstrip('-')}:{_zsh_action(o.choices)}" if o.takes_value else ""
            specs.append(f"'{exclude}{flag}{suffix}[{_zsh_text(_short(o.help))}]{value}'")
    return specs


def _zsh_positionals(positionals: tuple[Positional, ...]) -> list[str]:
    specs = []
    for i, p in enumerate(positionals, start=1):
        where = "*" if p.many else str(i)
        specs.append(f"'{where}:{p.name}:{_zsh_action(p.choices)}'")
    return specs


def _zsh(top: tuple[Option, ...], commands: tuple[Command, ...]) -> str:
    described = "\n".join(f"        '{c.name}:{_zsh_quoted(_short(c.help))}'" for c in commands)
    top_specs = " \\\n        ".join([*_zsh_options(top), "'1: :->command'", "'*:: :->argument'"])
    cases = []
    for c in commands:
        specs = " \\\n                        ".join([*_zsh_options(c.options), *_zsh_positionals(c.positionals)])
        cases.append(f"                ({c.name})\n                    _arguments \\\n                        {specs}"
                     "\n                    ;;")
    body = "\n".join(cases)
    return f"""\
#compdef {PROG}
# zsh completion for {PROG}, written by `{PROG} completion zsh` from the CLI's own parser.
# Load it with:  source <({PROG} completion zsh)   (after compinit), or save it as _{PROG} in a folder of $fpath

_{PROG}() {{
    local curcontext="$curcontext" state line
    typeset -A opt_args
    local -a commands
    commands=(
{described}
    )
    _arguments -C \\
        {top_specs} && return 0
    case $state in
        (command)
            _describe -t commands '{PROG} command' commands
            ;;
        (argument)
            curcontext="${{curcontext%:*:*}}:{PROG}-$words[1]:"
            case $words[1] in
{body}
            esac
            ;;
    esac
}}

if [ "$funcstack[1]" = "_{PROG}" ]; then
    _{PROG} "$@"
else
    compdef _{PROG} {PROG}
fi
"""


# fish -----------------------------------------------------------------------------------------------------------

def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish_option(condition: str, o: Option) -> str:
    parts = [f"complete -c {PROG} -n {_fish_quote(condition)}"]
    for flag in o.flags:
        parts.append(f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}" if len(flag) == 2
                     else f"-o {flag[1:]}")
    if o.choices:
        parts.append(f"-x -a {_fish_quote(' '.join(o.choices))}")
    elif o.takes_value:
        parts.append("-r -F")
    if o.help:
        parts.append(f"-d {_fish_quote(_short(o.help))}")
    return " ".join(parts)


def _fish(top: tuple[Option, ...], commands: tuple[Command, ...]) -> str:
    lines = [f"# fish completion for {PROG}, written by `{PROG} completion fish` from the CLI's own parser.",
             f"# Load it with:  {PROG} completion fish > ~/.config/fish/completions/{PROG}.fish",
             f"complete -c {PROG} -f"]
    lines += [_fish_option("__fish_use_subcommand", o) for o in top]
    lines += [f"complete -c {PROG} -n __fish_use_subcommand -a {_fish_quote(c.name)} -d {_fish_quote(_short(c.help))}"
              for c in commands]
    for c in commands:
        seen = f"__fish_seen_subcommand_from {c.name}"
        lines += [_fish_option(seen, o) for o in c.options]
        for p in c.positionals:
            offer = f"-a {_fish_quote(' '.join(p.choices))}" if p.choices else "-F"
            lines.append(f"complete -c {PROG} -n {_fish_quote(seen)} {offer}")
    return "\n".join(lines) + "\n"
