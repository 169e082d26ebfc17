"""Draw a run's ``[figure]`` from its ``results.csv``: a thin consumer of the results table.

The figure spec comes from the run's ``manifest.json`` (the resolved scenario), or is
passed explicitly, and ``--set figure.KEY=VALUE`` overrides redraw a figure without
rerunning; the spec is validated against the results table first. One panel per ``y``
metric; one line per value of ``hue`` (and per
combination of any other swept parameter, so no two points share a line by accident);
95% confidence intervals as error bars when the table has them; log axes on request.
Uses matplotlib's Agg backend (no display needed) and never touches global pyplot state.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .engine.results import read_table
from .engine.scenario import apply_overrides
from .engine.schema import check_figure
from .experiments.specs import label as _label

__all__ = ["FIGURES_DIR", "default_figure", "plot_results"]

#: Default folder for figures, relative to the working directory.
FIGURES_DIR = Path("figures")
KINDS = ("line", "scatter")


def default_figure(header: list[str], swept: list[str]) -> dict[str, Any] | None:
    """A figure spec when the scenario has none: first swept axis on x, second as hue.

    Returns ``None`` when nothing is swept (a single point has no x axis).
    """
    if not swept:
        return None
    metrics = [c[:-5] for c in header if c.endswith("_mean")]
    scalars = [c for c in header if c not in swept and not _is_stat(c, header)]
    y = metrics or scalars
    if not y:
        return None
    return {"x": swept[0], "y": y, "hue": swept[1] if len(swept) > 1 else None}


def _is_stat(col: str, header: list[str]) -> bool:
    for suffix in ("_mean", "_ci_low", "_ci_high", "_n"):
        if col.endswith(suffix) and f"{col[: -len(suffix)]}_mean" in header:
            return True
    return False


def _manifest(directory: Path) -> dict[str, Any]:
    path = directory / "manifest.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file (not a results folder?)") from None


def plot_results(
    results_dir: str | Path,
    *,
    out: str | Path | None = None,
    figure: Mapping[str, Any] | None = None,
    overrides: Sequence[str] = (),
) -> Path | None:
    """Draw the figure of the run in ``results_dir`` and save it as PNG.

    Parameters
    ----------
    results_dir : path
        A run's folder (``results/<scenario>``) holding ``results.csv`` and
        ``manifest.json``.
    out : path, optional
        Output file; default ``figures/<scenario>.png`` (folder created).
    figure : mapping, optional
        Figure spec (keys ``x, y, hue, logx, logy, title, kind, xlabel, ylabel,
        errorbars, reference``); default: the manifest's ``[figure]``, else
        :func:`default_figure`.
    overrides : sequence of str
        ``"figure.KEY=VALUE"`` items applied to the spec (the CLI's ``plot --set``), e.g.
        ``figure.logy=false`` or ``figure.y=['mse']``; ``VALUE`` is a TOML value.

    Returns
    -------
    pathlib.Path or None
        The PNG written, or ``None`` when there is nothing to plot.

    Raises
    ------
    FileNotFoundError
        ``results.csv`` or ``manifest.json`` is missing.
    ValueError
        An override outside ``figure``, or a spec naming a column the table does not have
        or an unknown ``kind`` (one line naming the key).
    """
    directory = Path(results_dir)
    manifest = _manifest(directory)
    csv_path = directory / "results.csv"
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path}: no such file (the run has not finished)")
    header, rows = read_table(csv_path)
    config = manifest.get("scenario", {})
    swept = list(config.get("sweep", {}).get("axes", {}))
    spec = dict(figure if figure is not None else config.get("figure") or {})
    if not spec and not overrides:
        spec = default_figure(header, swept) or {}
        if not spec:
            return None
    if overrides:
        spec = _override(spec, overrides, str(directory), header, swept)
    name = config.get("scenario", {}).get("name") or directory.name
    path = Path(out) if out is not None else FIGURES_DIR / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = _draw(header, rows, spec, swept, title_default=name)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


def _override(spec: dict[str, Any], overrides: Sequence[str], source: str, header: list[str],
              swept: list[str]) -> dict[str, Any]:
    """``spec`` with ``figure.*`` overrides applied, validated against the table's columns."""
    for item in overrides:
        key = str(item).split("=", 1)[0].strip()
        if not key.startswith("figure."):
            raise ValueError(
                f"{source}: plot --set changes the figure only (keys 'figure.KEY'); got "
                f"{key!r}."
            )
    tree, from_cli = apply_overrides({"figure": spec}, overrides, source=source)
    metrics = {c[:-5]: "trial" for c in header if c.endswith("_mean")}
    metrics.update({c: "scalar" for c in header if c not in swept and not _is_stat(c, header)})
    table = {k: v for k, v in tree["figure"].items() if v is not None}
    checked = check_figure(table, swept=swept, metrics=metrics, source=source,
                           from_cli=from_cli, owner="results.csv")
    return checked.to_dict()


def _column(header: list[str], name: str, what: str) -> int:
    if name not in header:
        raise ValueError(
            f"The figure's {what} {name!r} is not a column of results.csv; columns: "
            f"{', '.join(header)}."
        )
    return header.index(name)


def _draw(header: list[str], rows: list[list[Any]], spec: Mapping[str, Any], swept: list[str],
          title_default: str):
    from matplotlib.figure import Figure  # Agg canvas, no pyplot global state

    x = spec["x"]
    ys = [spec["y"]] if isinstance(spec["y"], str) else list(spec["y"])
    hue = spec.get("hue")
    kind = spec.get("kind", "line")
    if kind not in KINDS:
        raise ValueError(f"The figure's 'kind' must be one of {', '.join(KINDS)}; got {kind!r}.")
    xi = _column(header, x, "x")
    # Lines: by hue, then by every other swept parameter that varies.
    others = [c for c in swept if c not in (x, hue) and c in header]
    line_cols = ([hue] if hue else []) + others
    line_idx = [_column(header, c, "hue" if c == hue else "swept parameter") for c in line_cols]
    refs = [spec["reference"]] if isinstance(spec.get("reference"), str) else list(
        spec.get("reference") or ())

    fig = Figure(figsize=(6.4, 3.2 * len(ys) + 0.6), layout="constrained")
    axes = fig.subplots(len(ys), 1, squeeze=False)[:, 0]
    for ax, y in zip(axes, ys, strict=True):
        has_ci = f"{y}_mean" in header
        yi = _column(header, f"{y}_mean" if has_ci else y, "y")
        lo = header.index(f"{y}_ci_low") if has_ci else None
        hi = header.index(f"{y}_ci_high") if has_ci else None
        lines: dict[tuple, list[list[Any]]] = {}
        colors: dict[tuple, Any] = {}
        for row in rows:
            lines.setdefault(tuple(row[i] for i in line_idx), []).append(row)
        for label_values, members in lines.items():
            members = sorted(members, key=lambda r: _sort_key(r[xi]))
            xs = [r[xi] for r in members]
            vals = [_f(r[yi]) for r in members]
            label = ", ".join(f"{c}={_label(v)}"
                              for c, v in zip(line_cols, label_values, strict=True))
            style = {"marker": "o", "markersize": 4, "label": label or None}
            if kind == "scatter":
                style["linestyle"] = "none"
            if has_ci and spec.get("errorbars", True):
                err = [
                    [max(0.0, v - _f(r[lo])) for v, r in zip(vals, members, strict=True)],
                    [max(0.0, _f(r[hi]) - v) for v, r in zip(vals, members, strict=True)],
                ]
                err = [[0.0 if math.isnan(e) else e for e in side] for side in err]
                colors[label_values] = ax.errorbar(xs, vals, yerr=err, capsize=3,
                                                   **style)[0].get_color()
            else:
                colors[label_values] = ax.plot(xs, vals, **style)[0].get_color()
        for ref, ls in zip(refs, itertools.cycle(_REF_STYLES)):
            _draw_reference(ax, header, lines, xi, ref, line_cols, colors, ls)
        if spec.get("logx"):
            _log_x_axis(ax, sorted({_f(r[xi]) for r in rows if _is_number(r[xi])}))
        if spec.get("logy"):
            ax.set_yscale("log")
        ax.set_xlabel(spec.get("xlabel") or x)
        ax.set_ylabel(spec.get("ylabel") or y if len(ys) == 1 else y)
        ax.grid(True, which="both", alpha=0.3)
        if any(k for k in lines if k):
            ax.legend(fontsize="small")
    fig.suptitle(spec.get("title") or title_default)
    return fig


_REF_STYLES = ("--", ":", "-.", (0, (6, 2, 1, 2, 1, 2)), (0, (1, 3)))


def _draw_reference(ax, header, lines, xi, ref, line_cols, colors, style) -> None:
    """Dashed reference curve(s) of metric ``ref``.

    One dark line when several lines carry the same reference values (a theory curve that
    does not depend on the hue), else one line per group in that group's colour.
    """
    ri = _column(header, f"{ref}_mean" if f"{ref}_mean" in header else ref, "reference")
    curves = {}
    for label_values, members in lines.items():
        members = sorted(members, key=lambda r: _sort_key(r[xi]))
        pts = [(r[xi], _f(r[ri])) for r in members if not math.isnan(_f(r[ri]))]
        if pts:
            curves[label_values] = pts
    distinct = {tuple(c) for c in curves.values()}
    if len(curves) > 1 and len(distinct) == 1:
        xs, vals = zip(*next(iter(distinct)), strict=True)
        ax.plot(xs, vals, linestyle=style, color="0.2", linewidth=1.2, label=ref)
        return
    for label_values, pts in curves.items():
        xs, vals = zip(*pts, strict=True)
        name = ", ".join(f"{c}={_label(v)}"
                         for c, v in zip(line_cols, label_values, strict=True))
        ax.plot(xs, vals, linestyle=style, linewidth=1.2, color=colors.get(label_values),
                label=f"{ref} ({name})" if name else ref)


def _log_x_axis(ax, values: list[float]) -> None:
    """Log x axis labelled at the swept values (plain numbers) when there are few of them."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator, StrMethodFormatter

    ax.set_xscale("log")
    positive = [v for v in values if v > 0]
    if 0 < len(positive) <= 12:
        ax.xaxis.set_major_locator(FixedLocator(positive))
        ax.xaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_minor_formatter(NullFormatter())


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _f(v: Any) -> float:
    return math.nan if v is None else float(v)


def _sort_key(v: Any) -> tuple:
    return (0, v, "") if isinstance(v, int | float) else (1, 0, str(v))
