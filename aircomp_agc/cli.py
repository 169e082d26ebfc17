"""The ``aircomp-agc`` command: run scenarios, reproduce the figure set, audit the source
text's claims, plot results, list what can be chosen by name.

Only this module prints, parses arguments and chooses exit codes:

- ``0`` success;
- ``1`` an unexpected error (a bug: the traceback is shown);
- ``2`` a user error -- invalid scenario or ``--set``, an experiment rejecting its
  parameters, a missing file, a finished run that would be overwritten: ONE line on
  standard error, ``aircomp-agc: error: ...``, no traceback (``--debug`` shows it);
- ``130`` interrupted by Ctrl-C (finished points are kept; the message says how to resume).

Subcommands live in :data:`COMMANDS` (name -> help, argument builder, handler), one
function each.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from . import __version__

__all__ = ["COMMANDS", "format_table", "main"]

PROG = "aircomp-agc"
EXIT_OK, EXIT_USER, EXIT_INTERRUPTED = 0, 2, 130
MAX_TABLE_ROWS = 40
#: Distinct warnings of one category printed after a run (the manifest keeps them all).
MAX_WARNINGS = 2


class UserError(Exception):
    """A problem the user can fix; reported as one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``aircomp-agc: error: ...``) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise UserError(f"{message} (see '{self.prog} --help')")


def _err(message: str) -> None:
    text = " ".join(str(message).split())  # one line, whatever the exception held
    print(f"{PROG}: error: {text}", file=sys.stderr)


def _warn(message: str) -> None:
    text = " ".join(str(message).split())
    print(f"{PROG}: warning: {text}", file=sys.stderr)


# ---------------------------------------------------------------------------- run

RUN_EPILOG = """\
examples:
  aircomp-agc run scenarios/coding-study.toml
  aircomp-agc run scenarios/coding-study.toml --set trials.n=500 --set "sweep.axes.code=['bgc']"
  aircomp-agc run scenarios/coding-study.toml --executor serial --no-plot
  aircomp-agc run scenarios/coding-study.toml --resume        # continue an interrupted run
  aircomp-agc run scenarios/coding-study.toml --quick         # its [quick] trial counts
  aircomp-agc run scenarios/coding-study.toml --executor dask --local-cluster --workers 4
  aircomp-agc run scenarios/coding-study.toml --executor dask --scheduler tcp://10.0.0.5:8786
"""


def _add_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", metavar="SCENARIO", help="scenario file (TOML)")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a scenario key (dotted path, TOML value); repeatable",
    )
    _add_quick(p)
    _add_executor_options(p)
    p.add_argument("--no-plot", action="store_true", help="do not draw the [figure]")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no table")


def _add_quick(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--quick", action="store_true",
        help="reduced trial counts for a fast look (the scenario's [quick] table, else a "
             "tenth of the trials); results and figures go to results/quick, figures/quick, "
             "replacing an earlier quick look (--resume reuses it instead)",
    )


def _add_executor_options(p: argparse.ArgumentParser) -> None:
    """The options of ``run`` that say where and how points run (shared by ``reproduce``)."""
    p.add_argument(
        "--executor", choices=("serial", "processes", "dask"), default="processes",
        help="where points run (default: processes, one per core)",
    )
    p.add_argument("--workers", type=int, metavar="N", help="processes / local Dask workers")
    p.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address (with dask)")
    p.add_argument(
        "--local-cluster", action="store_true", help="start a local Dask cluster (with dask)"
    )
    again = p.add_mutually_exclusive_group()
    again.add_argument(
        "--resume", action="store_true", help="reuse finished points of an earlier run"
    )
    again.add_argument("--force", action="store_true", help="overwrite an earlier run")
    p.add_argument(
        "--results-dir", default="results", metavar="DIR",
        help="parent of the results folder (default: results)",
    )


def _executor(args: argparse.Namespace) -> Any:
    """The executor of ``--executor`` & co: a name for run_scenario to manage, or one built
    here (Dask, or any option beyond the defaults) that the caller closes."""
    from .engine.executors import make_executor

    if args.workers is not None and args.workers < 1:
        raise UserError(f"argument --workers: must be an int >= 1; got {args.workers}")
    if args.executor != "processes" or args.scheduler or args.local_cluster:
        return make_executor(
            args.executor, workers=args.workers, scheduler=args.scheduler,
            local_cluster=args.local_cluster,
        )
    return args.executor


@contextlib.contextmanager
def _executing(args: argparse.Namespace):
    """The executor of :func:`_executor`, closed afterwards when it was built here."""
    executor = _executor(args)
    try:
        yield executor
    finally:
        if not isinstance(executor, str):
            executor.close()


def _interrupted(exc: Exception, args: argparse.Namespace) -> int:
    """Report a run stopped by Ctrl-C (its finished points are kept) and how to resume it."""
    from .engine.progress import resume_command

    print(f"{PROG}: {exc}", file=sys.stderr)
    print(f"{PROG}: resume with: {resume_command(args.argv, PROG)}", file=sys.stderr)
    return EXIT_INTERRUPTED


def _force(args: argparse.Namespace) -> bool:
    """``--force``, or a quick look without ``--resume``: ``results/quick`` is scratch space,
    so a fast look reruns without asking (a full run's results are never replaced unasked)."""
    return bool(args.force or (args.quick and not args.resume))


def cmd_run(args: argparse.Namespace) -> int:
    from .engine.progress import RunInterrupted
    from .engine.run import run_scenario
    from .engine.scenario import load_scenario
    from .reproduce import load_quick, results_folder

    if args.quick:
        scenario = load_quick(args.scenario, overrides=args.overrides)
    else:
        scenario = load_scenario(args.scenario, overrides=args.overrides)
    if args.workers is not None and args.workers < 1:
        raise UserError(f"argument --workers: must be an int >= 1; got {args.workers}")
    _check_results_dir(args.results_dir)
    try:
        with _executing(args) as executor:
            result = run_scenario(
                scenario,
                results_dir=results_folder(args.results_dir, args.quick),
                executor=executor,
                workers=args.workers,
                resume=args.resume,
                force=_force(args),
                progress=not args.quiet,
                command=[PROG, *args.argv],
            )
    except RunInterrupted as exc:
        return _interrupted(exc, args)
    if not args.quiet:
        print(format_table(result.header, result.rows))
        print(
            f"{len(result.rows)} points ({result.computed} computed, {result.reused} reused) "
            f"in {result.wall_seconds:.1f} s"
        )
    _print_warnings(result.warnings, len(result.rows), result.manifest_path)
    print(f"results:  {result.csv_path}")
    if result.curves_path is not None:
        print(f"curves:   {result.curves_path} (the curve metrics, one row per point and "
              "index value; not in the table above)")
    print(f"manifest: {result.manifest_path}")
    if not args.no_plot:
        from .plotting import FIGURES_DIR, plot_results

        stem = results_folder(FIGURES_DIR, args.quick) / scenario.name
        figure = plot_results(result.directory, out=stem)
        print(f"figure:   {_figure_text(figure)}" if figure
              else "figure:   none (no [figure] and no swept axis)")
    return EXIT_OK


def _figure_text(path: Any) -> str:
    """``figures/x.png (+ .pdf)``: the PNG and the other formats written next to it."""
    from pathlib import Path

    path = Path(path)
    others = [f".{fmt}" for fmt in ("pdf", "svg") if path.with_suffix(f".{fmt}").is_file()
              and path.suffix != f".{fmt}"]
    return f"{path} (+ {', '.join(others)})" if others else str(path)


def _print_warnings(warnings: dict[str, int], total: int, manifest: Any) -> None:
    """Each distinct warning with its point count; past :data:`MAX_WARNINGS` of one
    category (messages that differ only in the values they quote), a count instead."""
    by_kind: dict[str, list[tuple[str, int]]] = {}
    for text, count in warnings.items():
        by_kind.setdefault(text.split(":", 1)[0], []).append((text, count))
    for kind, items in by_kind.items():
        for text, count in items[:MAX_WARNINGS]:
            _warn(f"{text} ({count} of {total} points)")
        if len(items) > MAX_WARNINGS:
            _warn(f"... and {len(items) - MAX_WARNINGS} more {kind} warnings with other values "
                  f"(all in {manifest})")


def _check_results_dir(path: str) -> None:
    """``--results-dir`` must be a folder we may write in, or creatable (one-line errors)."""
    from pathlib import Path

    target = Path(path)
    for parent in (target, *target.parents):
        if not parent.exists():
            continue
        if not parent.is_dir():
            what = "is a file" if parent == target else f"is inside '{parent}', a file"
            raise UserError(f"argument --results-dir: '{path}' {what}, not a folder")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise UserError(
                f"argument --results-dir: cannot write in '{parent}' (permission denied)"
            )
        return


# ---------------------------------------------------------------------------- plot

PLOT_EPILOG = """\
examples:
  aircomp-agc plot results/coding-study
  aircomp-agc plot results/coding-study --out coding.png     # one format, by suffix
  aircomp-agc plot results/coding-study --out paper/fig3        # paper/fig3.pdf and .png
  aircomp-agc plot results/coding-study --set figure.logy=false --set "figure.y=['storage']"
"""


def _add_plot(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", metavar="RESULTS_DIR", help="a run's folder (results/<name>)")
    p.add_argument(
        "--out", metavar="PATH",
        help="output: a .png/.pdf/.svg file, or a stem for PDF + PNG (default: "
             "figures/<name>)",
    )
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="figure.KEY=VALUE",
        help="override a key of the run's [figure] (TOML value); repeatable",
    )


def cmd_plot(args: argparse.Namespace) -> int:
    from .plotting import plot_results

    figure = plot_results(args.results, out=args.out, overrides=args.overrides)
    if figure is None:
        raise UserError(f"{args.results}: nothing to plot (no [figure] and no swept axis)")
    print(f"figure: {_figure_text(figure)}")
    return EXIT_OK


# ---------------------------------------------------------------------------- reproduce

REPRODUCE_EPILOG = """\
examples:
  aircomp-agc reproduce --quick                    # every figure, reduced trials (minutes)
  aircomp-agc reproduce                            # the full set, into figures/
  aircomp-agc reproduce --only coding-study storage-frontier
  aircomp-agc reproduce --resume                   # continue, or redraw from finished runs
  aircomp-agc reproduce --executor dask --scheduler tcp://10.0.0.5:8786
"""


def _add_reproduce(p: argparse.ArgumentParser) -> None:
    _add_quick(p)
    p.add_argument(
        "--only", nargs="+", default=[], metavar="NAME",
        help="only these scenarios (names or file stems)",
    )
    p.add_argument(
        "--scenarios", default="scenarios", metavar="DIR",
        help="folder of the scenario files (default: scenarios); those with a [figure] run",
    )
    p.add_argument(
        "--figures-dir", default="figures", metavar="DIR",
        help="where figures go (default: figures; figures/quick with --quick)",
    )
    _add_executor_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def cmd_reproduce(args: argparse.Namespace) -> int:
    from .engine.progress import RunInterrupted
    from .reproduce import figure_set, reproduce, results_folder

    scenarios = figure_set(args.scenarios, only=args.only, quick=args.quick)
    if not scenarios:
        raise UserError(f"{args.scenarios}: no scenario file with a [figure]")
    _check_results_dir(args.results_dir)
    results_dir = results_folder(args.results_dir, args.quick)
    figures_dir = results_folder(args.figures_dir, args.quick)
    mode = "quick" if args.quick else "full"

    def done(outcome: Any) -> None:
        files = ", ".join(str(f) for f in outcome.figures)
        print(f"{outcome.name}: {outcome.points} points ({outcome.computed} computed, "
              f"{outcome.reused} reused) in {outcome.seconds:.1f} s -> {files}", flush=True)
        _print_warnings(outcome.warnings, outcome.points,
                        results_dir / outcome.name / "manifest.json")

    try:
        with _executing(args) as executor:  # a bad --workers is refused before anything runs
            print(f"reproducing {len(scenarios)} figure{'' if len(scenarios) == 1 else 's'} "
                  f"({mode}): {', '.join(s.name for s in scenarios)}")
            outcomes = reproduce(
                scenarios, results_dir=results_dir, figures_dir=figures_dir,
                executor=executor, workers=args.workers, resume=args.resume,
                force=_force(args), progress=not args.quiet, command=[PROG, *args.argv],
                on_done=done,
            )
    except RunInterrupted as exc:
        return _interrupted(exc, args)
    total = sum(o.seconds for o in outcomes)
    noun = "figure" if len(outcomes) == 1 else "figures"
    print(f"{len(outcomes)} {noun} in {total:.1f} s ({total / 60:.1f} min) in {figures_dir}/")
    return EXIT_OK


# ---------------------------------------------------------------------------- audit

AUDIT_EPILOG = """\
examples:
  aircomp-agc audit --quick                        # about a minute
  aircomp-agc audit                                # full trial counts, figures/claims.md
  aircomp-agc audit --out claims.md --claims exact-storage example-n100
"""


def _add_audit(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="reduced trial counts and sizes")
    p.add_argument("--out", default="figures/claims.md", metavar="PATH",
                   help="the markdown report (default: figures/claims.md)")
    p.add_argument("--claims", nargs="+", metavar="ID", help="only these claims (by id)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="seed (default: 0)")


def cmd_audit(args: argparse.Namespace) -> int:
    from .audit import claim_ids, run_audit

    if args.claims:
        known = claim_ids()
        for cid in args.claims:
            if cid not in known:
                import difflib

                close = difflib.get_close_matches(cid, known, n=1)
                hint = f" Did you mean '{close[0]}'?" if close else ""
                raise UserError(f"argument --claims: no claim {cid!r} (claims: "
                                f"{', '.join(known)}).{hint}")
    if args.seed < 0:
        raise UserError(f"argument --seed: must be an int >= 0; got {args.seed}")
    report = run_audit(out=args.out, quick=args.quick, claims=args.claims, rng=args.seed)
    rows = [(cid, status) for cid, status in report.verdicts.items()]
    for line in _align([("claim", "verdict"), *rows]):
        print(line)
    print(f"{len(rows)} claims in {report.seconds:.1f} s; report: {report.path}")
    return EXIT_OK


# ---------------------------------------------------------------------------- list

LIST_EPILOG = """\
examples:
  aircomp-agc list experiments
  aircomp-agc list codes --params
  aircomp-agc list channels --params
  aircomp-agc list scenarios --dir scenarios
"""

LISTS = ("codes", "channels", "power-control", "stragglers", "experiments", "scenarios")


def _add_list(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=LISTS, help="what to list")
    p.add_argument(
        "--params", action="store_true",
        help="also show each entry's parameters with their defaults and one-line docs",
    )
    p.add_argument(
        "--dir", default="scenarios", metavar="DIR",
        help="where 'list scenarios' looks (default: scenarios)",
    )


def _entries(what: str) -> list[Any]:
    """The public ``list_*`` of a registry: :class:`~aircomp_agc._checks.Entry` records."""
    if what == "codes":
        from .coding import list_codes

        return list_codes()
    if what == "stragglers":
        from .coding import list_stragglers

        return list_stragglers()
    if what == "channels":
        from channels import list_channels

        return list_channels()
    if what == "power-control":
        from channels import list_power_control

        return list_power_control()
    from .experiments import list_experiments

    return list_experiments()


#: Registries ``describe`` searches, with the singular used in its header.
KINDS = {
    "codes": "code",
    "channels": "channel model",
    "power-control": "power-control policy",
    "stragglers": "straggler model",
    "experiments": "experiment",
}


def _tag_text(tags: Any) -> str:
    """Compact tags: ``key`` for true flags and callables, ``key=value`` otherwise."""
    parts = []
    for key, value in dict(tags).items():
        if value is None or value is False or value == ():
            continue
        if value is True or callable(value):
            parts.append(key)
        elif key == "outputs" and isinstance(value, dict):
            parts.append("outputs=" + ",".join(value))
        else:
            parts.append(f"{key}={value}")
    return " ".join(parts)


def _parameter_lines(entry: Any, indent: str = "    ") -> list[str]:
    rows = []
    for prm in entry.parameters:
        value = "(required)" if prm.required else f"= {prm.default!r}"
        rows.append((f"{indent}{prm.name}", value, prm.doc))
    if not rows:
        return [f"{indent}(no parameters)"]
    return _align(rows)


def _rows_scenarios(directory: str) -> list[tuple[str, ...]]:
    from .engine.scenario import list_scenarios

    rows = []
    for item in list_scenarios(directory):
        note = f"INVALID: {item.problem}" if item.problem else item.description
        rows.append((str(item.path), item.name, item.experiment, note))
    return rows


def cmd_list(args: argparse.Namespace) -> int:
    try:
        if args.what == "scenarios":
            rows = _rows_scenarios(args.dir)
            entries = []
        else:
            entries = _entries(args.what)
            rows = [(e.name, e.summary, _tag_text(e.tags)) for e in entries]
    except ImportError as exc:
        # A layer not installed: say which, without a traceback.
        raise UserError(f"cannot list {args.what}: {exc}") from None
    if not rows:
        print(f"(no {args.what})")
    lines = _align([tuple(map(str, r)) for r in rows])
    for i, line in enumerate(lines):
        print(line)
        if args.params and entries:
            for text in _parameter_lines(entries[i]):
                print(text)
    return EXIT_OK


DESCRIBE_EPILOG = """\
examples:
  aircomp-agc describe rician
  aircomp-agc describe threshold_scheduling
  aircomp-agc describe aircomp-mse
"""


def _add_describe(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME",
                   help="a code, channel model, power-control policy, straggler model or "
                        "experiment")


def cmd_describe(args: argparse.Namespace) -> int:
    import difflib

    found, names = [], []
    for what, kind in KINDS.items():
        entries = _entries(what)
        names += [e.name for e in entries]
        found += [(kind, e) for e in entries if e.name == args.name]
    if not found:
        close = difflib.get_close_matches(args.name, names, n=3, cutoff=0.5)
        hint = (" Did you mean " + " or ".join(f"'{c}'" for c in close) + "?") if close else ""
        raise UserError(
            f"no code, channel model, power-control policy, straggler model or experiment "
            f"is named {args.name!r}.{hint} (see 'aircomp-agc list')"
        )
    for i, (kind, entry) in enumerate(found):
        if i:
            print()
        print(f"{entry.name} ({kind})")
        if entry.summary:
            print(f"  {entry.summary}")
        tags = _tag_text(entry.tags)
        if tags:
            print(f"  tags: {tags}")
        print("  parameters:")
        for line in _parameter_lines(entry):
            print(line)
    return EXIT_OK


# ---------------------------------------------------------------------------- table


def _align(rows: list[tuple[str, ...]], right: Sequence[bool] = ()) -> list[str]:
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [
            c.rjust(w) if i < len(right) and right[i] else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
    return out


def _num(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, dict):
        from .experiments.specs import label

        return label(v)  # a model table: "rician(k_factor=4)"
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    if isinstance(v, int):
        return str(v)
    return "nan" if math.isnan(v) else f"{v:.4g}"


def format_table(
    header: Sequence[str], rows: Sequence[Sequence[Any]], max_rows: int = MAX_TABLE_ROWS
) -> str:
    """Compact aligned text of a tidy results table.

    A per-trial metric ``m`` (columns ``m_mean, m_ci_low, m_ci_high, m_n``) shows as
    ``m`` = mean, ``±95%`` = CI half-width and ``n``; numbers with 4 significant digits.
    Beyond ``max_rows`` rows, the first ``max_rows`` are shown and the rest counted.
    """
    groups: list[tuple[str, list[int]]] = []  # (display kind, column indices)
    i = 0
    while i < len(header):
        name = header[i]
        if name.endswith("_mean") and header[i + 1 : i + 4] == [
            name[:-5] + s for s in ("_ci_low", "_ci_high", "_n")
        ]:
            groups.append(("ci", [i, i + 1, i + 2, i + 3]))
            i += 4
        else:
            groups.append(("plain", [i]))
            i += 1
    titles: list[str] = []
    for kind, cols in groups:
        titles += [header[cols[0]][:-5], "±95%", "n"] if kind == "ci" else [header[cols[0]]]
    body = []
    for row in rows[:max_rows]:
        cells: list[str] = []
        for kind, cols in groups:
            if kind == "ci":
                mean, lo, hi, n = (row[c] for c in cols)
                half = (hi - lo) / 2 if isinstance(lo, float) and isinstance(hi, float) else None
                cells += [_num(mean), _num(half), _num(n)]
            else:
                cells.append(_num(row[cols[0]]))
        body.append(tuple(cells))
    numeric = [
        all(_is_number(r[j]) for r in body if r[j] != "") for j in range(len(titles))
    ]
    lines = _align([tuple(titles), *body], right=numeric)
    if len(rows) > max_rows:
        lines.append(f"... {len(rows) - max_rows} more rows in results.csv")
    return "\n".join(lines)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------- main


@dataclass(frozen=True)
class Command:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    handler: Callable[[argparse.Namespace], int]
    epilog: str = ""


COMMANDS: dict[str, Command] = {
    "run": Command("run a scenario file", _add_run, cmd_run, RUN_EPILOG),
    "reproduce": Command(
        "run every scenario with a [figure] and write the figures (PDF and PNG)",
        _add_reproduce, cmd_reproduce, REPRODUCE_EPILOG,
    ),
    "audit": Command(
        "check the source text's quantitative claims by measurement (figures/claims.md)",
        _add_audit, cmd_audit, AUDIT_EPILOG,
    ),
    "plot": Command("draw a run's [figure] from its results.csv", _add_plot, cmd_plot, PLOT_EPILOG),
    "list": Command(
        "list codes, channels, power-control policies, straggler models, experiments or "
        "scenarios",
        _add_list, cmd_list, LIST_EPILOG,
    ),
    "describe": Command(
        "show one model's or experiment's parameters, defaults, docs and tags",
        _add_describe, cmd_describe, DESCRIBE_EPILOG,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Approximate gradient coding meets over-the-air computation.",
        epilog="examples:\n  aircomp-agc reproduce --quick\n"
        "  aircomp-agc run scenarios/coding-study.toml\n"
        "  aircomp-agc audit --quick\n"
        "  aircomp-agc list experiments\n  aircomp-agc run --help",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of user errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, cmd in COMMANDS.items():
        p = sub.add_parser(
            name, help=cmd.help, description=cmd.help[:1].upper() + cmd.help[1:] + ".",
            epilog=cmd.epilog, formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        cmd.add_arguments(p)
        p.set_defaults(handler=cmd.handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``aircomp-agc``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help / --version
            return int(exc.code or 0)
        args.argv = [a for a in argv if a != "--debug"]
        return args.handler(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `aircomp-agc list codes | head`: the reader left; not an error
        # Python documents this: point stdout at devnull so the exit-time flush is silent.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (UserError, ValueError, TypeError, OSError, ImportError) as exc:
        if debug:
            raise
        _err(exc)
        return EXIT_USER


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
