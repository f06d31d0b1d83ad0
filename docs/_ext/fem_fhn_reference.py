"""Write the configuration and command-line references from the code before Sphinx reads.

`_generated/configuration.md` comes from the config dataclasses (`fem_fhn.config.SECTIONS`: every
table, key, type and default, and the class docstring) and the kernel factory
(`fem_fhn.kernels.KERNEL_TYPES`); `_generated/cli.md` from the argparse parser of `fem-fhn`. They
are rebuilt on every build, so the reference cannot drift from the code.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from pathlib import Path


def _type_name(hint) -> str:
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "").replace("NoneType", "None")


def _toml(value) -> str:
    """A default value as it is written in TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return "(required)"
    return f"`{_toml(value)}`".replace("|", "\\|")


def _comments(cls) -> dict[str, str]:
    """The trailing `# comment` of each field line in the class source."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    found = {}
    for line in source.splitlines():
        match = re.match(r"\s+(\w+)\s*:[^#]*#\s*(?:noqa\S*\s*)?(.*)$", line)
        if match and match.group(2):
            found[match.group(1)] = match.group(2).replace("|", "\\|")
    return found


def configuration_markdown() -> str:
    """The configuration reference as MyST markdown."""
    from fem_fhn import config, kernels

    lines = [
        "# Configuration reference",
        "",
        "A run is described by a TOML file whose tables map one-to-one onto frozen dataclasses",
        "of `fem_fhn.config`; this page is generated from them. Every value is checked when the",
        "file is read: an unknown key, a wrong type or a value out of range stops the run before",
        "any work with one line `<table>.<key> = <value> is not allowed: <what is allowed>`.",
        "Paths are relative to the config file.",
        "",
    ]
    for name, cls in config.SECTIONS.items():
        lines += [f"## `[{name}]`", ""]
        doc = inspect.getdoc(cls) or ""
        if doc and not doc.startswith(cls.__name__ + "("):
            lines += [doc.split("\n\n")[0].replace("\n", " "), ""]
        if cls is config.KernelConfig:
            lines += [
                "The table names a kernel `type` and its keys; `allow_negative = true` is needed",
                "for kernels that take negative values. The dimension is the mesh's topological",
                'one (2 on a surface in space). `distance = "geodesic"` measures distances',
                "along a triangle surface (methods dense, sparse, hmatrix); the default",
                '`"euclidean"` is straight (chordal through space on a surface).',
                "",
                "| type | required keys | optional keys |",
                "|---|---|---|",
            ]
            for kind in kernels.KERNEL_TYPES:
                _, required, optional = kernels._FACTORY[kind]
                req = ", ".join(f"`{k}`" for k in required if k != "dim")
                opt = ", ".join(f"`{k}`" for k in optional if k != "dim")
                lines.append(f"| `{kind}` | {req} | {opt} |")
            lines.append("")
            continue
        hints = typing.get_type_hints(cls)
        comments = _comments(cls)
        lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
        for f in dataclasses.fields(cls):
            kind = _type_name(hints[f.name]).replace("|", "or")
            note = comments.get(f.name, "")
            lines.append(f"| `{f.name}` | {kind} | {_default(f)} | {note} |")
        lines.append("")
    return "\n".join(lines)


def cli_markdown() -> str:
    """The `fem-fhn` command reference (every sub-command's help) as MyST markdown."""
    import argparse

    from fem_fhn import cli

    parser = cli._parser()
    lines = ["# Command-line reference", "", "```text", parser.format_help().rstrip(), "```", ""]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                lines += [f"## `fem-fhn {name}`", "", "```text", sub.format_help().rstrip()]
                lines += ["```", ""]
    doc = inspect.getdoc(cli) or ""
    if "Exit codes:" in doc:
        lines += ["## Exit codes", "", "```text", doc[doc.index("Exit codes:") :], "```", ""]
    return "\n".join(lines)


def _write(app) -> None:
    out = Path(app.srcdir) / "_generated"
    out.mkdir(exist_ok=True)
    for name, text in (("configuration.md", configuration_markdown()), ("cli.md", cli_markdown())):
        path = out / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


_LONE_STAR = re.compile(r"(?<![*\\])\*(?!\*)")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _plain_math(app, what, name, obj, options, lines) -> None:
    """Docstrings write formulas as plain text: keep reST from reading them as markup.

    `|x|` and `Ψ*ρ` are escaped, and a paragraph ending in ':' that introduces an indented block
    (a displayed formula) introduces a literal block instead.
    """
    out: list[str] = []
    previous = ""  # the last non-blank line
    for i, line in enumerate(lines):
        line = _LONE_STAR.sub(r"\\*", line.replace("|", "\\|"))
        following = next((x for x in lines[i + 1 :] if x.strip()), None)
        opens_block = following is not None and _indent(following) > _indent(line)
        if line.rstrip().endswith(":") and not line.rstrip().endswith("::") and opens_block:
            line = line.rstrip() + ":"
            if i + 1 < len(lines) and lines[i + 1].strip():
                out += [line, ""]
                previous = line
                continue
        if line.strip() and out and not out[-1].strip() and previous:
            after_text = not previous.rstrip().endswith("::")
            if after_text and _indent(line) > _indent(previous):
                out += [" " * _indent(previous) + "::", ""]
        out.append(line)
        if line.strip():
            previous = line
    lines[:] = out


def setup(app):
    app.connect("builder-inited", _write)
    app.connect("autodoc-process-docstring", _plain_math)
    return {"parallel_read_safe": True, "version": "1"}
