"""Draw a run's ``[figure]`` from its ``results.csv``: a thin consumer of the results table.

The figure spec comes from the run's ``manifest.json`` (the resolved scenario), or is
passed explicitly, and ``--set figure.KEY=VALUE`` overrides redraw a figure without
rerunning; the spec is validated against the results table first (see
:class:`~aircomp_agc.engine.schema.FigureSpec` for the keys).

One style for every figure, made to go into a two-column paper unchanged:

- sizes in inches (``width = "column"`` is 3.5 in, ``"double"`` 7.16 in), fonts of 7-8 pt
  at that size, vector PDF (TrueType fonts embedded) plus PNG at 300 dpi;
- the Okabe-Ito colour-blind-safe palette; a marker per colour, and a line style (with
  its own marker) for a second grouping variable (``style``), so a figure reads in grey;
- legend texts mapped from the swept values (``labels``), never ``policy=...``;
- Monte-Carlo 95% confidence intervals as bands or error bars (``ci``);
- log axes labelled with plain numbers (``0.001``, ``10``) or powers of ten, never
  ``0.00316228``.

One panel per ``y`` metric; one line per value of ``hue`` and ``style`` (and per
combination of any other swept parameter that varies, so no two points share a line by
accident). Uses matplotlib's Agg backend (no display needed) and never touches global
pyplot state: the style is applied in a ``matplotlib.rc_context``.

A figure of curve metrics (an experiment's per-round outputs) is drawn the same way from
the run's ``curves.csv``, with the curves' index (``round``) on x.
"""

from __future__ import annotations

import copy
import json
import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .engine.results import read_table
from .engine.scenario import apply_overrides
from .engine.schema import FigureSpec, check_figure, same_value, value_keys

__all__ = [
    "DPI",
    "FIGURES_DIR",
    "FORMATS",
    "PALETTE",
    "STYLE",
    "default_figure",
    "figure_paths",
    "plot_results",
]

#: Default folder for figures, relative to the working directory.
FIGURES_DIR = Path("figures")
#: Files written per figure, and the PNG resolution.
FORMATS = ("pdf", "png")
DPI = 300

#: Okabe & Ito (2008), "Color Universal Design": distinguishable with any colour-vision
#: deficiency. Ordered for lines on white (the light yellow last).
PALETTE = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow
)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
#: Line styles of the ``style`` groups (solid first).
LINESTYLES = ("-", (0, (4, 1.5)), (0, (6, 1.5, 1, 1.5)), (0, (1.5, 1)),
              (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2)))
#: Reference (theory) curves: dark grey, thinner, each its own dash pattern; dashed first
#: when line styles are free, dotted first when a ``style`` group uses the dashes.
REF_STYLES = ((0, (4, 2)), (0, (1, 1.3)), (0, (6, 2, 1, 2)), (0, (3, 1, 1, 1, 1, 1)),
              (0, (8, 3)))
REF_STYLES_WITH_STYLE = ((0, (1, 1.3)), (0, (3, 1, 1, 1, 1, 1)), (0, (8, 3)), (0, (1, 3)))
REF_COLOR = "0.25"

#: The matplotlib settings of every figure (sizes in points at the printed size).
STYLE: dict[str, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "mathtext.fontset": "dejavusans",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 6.5,
    "legend.title_fontsize": 6.5,
    "figure.titlesize": 8.5,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.1,
    "lines.markersize": 3.5,
    "lines.markeredgewidth": 0.6,
    "errorbar.capsize": 1.5,
    "grid.linewidth": 0.4,
    "grid.alpha": 0.4,
    "grid.color": "0.75",
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.minor.width": 0.4,
    "ytick.minor.width": 0.4,
    "xtick.major.size": 3,
    "ytick.major.size": 3,
    "xtick.minor.size": 1.5,
    "ytick.minor.size": 1.5,
    "xtick.direction": "in",
    "ytick.direction": "in",
    "axes.formatter.use_mathtext": True,
    "axes.formatter.limits": (-3, 4),
    "legend.frameon": True,
    "legend.framealpha": 0.9,
    "legend.edgecolor": "0.8",
    "legend.fancybox": False,
    "legend.borderpad": 0.35,
    "legend.labelspacing": 0.25,
    "legend.handlelength": 2.4,
    "legend.handletextpad": 0.5,
    "legend.borderaxespad": 0.4,
    "legend.columnspacing": 1.0,
    "pdf.fonttype": 42,  # TrueType: no Type 3 fonts (IEEE PDF eXpress refuses them)
    "ps.fonttype": 42,
    "savefig.dpi": DPI,
    "figure.dpi": 100,
}

#: Markers per line of a curve figure (a curve has a point per round).
CURVE_MARKERS = 8

#: Height of one panel (inches) for a column-wide and a wider figure.
PANEL_HEIGHT = {"narrow": 2.3, "wide": 2.5, "stacked": 1.95}


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


def figure_paths(out: str | Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """The files a figure is written to: ``out`` itself when it has a suffix (that format
    only), else ``out.<format>`` for each of ``formats``."""
    out = Path(out)
    if out.suffix.lower() in (".png", ".pdf", ".svg"):
        return [out]
    return [out.with_name(f"{out.name}.{fmt}") for fmt in formats]


def plot_results(
    results_dir: str | Path,
    *,
    out: str | Path | None = None,
    figure: Mapping[str, Any] | None = None,
    overrides: Sequence[str] = (),
    formats: Sequence[str] = FORMATS,
) -> Path | None:
    """Draw the figure of the run in ``results_dir`` and save it as PDF and PNG.

    Parameters
    ----------
    results_dir : path
        A run's folder (``results/<scenario>``) holding ``results.csv`` and
        ``manifest.json``.
    out : path, optional
        Output: a file name with suffix ``.png``, ``.pdf`` or ``.svg`` writes that file
        only; without a suffix it is the stem of one file per format. Default
        ``figures/<scenario>`` (folder created).
    figure : mapping, optional
        Figure spec (the keys of :class:`~aircomp_agc.engine.schema.FigureSpec`); default:
        the manifest's ``[figure]``, else :func:`default_figure`.
    overrides : sequence of str
        ``"figure.KEY=VALUE"`` items applied to the spec (the CLI's ``plot --set``), e.g.
        ``figure.logy=false`` or ``figure.y=['mse']``; ``VALUE`` is a TOML value.
    formats : sequence of str
        Formats written when ``out`` has no suffix (default PDF and PNG at 300 dpi).

    Returns
    -------
    pathlib.Path or None
        The PNG written (the first file when no PNG is), or ``None`` when there is nothing
        to plot. The other files sit next to it (:func:`figure_paths`).

    Raises
    ------
    FileNotFoundError
        ``results.csv`` or ``manifest.json`` is missing.
    ValueError
        An override outside ``figure``, or a spec naming a column the table does not have,
        an unknown key or a bad value (one line naming the key).
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
    curves = _curves(directory, manifest)
    checked = _checked(spec, overrides, str(directory), header, rows, swept, curves=curves)
    if checked.curve_index is not None and curves is not None:
        header, rows = curves[1], curves[2]  # a curve figure: drawn from curves.csv
    name = config.get("scenario", {}).get("name") or directory.name
    paths = figure_paths(out if out is not None else FIGURES_DIR / name, formats)
    fig = _draw(header, rows, checked, swept, title_default=name)
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, paths)
    pngs = [p for p in paths if p.suffix.lower() == ".png"]
    return (pngs or paths)[0]


def save_figure(fig: Any, paths: Sequence[str | Path]) -> None:
    """Write ``fig`` to each path (format from the suffix): PNG at :data:`DPI` (palette
    colours), PDF and SVG as vectors, without time stamps (the same figure gives the same
    bytes)."""
    from matplotlib import rc_context

    with rc_context(STYLE):
        for path in map(Path, paths):
            fmt = path.suffix.lower().lstrip(".")
            metadata: dict[str, Any] = {"Software": None} if fmt == "png" else {}
            if fmt == "pdf":
                metadata = {"CreationDate": None, "Creator": None, "Producer": None}
            elif fmt == "svg":
                metadata = {"Date": None, "Creator": None}
            if fmt == "png":
                _save_png(fig, path)
            else:
                fig.savefig(path, dpi=DPI, format=fmt, metadata=metadata)


def _save_png(fig: Any, path: Path) -> None:
    """PNG at :data:`DPI` with a 256-colour palette: line art keeps every colour it has
    (a figure holds a few dozen, plus their antialiasing shades) at a third of the bytes."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=DPI, format="png", metadata={"Software": None})
    buffer.seek(0)
    with Image.open(buffer) as image:
        rgb = image.convert("RGB")
    palette = rgb.quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                           dither=Image.Dither.NONE)
    palette.save(path, format="PNG", dpi=(DPI, DPI), optimize=True)


def _curves(directory: Path, manifest: Mapping[str, Any]
            ) -> tuple[str, list[str], list[list[Any]]] | None:
    """``(index, header, rows)`` of the run's ``curves.csv`` when its manifest lists one."""
    info = manifest.get("curves")
    if not info:
        return None
    path = directory / info.get("csv", "curves.csv")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (the manifest lists curves)")
    header, rows = read_table(path)
    return info["index"], header, rows


def _checked(spec: Mapping[str, Any], overrides: Sequence[str], source: str,
             header: list[str], rows: list[list[Any]], swept: list[str],
             curves: tuple[str, list[str], list[list[Any]]] | None = None) -> FigureSpec:
    """``spec`` with ``figure.*`` overrides applied, validated against the table."""
    for item in overrides:
        key = str(item).split("=", 1)[0].strip()
        if not key.startswith("figure."):
            raise ValueError(
                f"{source}: plot --set changes the figure only (keys 'figure.KEY'); got "
                f"{key!r}."
            )
    tree, from_cli = apply_overrides({"figure": dict(spec)}, overrides, source=source)
    metrics = {c[:-5]: "trial" for c in header if c.endswith("_mean")}
    metrics.update({c: "scalar" for c in header if c not in swept and not _is_stat(c, header)})
    # Labels are checked against the table's values when --set changes them; the
    # scenario's own were checked against its full axes (a quick run may sweep fewer).
    relabelled = any(str(o).split("=", 1)[0].strip().startswith("figure.labels")
                     for o in overrides)
    values = ({c: [r[header.index(c)] for r in rows] for c in swept if c in header}
              if relabelled else None)
    table = {k: v for k, v in tree["figure"].items() if v is not None}
    index = None
    if curves is not None:
        index = curves[0]
        metrics.update({c[:-5]: "curve" for c in curves[1] if c.endswith("_mean")})
    return check_figure(table, swept=swept, metrics=metrics, source=source,
                        from_cli=from_cli, owner="results.csv" if index is None
                        else "results.csv and curves.csv", values=values, curve_index=index)


def _column(header: list[str], name: str, what: str) -> int:
    if name not in header:
        raise ValueError(
            f"The figure's {what} {name!r} is not a column of results.csv; columns: "
            f"{', '.join(header)}."
        )
    return header.index(name)


# ---------------------------------------------------------------------------- texts


class _Texts:
    """Legend and axis texts from the spec's ``labels`` (values, parameters, metrics)."""

    def __init__(self, labels: Mapping[str, str]) -> None:
        self.labels = dict(labels)

    def value(self, v: Any) -> str:
        keys = value_keys(v)
        for key in keys:
            if key in self.labels:
                return self.labels[key]
        return keys[0].replace("_", " ") if isinstance(v, str | Mapping) else keys[0]

    def facet(self, name: str, value: Any) -> str:
        """A facet panel's title: the value's label, else ``name = value``."""
        for key in value_keys(value):
            if key in self.labels:
                return self.labels[key]
        return f"{self.name(name)} = {self.value(value)}"

    def name(self, name: str) -> str:
        """A parameter or metric name: its label, else the name with spaces for '_'."""
        return self.labels.get(name, name.replace("_", " "))


# ---------------------------------------------------------------------------- drawing


def _draw(header: list[str], rows: list[list[Any]], spec: FigureSpec | Mapping[str, Any],
          swept: list[str], title_default: str):
    """The figure (a matplotlib ``Figure`` on the Agg canvas) of ``spec`` over the table."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # Agg canvas, no pyplot global state

    if not isinstance(spec, FigureSpec):
        spec = check_figure(dict(spec), swept=swept)
    texts = _Texts(spec.labels)
    x_metric = spec.x not in swept
    xi = _column(header, f"{spec.x}_mean" if x_metric and f"{spec.x}_mean" in header
                 else spec.x, "x")
    hi = _column(header, spec.hue, "hue") if spec.hue else None
    si = _column(header, spec.style, "style") if spec.style else None
    fi = _column(header, spec.facet, "facet") if spec.facet else None
    # Text (or table) values on x: categories at 0, 1, ... in sweep order, labelled.
    categories = _distinct([r[xi] for r in rows])
    if any(not _is_number(v) for v in categories):
        keys = [json.dumps(v, sort_keys=True, default=str) for v in categories]
        rows = [[*r[:xi], keys.index(json.dumps(r[xi], sort_keys=True, default=str)),
                 *r[xi + 1:]] for r in rows]
    else:
        categories = []
    # Any other swept parameter that varies splits lines too (joined to the colour).
    used = (spec.x, spec.hue, spec.style, spec.facet)
    others = [c for c in swept if c not in used and c in header
              and len({json.dumps(r[header.index(c)], default=str) for r in rows}) > 1]
    along = None
    if x_metric:  # a metric on x: the one remaining swept axis runs along each curve
        along = next((c for c in swept if c not in used), None)
        others = [c for c in others if c != along]
    oi = [header.index(c) for c in others]
    groups = _Groups(rows, hi, si, oi, others)
    groups.order = _column(header, along, "curve parameter") if along else None
    groups.varying = [c for c in swept if c != spec.facet and c in header and len(
        {json.dumps(r[header.index(c)], default=str) for r in rows}) > 1]
    facets = _distinct([r[fi] for r in rows]) if fi is not None else [None]
    panels = [(y, fv) for y in spec.y for fv in facets]
    n = len(panels)
    layout = spec.layout if n > 1 else "stack"
    shape = {"stack": (n, 1), "row": (1, n), "grid": (math.ceil(n / 2), min(n, 2))}[layout]
    width = spec.width_inches
    panel_h = PANEL_HEIGHT["narrow" if width < 5 else "wide"]
    if shape[0] > 1:
        panel_h = PANEL_HEIGHT["stacked"]
    title = spec.title or title_default
    height = spec.height or panel_h * shape[0] + (0.25 if title else 0)
    share_y = fi is not None and len(spec.y) == 1
    with rc_context(STYLE):
        fig = Figure(figsize=(width, height), layout="constrained")
        FigureCanvasAgg(fig)  # a renderer to measure the legend with
        fig.get_layout_engine().set(w_pad=0.02, h_pad=0.02, hspace=0.04, wspace=0.04)
        grid = fig.subplots(*shape, squeeze=False, sharex=layout != "row" or fi is not None,
                            sharey=share_y)
        axes = list(grid.ravel())
        for ax in axes[n:]:  # an odd number of panels in a grid: the last slot stays empty
            ax.set_visible(False)
        ref_handles: dict[str, Any] = {}
        for k, (ax, (y, fv)) in enumerate(zip(axes, panels, strict=False)):
            sub = groups if fi is None else groups.subset(fi, fv)
            sub_rows = rows if fi is None else [r for r in rows if _same(r[fi], fv)]
            _panel(ax, header, sub_rows, spec, y, xi, sub, texts, ref_handles)
            if spec.points and spec.points[spec.y.index(y)]:
                _points(ax, header, spec, spec.points[spec.y.index(y)], y, xi, sub, texts,
                        ref_handles)
            # One panel whose legend sits inside it: the marks join that legend (two
            # legends placed "best" on their own could cover each other).
            inside = n == 1 and spec.legend not in ("below", "outside", "none")
            _marks(ax, header, spec, y, xi, sub, texts, strict=fi is None,
                   into=ref_handles if inside else None)
            if categories:
                ax.set_xticks(range(len(categories)), [texts.value(c) for c in categories])
                ax.set_xlim(-0.5, len(categories) - 0.5)
            row, col = divmod(k, shape[1])
            bottom = row == shape[0] - 1 or k + shape[1] >= n
            if bottom:
                ax.xaxis.set_tick_params(labelbottom=True)
                ax.set_xlabel(spec.xlabel or texts.name(spec.x))
            if not share_y or (col == 0 and shape[0] == 1):
                ax.set_ylabel(_ylabel(spec, y, spec.y.index(y), texts))
            if fi is not None:
                ax.set_title(texts.facet(spec.facet, fv))
        # Small multiples in a grid: one y label for all the rows.
        if share_y and shape[0] > 1:
            fig.supylabel(_ylabel(spec, spec.y[0], 0, texts), fontsize=STYLE["axes.labelsize"])
        leg = _legend(fig, axes[0], spec, groups, texts, others, ref_handles)
        if leg is not None and spec.legend == "below" and spec.height is None:
            # The legend under the panels gets its own room: the panels keep their size.
            extra = leg.get_window_extent(fig.canvas.get_renderer()).height / fig.dpi
            fig.set_size_inches(width, height + extra + 0.05)
        if title:
            chars = max(20, int(width * 72 / (0.55 * STYLE["figure.titlesize"])))
            fig.suptitle("\n".join(textwrap.wrap(title, chars)))
    return fig


def _distinct(values: Sequence[Any]) -> list[Any]:
    """The values in order of first appearance (tables compared by their JSON text)."""
    seen: dict[str, Any] = {}
    for v in values:
        seen.setdefault(json.dumps(v, sort_keys=True, default=str), v)
    return list(seen.values())


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True,
                                                                     default=str)


def _ylabel(spec: FigureSpec, y: str, k: int, texts: _Texts) -> str:
    if isinstance(spec.ylabel, tuple):
        return spec.ylabel[k]
    if isinstance(spec.ylabel, str) and len(spec.y) == 1:
        return spec.ylabel
    return texts.name(y)


class _Groups:
    """The lines of a figure: rows grouped by (hue, style, other swept values), with the
    colour, marker and line style of each group."""

    def __init__(self, rows: list[list[Any]], hi: int | None, si: int | None,
                 oi: list[int], other_names: Sequence[str] = ()) -> None:
        def key(r, idx):
            return json.dumps(r[idx], sort_keys=True, default=str) if idx is not None else ""

        self.members: dict[tuple, list[list[Any]]] = {}
        self.colour_keys: dict[tuple, Any] = {}  # (hue, *others) -> first hue value, others
        self.style_keys: dict[str, Any] = {}
        for r in rows:
            ck = (key(r, hi), *(key(r, i) for i in oi))
            sk = key(r, si)
            self.colour_keys.setdefault(ck, (r[hi] if hi is not None else None,
                                             [r[i] for i in oi]))
            self.style_keys.setdefault(sk, r[si] if si is not None else None)
            self.members.setdefault((ck, sk), []).append(r)
        self.other_names = list(other_names) or [""] * len(oi)
        self.order: int | None = None  # column the points of a line follow (x a metric)
        self.varying: list[str] = []  # swept parameters that vary within a panel
        self.has_hue = hi is not None or bool(oi)
        self.has_style = si is not None
        self._ci = {k: i for i, k in enumerate(self.colour_keys)}
        self._si = {k: i for i, k in enumerate(self.style_keys)}

    def subset(self, index: int, value: Any) -> _Groups:
        """The same groups (colours, markers, styles) holding only rows with ``value`` in
        column ``index`` (one facet's panel)."""
        out = copy.copy(self)
        out.members = {}
        for key, members in self.members.items():
            kept = [r for r in members if _same(r[index], value)]
            if kept:
                out.members[key] = kept
        return out

    def marker_offset(self, ck: tuple, sk: str) -> int:
        """The group's position (0, 1, ...): staggers the markers of curve figures."""
        return self._ci.get(ck, 0) * max(1, len(self._si)) + self._si.get(sk, 0)

    def colour(self, ck: tuple) -> str:
        return PALETTE[self._ci[ck] % len(PALETTE)] if self.has_hue else PALETTE[0]

    def marker(self, ck: tuple, sk: str) -> str:
        if self.has_style:
            return MARKERS[self._si[sk] % len(MARKERS)]
        return MARKERS[self._ci[ck] % len(MARKERS)]

    def linestyle(self, sk: str) -> Any:
        return LINESTYLES[self._si[sk] % len(LINESTYLES)] if self.has_style else "-"


def _panel(ax, header, rows, spec: FigureSpec, y: str, xi: int, groups: _Groups,
           texts: _Texts, ref_handles: dict[str, Any]) -> None:
    has_ci = f"{y}_mean" in header and f"{y}_ci_low" in header
    yi = _column(header, f"{y}_mean" if f"{y}_mean" in header else y, "y")
    lo = header.index(f"{y}_ci_low") if has_ci else None
    hi = header.index(f"{y}_ci_high") if has_ci else None
    ci = spec.ci_style() if has_ci else "none"
    if groups.order is not None and spec.ci_style() != "none" \
            and f"{spec.x}_ci_low" in header:  # a curve in the plane: bars, not a band
        ci = "bars" if has_ci else "xbars"
    scatter = spec.kind == "scatter"
    paired = bool(spec.points) and bool(spec.points[spec.y.index(y)])
    for (ck, sk), members in groups.members.items():
        members = _ordered(members, xi, groups)
        xs = [_f(r[xi]) if groups.order is not None else r[xi] for r in members]
        # A log axis cannot show 0 (an error that vanished): the line ends there.
        vals = [_f(r[yi]) for r in members]
        if spec.logy:
            vals = [v if v > 0 else math.nan for v in vals]
        colour = groups.colour(ck)
        style = {
            "color": colour,
            "marker": groups.marker(ck, sk),
            "linestyle": "none" if scatter else groups.linestyle(sk),
            "markerfacecolor": "white" if groups.has_style and _filled(groups, sk) else colour,
            "markeredgecolor": colour,
            "zorder": 3,
        }
        if paired:  # the markers are the Monte-Carlo points (drawn by _points)
            style["marker"] = "none"
        gid = _group_text(groups, ck, sk, texts)
        if scatter:
            style["markersize"] = 5
        elif spec.curve_index is not None and len(xs) > CURVE_MARKERS:
            # A curve has a point per round: markers at a few of them, staggered per group
            # so that lines on top of each other stay distinguishable.
            every = len(xs) // CURVE_MARKERS
            style["markevery"] = (groups.marker_offset(ck, sk) * every // 4 % every, every)
        if ci in ("band", "bars"):
            lows = [_f(r[lo]) for r in members]
            highs = [_f(r[hi]) for r in members]
            if spec.logy:  # an interval reaching 0 is drawn from the mean up on a log axis
                lows = [low if low > 0 else v for low, v in zip(lows, vals, strict=True)]
        if ci in ("bars", "xbars"):
            err = None if ci == "xbars" else [
                [_gap(v, low, below=True) for v, low in zip(vals, lows, strict=True)],
                [_gap(v, high, below=False) for v, high in zip(vals, highs, strict=True)]]
            xerr = _x_err(header, spec, members, xi) if groups.order is not None else None
            container = ax.errorbar(xs, vals, yerr=err, xerr=xerr, elinewidth=0.7,
                                    label="_nolegend_", **style)
            container[0].set_gid(gid)
        else:
            (line,) = ax.plot(xs, vals, label="_nolegend_", **style)
            line.set_gid(gid)
            if ci == "band" and not scatter:
                ax.fill_between(xs, lows, highs, color=colour, alpha=0.18, linewidth=0,
                                zorder=2)
    if spec.annotate:
        for (ck, _sk), members in groups.members.items():
            for r in members:
                v = _f(r[yi])
                if math.isfinite(v):
                    ax.annotate(number_text(v), (r[xi], v), xytext=(5, 3),
                                textcoords="offset points", va="bottom", ha="left",
                                fontsize=STYLE["legend.fontsize"], color=groups.colour(ck),
                                bbox={"boxstyle": "square,pad=0.1", "fc": "white",
                                      "ec": "none", "alpha": 0.85}, zorder=4)
    dashes = REF_STYLES_WITH_STYLE if groups.has_style else REF_STYLES
    # Each reference keeps its dash on every panel; references with one label share it.
    names = list(dict.fromkeys(texts.name(r) for r in spec.reference))
    for ref in spec.references_of(y):
        dash = dashes[names.index(texts.name(ref)) % len(dashes)]
        _draw_reference(ax, header, groups, xi, ref, dash, texts, ref_handles)
    if spec.logx and all(_is_number(r[xi]) for r in rows):
        positive = sorted({_f(r[xi]) for r in rows if _is_number(r[xi])})
        _log_axis(ax, "x", positive if groups.order is None else [])
    elif all(isinstance(r[xi], int) and not isinstance(r[xi], bool) for r in rows):
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    if spec.logy:
        _log_axis(ax, "y", [])
    if spec.xlim:
        ax.set_xlim(*spec.xlim)
    if spec.ylim:
        ax.set_ylim(*spec.ylim)
    ax.grid(True, which="major")


def _ordered(members: list[list[Any]], xi: int, groups: _Groups) -> list[list[Any]]:
    """A line's rows in drawing order: by x, or along the curve parameter when x is a
    metric (a parametric curve)."""
    at = xi if groups.order is None else groups.order
    return sorted(members, key=lambda r: _sort_key(r[at]))


def _x_err(header: list[str], spec: FigureSpec, members: list[list[Any]], xi: int):
    """Horizontal error bars of a metric on x (its interval), or None without one."""
    lo, hi = f"{spec.x}_ci_low", f"{spec.x}_ci_high"
    if lo not in header or hi not in header:
        return None
    li, ui = header.index(lo), header.index(hi)
    xs = [_f(r[xi]) for r in members]
    return [[_gap(v, _f(r[li]), below=True) for v, r in zip(xs, members, strict=True)],
            [_gap(v, _f(r[ui]), below=False) for v, r in zip(xs, members, strict=True)]]


def _points(ax, header, spec: FigureSpec, metric: str, y: str, xi: int, groups: _Groups,
            texts: _Texts, ref_handles: dict[str, Any]) -> None:
    """Metric ``metric`` as markers only (Monte Carlo beside a closed form ``y``): the
    colour and marker of each line, its interval as error bars; one grey legend entry for
    the lines and one for the markers."""
    from matplotlib.lines import Line2D

    pi = _column(header, f"{metric}_mean" if f"{metric}_mean" in header else metric, "points")
    lo = header.index(f"{metric}_ci_low") if f"{metric}_ci_low" in header else None
    hi = header.index(f"{metric}_ci_high") if f"{metric}_ci_high" in header else None
    bars = lo is not None and hi is not None and spec.ci != "none"
    for (ck, sk), members in groups.members.items():
        members = _ordered(members, xi, groups)
        xs = [r[xi] for r in members]
        vals = [_f(r[pi]) for r in members]
        if spec.logy:
            vals = [v if v > 0 else math.nan for v in vals]
        colour = groups.colour(ck)
        style = {"color": colour, "marker": groups.marker(ck, sk), "linestyle": "none",
                 "markerfacecolor": "white" if groups.has_style and _filled(groups, sk)
                 else colour, "markeredgecolor": colour, "zorder": 3.5,
                 "label": "_nolegend_"}
        err = None
        if bars:
            err = [[_gap(v, _f(r[lo]), below=True) for v, r in zip(vals, members, strict=True)],
                   [_gap(v, _f(r[hi]), below=False) for v, r in zip(vals, members,
                                                                    strict=True)]]
        container = ax.errorbar(xs, vals, yerr=err, elinewidth=0.7, **style)
        container[0].set_gid(f"{metric}|{_group_text(groups, ck, sk, texts)}")
    ref_handles.setdefault(texts.name(y), Line2D([], [], color=REF_COLOR, linestyle="-"))
    ref_handles.setdefault(texts.name(metric), Line2D([], [], color=REF_COLOR, marker="o",
                                                      linestyle="none",
                                                      markerfacecolor=REF_COLOR))


#: Marked points: the least ``y`` of a panel (a star) and points named in ``marks`` (rings).
MIN_MARK = {"marker": "*", "markersize": 10, "markerfacecolor": "#F0E442",
            "markeredgecolor": "black", "markeredgewidth": 0.7, "linestyle": "none"}
MARK = {"marker": "o", "markersize": 9, "markerfacecolor": "none", "markeredgecolor": "black",
        "markeredgewidth": 1.1, "linestyle": "none"}


def _marks(ax, header, spec: FigureSpec, y: str, xi: int, groups: _Groups, texts: _Texts,
           *, strict: bool, into: dict[str, Any] | None = None) -> None:
    """``mark_min`` and ``marks`` on one panel, and the panel's own legend of them (placed
    where it hides the least data), or their entries added to ``into`` (the figure's
    legend): each entry names the point's swept values and its ``y`` value. ``strict``: a
    mark that matches no drawn row is an error (else the panel is one facet, and the mark
    may sit on another)."""
    from matplotlib.legend import Legend
    from matplotlib.lines import Line2D

    if not spec.mark_min and not spec.marks:
        return
    yi = _column(header, f"{y}_mean" if f"{y}_mean" in header else y, "y")
    drawn = [r for members in groups.members.values() for r in members]
    finite = [r for r in drawn if math.isfinite(_f(r[yi])) and not (spec.logy
                                                                   and _f(r[yi]) <= 0)]
    chosen: list[tuple[str, list[Any], dict[str, Any]]] = []
    if spec.mark_min and finite:
        best = min(finite, key=lambda r: _f(r[yi]))
        prefix = spec.mark_min if isinstance(spec.mark_min, str) else f"least {texts.name(y)}"
        chosen.append((prefix, best, MIN_MARK))
    for k, mark in enumerate(spec.marks):
        params = {p: v for p, v in mark.items() if p != "label"}
        for p in params:
            _column(header, p, f"marks[{k}] parameter")
        hits = [r for r in drawn if all(same_value(r[header.index(p)], v)
                                        for p, v in params.items())]
        if not hits and strict:
            raise ValueError(
                f"The figure's marks[{k}] ({', '.join(f'{p}={v!r}' for p, v in params.items())})"
                f" matches no row of results.csv drawn on the panel of {y!r}.")
        chosen += [(mark["label"], r, MARK) for r in hits]
    entries: dict[str, Any] = {}
    for prefix, r, style in chosen:
        value = _f(r[yi])
        (line,) = ax.plot([r[xi]], [value], zorder=4.5, label="_nolegend_", **style)
        where = ", ".join(f"{texts.name(p)} {texts.value(r[header.index(p)])}"
                          for p in groups.varying)
        text = f"{prefix}: {where} ({texts.name(y)} {number_text(value)})"
        line.set_gid(f"mark|{text}")
        entries.setdefault(text, Line2D([], [], **style))
    if entries and into is not None:
        into.update(entries)
    elif entries:
        legend = Legend(ax, list(entries.values()), list(entries), loc="best")
        legend.set_gid("marks")
        legend.set_zorder(5)
        ax.add_artist(legend)


def _filled(groups: _Groups, sk: str) -> bool:
    """Every other style value gets hollow markers (a second cue besides the shape)."""
    return groups._si[sk] % 2 == 1


def _gap(value: float, bound: float, *, below: bool) -> float:
    gap = value - bound if below else bound - value
    return 0.0 if math.isnan(gap) else max(0.0, gap)


def _group_text(groups: _Groups, ck: tuple, sk: str, texts: _Texts) -> str:
    parts = []
    if groups.has_hue:
        parts.append(_colour_text(groups, ck, texts))
    if groups.has_style:
        parts.append(texts.value(groups.style_keys[sk]))
    return ", ".join(p for p in parts if p)


def _colour_text(groups: _Groups, ck: tuple, texts: _Texts) -> str:
    hue_value, other_values = groups.colour_keys[ck]
    parts = [texts.value(hue_value)] if hue_value is not None else []
    for name, v in zip(groups.other_names, other_values, strict=True):
        parts.append(f"{texts.name(name)} {texts.value(v)}".strip())
    return ", ".join(parts)


def _draw_reference(ax, header, groups: _Groups, xi: int, ref: str, dash: Any, texts: _Texts,
                    ref_handles: dict[str, Any]) -> None:
    """Dashed reference curve(s) of metric ``ref``.

    One dark line when every line carries the same reference values (a theory curve that
    does not depend on the grouping), else one line per group in that group's colour; the
    legend gets one grey entry either way.
    """
    from matplotlib.lines import Line2D

    ri = _column(header, f"{ref}_mean" if f"{ref}_mean" in header else ref, "reference")
    curves = {}
    for (ck, sk), members in groups.members.items():
        members = _ordered(members, xi, groups)
        pts = [(r[xi], _f(r[ri])) for r in members if not math.isnan(_f(r[ri]))]
        if pts:
            curves[(ck, sk)] = pts
    if not curves:
        return
    name = texts.name(ref)
    distinct = {tuple(c) for c in curves.values()}
    if len(distinct) == 1 and len(curves) == len(groups.members):
        xs, vals = zip(*next(iter(distinct)), strict=True)
        style = {"linestyle": dash, "color": REF_COLOR, "linewidth": 0.9,
                 "label": "_nolegend_", "zorder": 2.5}
        if len(set(vals)) == 1:  # a constant (exact s + 1): across the whole panel
            line = ax.axhline(vals[0], **style)
        else:
            (line,) = ax.plot(xs, vals, **style)
        line.set_gid(ref)
    else:
        for (ck, sk), pts in curves.items():
            xs, vals = zip(*pts, strict=True)
            (line,) = ax.plot(xs, vals, linestyle=dash, linewidth=0.9, label="_nolegend_",
                              color=groups.colour(ck), zorder=2.5)
            line.set_gid(f"{ref}|{_group_text(groups, ck, sk, texts)}")
    ref_handles.setdefault(name, Line2D([], [], linestyle=dash, color=REF_COLOR,
                                        linewidth=0.9))


def _legend(fig, ax, spec: FigureSpec, groups: _Groups, texts: _Texts, others: list[str],
            ref_handles: dict[str, Any]) -> Any:
    """One legend: the colours (hue), the line styles (style), the reference curves."""
    from matplotlib.lines import Line2D

    if spec.legend == "none":
        return None
    scatter = spec.kind == "scatter"
    blocks: list[tuple[str | None, list[tuple[Any, str]]]] = []
    if groups.has_hue:
        entries = []
        first_style = next(iter(groups.style_keys))
        for ck in groups.colour_keys:
            colour = groups.colour(ck)
            marker = None if groups.has_style else groups.marker(ck, first_style)
            entries.append((Line2D([], [], color=colour, marker=marker,
                                   linestyle="none" if scatter and marker else "-",
                                   markerfacecolor=colour),
                            _colour_text(groups, ck, texts)))
        title = spec.legend_title
        if title is None:
            title = texts.name(spec.hue) if spec.hue else ", ".join(map(texts.name, others))
        blocks.append((title, entries))
    if groups.has_style:
        entries = []
        for sk, value in groups.style_keys.items():
            marker = MARKERS[groups._si[sk] % len(MARKERS)]
            face = "white" if _filled(groups, sk) else "0.15"
            entries.append((Line2D([], [], color="0.15", marker=marker,
                                   markerfacecolor=face,
                                   linestyle="none" if scatter else groups.linestyle(sk)),
                            texts.value(value)))
        title = spec.style_title if spec.style_title is not None else texts.name(spec.style)
        blocks.append((title, entries))
    if ref_handles:
        blocks.append((None, [(h, name) for name, h in ref_handles.items()]))
    if not blocks or sum(len(b[1]) for b in blocks) <= 1 and not ref_handles:
        return None
    where = spec.legend
    legend_title = None
    columns: list[list[tuple[Any, str, bool]]] = []  # (handle, text, is a header)
    if len(blocks) == 1 or (len(blocks) == 2 and blocks[1][0] is None):
        legend_title = blocks[0][0] or None
        columns.append([(h, t, False) for _, entries in blocks for h, t in entries])
    else:
        for title, entries in blocks:
            column = [(Line2D([], [], color="none"), title, True)] if title else []
            columns.append(column + [(h, t, False) for h, t in entries])
    entries = [e for column in columns for e in column]
    ncols = 1
    if where == "below":
        if len(columns) > 1:  # each block its own column (padded: legends fill by column)
            depth = max(map(len, columns))
            blank = (Line2D([], [], color="none"), "", True)
            entries = [e for column in columns for e in column + [blank] * (depth - len(column))]
            ncols = len(columns)
        else:
            longest = max(len(t) for _, t, _ in entries)
            room = spec.width_inches * 72 / (0.55 * STYLE["legend.fontsize"] * longest + 36)
            ncols = max(1, min(len(entries), int(room)))
    handles = [h for h, _, _ in entries]
    labels = [t for _, t, _ in entries]
    headers = [i for i, (_, _, head) in enumerate(entries) if head]
    if where == "below":
        leg = fig.legend(handles, labels, loc="outside lower center", ncols=ncols,
                         title=legend_title)
    elif where == "outside":
        leg = fig.legend(handles, labels, loc="outside right center", title=legend_title)
    else:
        leg = ax.legend(handles, labels, loc=where, title=legend_title)
    for i in headers:
        leg.get_texts()[i].set_fontweight("bold")
        leg.legend_handles[i].set_visible(False)
    if legend_title:
        leg.get_title().set_fontweight("bold")
    return leg


# ---------------------------------------------------------------------------- log axes


def number_text(x: float, *, powers: bool = False) -> str:
    """A tick label: a plain number with at most 3 significant digits (``0.0032``, ``20``),
    or a power of ten in mathtext (``10^-5``) when ``powers``."""
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else str(x)
    if powers:
        exponent = math.floor(math.log10(abs(x)) + 1e-9)
        mantissa = x / 10.0**exponent
        if math.isclose(abs(mantissa), 1.0, rel_tol=1e-6):
            sign = "-" if mantissa < 0 else ""
            return f"${sign}10^{{{exponent}}}$"
        return f"${mantissa:.2g}\\times10^{{{exponent}}}$"
    text = f"{x:.3g}"
    if "e" in text:
        import numpy as np

        text = np.format_float_positional(float(text), trim="-")
    return text


def _plain_log_formatter(label_only_base: bool):
    """A ``LogFormatter`` (same choice of labelled ticks) that writes :func:`number_text`:
    plain numbers while the axis stays within [0.001, 10^4], powers of ten beyond."""
    from matplotlib.ticker import LogFormatter

    class PlainLogFormatter(LogFormatter):
        def _num_to_string(self, x, vmin, vmax):
            low, high = sorted(self.axis.get_view_interval()) if self.axis else (vmin, vmax)
            return number_text(x, powers=not _plain_range(low, high))

    return PlainLogFormatter(labelOnlyBase=label_only_base, minor_thresholds=(1, 0.4))


def _plain_range(low: float, high: float) -> bool:
    """Whether the labelled ticks of a log axis over ``[low, high]`` (its decades, or the
    ends when it spans less than one) all lie in [0.001, 10^4]: plain numbers then."""
    if not (low > 0 and high > 0):
        return False
    first = 10.0 ** math.ceil(math.log10(low) - 1e-9)
    last = 10.0 ** math.floor(math.log10(high) + 1e-9)
    if first > last:  # no decade in view: the labelled minor ticks lie within the view
        first, last = low, high
    return first >= 0.999e-3 and last <= 1.001e4


def _log_axis(ax, which: str, values: list[float]) -> None:
    """Log axis labelled with numbers that read: at the swept values when they are few and
    round (``2, 4, 8, 16``), else at powers of ten, with labelled minor ticks when the axis
    spans about a decade or less."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    positive = [v for v in values if v > 0]
    round_values = all(float(f"{v:.2g}") == v for v in positive)
    if 1 < len(positive) <= 10 and round_values:
        axis.set_major_locator(FixedLocator(positive))
        axis.set_major_formatter(_fixed_formatter())
        axis.set_minor_locator(NullLocator())
        axis.set_minor_formatter(NullFormatter())
        return
    axis.set_major_formatter(_plain_log_formatter(True))
    axis.set_minor_formatter(_plain_log_formatter(False))


def _fixed_formatter():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda x, _pos: number_text(x))


# ---------------------------------------------------------------------------- helpers


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _f(v: Any) -> float:
    return math.nan if v is None or isinstance(v, str) else float(v)


def _sort_key(v: Any) -> tuple:
    return (0, v, "") if isinstance(v, int | float) else (1, 0, str(v))
