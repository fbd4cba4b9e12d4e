"""Tahoma from Python (docs/python.md).

Every function runs the tahoma command line in this process (the compiled ``_tahoma`` extension
calls the same C++ function as the ``tahoma`` binary) and returns what ``tahoma COMMAND ...
--format json`` prints, parsed into dicts and lists: the keys, values and error messages are the
command's own and cannot drift from it.

Keyword arguments are the command's flags with ``_`` for ``-``: ``global_batch=64`` is
``--global-batch 64``, ``set=["chip.hbm_capacity=288GB"]`` is ``--set`` repeated, ``True`` is a
bare switch (``uneven_pipeline=True``), ``False`` and ``None`` leave the flag out, any other list
is joined by commas (``systems=["trn2", "tpu-v7"]``). ``format="csv"`` or ``"table"`` returns
that text instead of a dict.

    >>> import tahoma
    >>> r = tahoma.simulate(system="trn3-ultraserver", chips=144, model="llama3-70b",
    ...                     seq=8192, global_batch=64, tp=8, pp=9, uneven_pipeline=True)
    >>> r["tokens_per_s"]

Bad input raises :class:`InputError` (a ``ValueError``) with the message the command prints
(without its ``error:`` prefix); an internal error raises :class:`Error`.
"""

from __future__ import annotations

import builtins
import json
import os
from typing import Any

__all__ = [
    "Error",
    "InputError",
    "simulate",
    "search",
    "compare",
    "collective",
    "validate",
    "calibrate",
    "serve",
    "run",
    "demo",
    "list",
    "show",
    "command",
]


class Error(RuntimeError):
    """An internal error of the simulator (the command's exit status 1)."""


class InputError(ValueError):
    """Bad input: the command's message naming the flag or key, what was expected and what to try
    (the command's exit status 2)."""


# Flags given once per value (CLI11 "TakeAll" options); every other list is joined by commas.
_REPEATED = frozenset({"set"})

_extension = None


def _ext():
    # Imported on first use, so that plots.py and report.py (which need no simulator) import from a
    # source tree without the compiled extension.
    global _extension
    if _extension is None:
        try:
            from . import _tahoma  # noqa: PLC0415
        except ImportError as e:
            raise ImportError(
                "tahoma's compiled extension (_tahoma) is not beside this file: import tahoma from the build "
                "tree, PYTHONPATH=build/python /usr/bin/python3 (docs/python.md), after "
                "`cmake -S . -B build && cmake --build build`"
            ) from e
        _extension = _tahoma
    return _extension


def _text(value: Any, key: str) -> str:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = value if isinstance(value, str) else str(value)
    if "\0" in text:
        raise InputError(f"{key}: a NUL character in {text!r} (expected text without it)")
    return text


def _flags(options: dict[str, Any]) -> builtins.list[str]:
    args: builtins.list[str] = []
    for key, value in options.items():
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            args.append(flag)
        elif isinstance(value, (builtins.list, tuple, set, frozenset)):
            items = [_text(v, key) for v in value]
            if key in _REPEATED:
                args.extend(f"{flag}={v}" for v in items)
            else:
                args.append(f"{flag}={','.join(items)}")
        else:
            args.append(f"{flag}={_text(value, key)}")
    return args


def command(*args: Any, **options: Any) -> Any:
    """Runs ``tahoma ARGS... --flags`` in process: ``command("list", "systems")``.

    Returns the parsed JSON (``format`` defaults to json), or the text for ``format="table"``,
    ``"csv"`` or ``"markdown"``. Positional arguments follow ``--``, so none is read as a flag.
    """
    if not args:
        raise InputError("command: name a command, e.g. command('simulate', system=..., model=...)")
    if args[0] == "report":
        raise InputError(
            "report: runs the tahoma binary, not available in process; tahoma.plots and tahoma.report draw the "
            "dicts tahoma.simulate etc. return (docs/report.md)"
        )
    fmt = options.pop("format", "json")
    argv = [_text(args[0], "command")] + _flags(options) + [f"--format={_text(fmt, 'format')}"]
    positional = [_text(a, "argument") for a in args[1:] if a is not None]
    if positional:
        argv += ["--"] + positional
    status, out, err, shown = _ext().run(argv)
    if status == _ext().exit_input:
        message = err.decode("utf-8", "replace").strip()
        raise InputError(message[len("error: "):] if message.startswith("error: ") else message)
    if status != 0:
        raise Error(err.decode("utf-8", "replace").strip() or f"tahoma exited with status {status}")
    text = out.decode("utf-8", "replace")
    if not text and shown:  # help=True or version=True
        return shown.decode("utf-8", "replace")
    if fmt != "json" or not text:
        return text
    return json.loads(text)


def simulate(scenario: str | os.PathLike | None = None, **options: Any) -> Any:
    """One training step (``tahoma simulate``): system, chips, model (a preset, a YAML path or a
    Hugging Face config.json), layout and training keys (tp, pp, dp, cp, ep, vpp, micro_batch, seq,
    global_batch, precision, recompute, zero, stack, set=[...]), engine='events'|'closed-form',
    network='analytical'|'flow', trace=PATH. ``scenario``: a scenario YAML whose values the keywords
    override."""
    return command("simulate", scenario, **options)


def search(scenario: str | os.PathLike | None = None, **options: Any) -> Any:
    """The best parallel layouts (``tahoma search``); the degrees given restrict the search.
    ``serve=True`` ranks serving layouts (``tahoma search --serve``)."""
    return command("search", scenario, **options)


def compare(systems: Any = None, **options: Any) -> Any:
    """Each system's best layouts for the same work (``tahoma compare --systems a,b``); ``systems``
    is a list or a comma-separated string."""
    return command("compare", systems=systems, **options)


def collective(**options: Any) -> Any:
    """One collective over a size sweep (``tahoma collective``): system, op, chips, group,
    min_bytes, max_bytes, step_factor, algorithm, network."""
    return command("collective", **options)


def validate(path: str | os.PathLike, cv: str | None = None, **options: Any) -> Any:
    """Predictions against published runs (``tahoma validate FILE``), training or serving CSV;
    ``cv='source'`` adds the leave-one-source-out cross-validation."""
    return command("validate", path, cv=cv, **options)


def calibrate(path: str | os.PathLike, **options: Any) -> Any:
    """Re-derives the calibrated constants from published runs (``tahoma calibrate FILE``)."""
    return command("calibrate", path, **options)


def serve(**options: Any) -> Any:
    """LLM inference serving (``tahoma serve``): system, chips, model, input_len, output_len and one
    of offline=True, concurrency=N, rate=R, trace=PATH, or slo_ttft/slo_tpot for the highest rate
    meeting them; tp, pp, ep, replicas, stack, max_batch, precision, speculative, ..."""
    return command("serve", **options)


def run(scenario: str | os.PathLike | None = None, **options: Any) -> Any:
    """A whole training run with failures (``tahoma run``): the scenario keys of simulate plus
    tokens, strategy, checkpoint, spares, trials, seed, failure_rates, checkpoint_interval."""
    return command("run", scenario, **options)


def demo(**options: Any) -> Any:
    """The headline comparison of ``tahoma demo`` (a list of simulate results)."""
    return command("demo", **options)


def list(kind: str, **options: Any) -> Any:  # noqa: A001 - tahoma list KIND
    """Presets and registries (``tahoma list KIND``): systems, models, stacks, schedules,
    algorithms or fields."""
    return command("list", kind, **options)


def show(kind: str, name: str | os.PathLike, **options: Any) -> Any:
    """One preset with its totals (``tahoma show system|model|stack NAME``)."""
    return command("show", kind, name, **options)
