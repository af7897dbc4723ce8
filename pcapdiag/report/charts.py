"""Charts as inline SVG: size histograms with MTU lines, a time line, stacked bars and the cluster graph.

SVG written here, not by a charting library: the page then needs no script (so it can forbid all of them),
opens offline, prints as vectors, and stays small — every chart draws aggregates (a path per series, never
an element per packet). Every text that reaches a chart goes through esc(): capture files are untrusted.
"""
from __future__ import annotations

import html
import math

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")
PROBLEM = "#d62728"
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def esc(value) -> str:
    """Text as HTML/SVG text or attribute value: nothing in it can open a tag or end an attribute."""
    return html.escape(str(value), quote=True)


def size_text(n) -> str:
    n = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _nice_ticks(low: float, high: float, count: int = 5) -> list:
    """Round tick values covering [low, high]."""
    if high <= low:
        return [low]
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    step = next(s * step for s in (1, 2, 2.5, 5, 10) if s * step >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]


def _num(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 or float(value).is_integer() else f"{value:.2g}"


def _short(value: float) -> str:
    """1, 10, 100, 1k, 10k, 100k, 1M: axis labels that fit a narrow margin."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:g}{unit}"
    return f"{value:g}"


def _svg(width: int, height: int, body: list, label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
            f'aria-label="{esc(label)}" {FONT}>' + "".join(body) + "</svg>")


# -- histograms ------------------------------------------------------------------------------------------

def histogram(series: list, markers: list, *, label: str, band=None, width: int = 960, height: int = 230) -> str:
    """Packet sizes, log-scaled counts: a full-range panel and a 1-byte-per-bar zoom on the MTU lines.

    series: [(name, color, [[size, count], ...])]; markers: [(size, text, color)] drawn as vertical lines,
    sizes past the first (smallest) shaded as beyond the cliff; band: (low, high, text) shaded, or None."""
    largest = max([size for _, _, points in series for size, _ in points] + [m[0] for m in markers] + [100])
    zoom = _zoom_range(markers, largest)
    full_width = width if zoom is None else int(width * 0.58)
    body = [_histogram_panel(series, markers, band, 0, largest * 1.04 + 1, 0, full_width, height,
                             "all sizes (bytes)")]
    if zoom is not None:
        body.append(_histogram_panel(series, markers, band, zoom[0], zoom[1], full_width + 16, width - full_width - 16,
                                     height, "around the MTU (1 bar = 1 byte)"))
    legend, bottom = _legend([(name, color) for name, color, _ in series], 8, height + 14, width)
    return _svg(width, bottom, body + legend, label)


def _zoom_range(markers, largest):
    if not markers:
        return None
    sizes = [m[0] for m in markers]
    low, high = max(min(sizes) - 150, 0), max(sizes) + 60
    return (low, high) if high - low < largest * 0.6 else None


def _histogram_panel(series, markers, band, low, high, left, width, height, title):
    plot_left, plot_top, plot_bottom = left + 44, 18, height - 28
    plot_width = width - 52
    span = max(high - low, 1)

    def x_of(size):
        return plot_left + (size - low) / span * plot_width

    top_count = max([count for _, _, points in series for size, count in points if low <= size <= high] + [1])
    scale = math.log10(top_count + 1)

    def y_of(count):
        return plot_bottom - (math.log10(count + 1) / scale) * (plot_bottom - plot_top) if scale else plot_bottom

    out = [f'<text x="{plot_left}" y="11" font-weight="600">{esc(title)}</text>']
    if markers:
        cliff = min(m[0] for m in markers)
        if cliff < high:
            start = x_of(max(cliff, low))
            out.append(f'<rect x="{start:.1f}" y="{plot_top}" width="{plot_left + plot_width - start:.1f}" '
                       f'height="{plot_bottom - plot_top}" fill="{PROBLEM}" fill-opacity="0.07"/>')
    if band is not None and band[1] >= low and band[0] <= high:
        start, end = x_of(max(band[0], low)), x_of(min(band[1], high))
        out.append(f'<rect x="{start:.1f}" y="{plot_top}" width="{max(end - start, 2):.1f}" '
                   f'height="{plot_bottom - plot_top}" fill="#9467bd" fill-opacity="0.25">'
                   f'<title>{esc(band[2])}</title></rect>')
    bar = plot_width / span
    for name, color, points in series:
        columns: dict = {}
        for size, count in points:
            if low <= size <= high:
                column = int((size - low) * bar) if bar < 1 else size
                columns[column] = columns.get(column, 0) + count
        path = []
        for column, count in sorted(columns.items()):
            x = plot_left + column if bar < 1 else x_of(column) - bar / 2
            w = 1 if bar < 1 else max(bar * 0.9, 0.6)
            y = y_of(count)
            path.append(f"M{x:.1f} {plot_bottom}V{y:.1f}h{w:.1f}V{plot_bottom}z")
        if path:
            out.append(f'<path d="{"".join(path)}" fill="{color}" fill-opacity="0.75" stroke="{color}" '
                       f'stroke-width="0.6"><title>{esc(name)}</title></path>')
    out.append(_axes(plot_left, plot_top, plot_width, plot_bottom))
    for tick in _nice_ticks(low, high, 5 if width < 500 else 8):
        x = x_of(tick)
        out.append(f'<text x="{x:.1f}" y="{plot_bottom + 13}" text-anchor="middle">{_num(tick)}</text>')
    for exponent in range(0, int(math.log10(top_count)) + 1):
        y = y_of(10 ** exponent)
        out.append(f'<text x="{plot_left - 4}" y="{y + 4:.1f}" text-anchor="end">{_short(10 ** exponent)}</text>'
                   f'<line x1="{plot_left}" x2="{plot_left + plot_width}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
    for index, (size, text, color) in enumerate(sorted(markers)):
        if low <= size <= high:
            x = x_of(size)
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{plot_top - 2}" y2="{plot_bottom}" stroke="{color}" '
                       f'stroke-width="1.6" stroke-dasharray="5 3"><title>{esc(text)}</title></line>'
                       f'<text x="{x - 3:.1f}" y="{plot_top + 10 + 12 * index}" text-anchor="end" fill="{color}">'
                       f'{esc(text)}</text>')
    return "".join(out)


def _axes(left, top, width, bottom) -> str:
    return (f'<line x1="{left}" x2="{left + width}" y1="{bottom}" y2="{bottom}" stroke="#333"/>'
            f'<line x1="{left}" x2="{left}" y1="{top}" y2="{bottom}" stroke="#333"/>')


def _legend(entries: list, left: int, y: int, width: int) -> tuple[list, int]:
    """Color keys in rows that wrap at the chart's width: (elements, the y below the last row)."""
    out, x = [], left
    for name, color in entries:
        step = 24 + 6.5 * len(str(name))
        if x > left and x + step > width:
            x, y = left, y + 16
        out.append(f'<rect x="{x:.0f}" y="{y - 9}" width="10" height="10" fill="{color}"/>'
                   f'<text x="{x + 14:.0f}" y="{y}">{esc(name)}</text>')
        x += step
    return out, y + 8


# -- the time line -----------------------------------------------------------------------------------------

def timeline(groups: list, events: list, *, start: float, end: float, bin_seconds: float, label: str,
             width: int = 960, height: int = 230) -> str:
    """Packets per second per group as lines; events as lanes of marks under the plot.

    groups: [(name, color, [[time, packets in the bin], ...])]; events: [(name, color, [[time, count], ...])]."""
    lanes = [event for event in events if event[2]]
    plot_left, plot_top, plot_right = 130, 12, width - 12
    plot_bottom = height - 30
    total_height = plot_bottom + 26 + 18 * len(lanes) + 22
    span = max(end - start, bin_seconds)

    def x_of(t):
        return plot_left + (t - start) / span * (plot_right - plot_left)

    rate = 1.0 / bin_seconds
    peak = max([count * rate for _, _, points in groups for _, count in points] + [1])
    ticks = _nice_ticks(0, peak, 4)
    top = max(ticks[-1], peak)

    def y_of(value):
        return plot_bottom - value / top * (plot_bottom - plot_top)

    out = []
    for tick in ticks:
        y = y_of(tick)
        out.append(f'<line x1="{plot_left}" x2="{plot_right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
                   f'<text x="{plot_left - 4}" y="{y + 4:.1f}" text-anchor="end">{_num(tick)}</text>')
    out.append(f'<text x="{plot_left - 44}" y="{plot_top + 4}" text-anchor="end">pkt/s</text>')
    for name, color, points in groups:
        line = _step_points(points, bin_seconds, x_of, y_of, rate)
        out.append(f'<polyline points="{line}" fill="none" stroke="{color}" stroke-width="1.4">'
                   f'<title>{esc(name)}</title></polyline>')
    out.append(_axes(plot_left, plot_top, plot_right - plot_left, plot_bottom))
    for tick in _nice_ticks(0, span, 8):
        x = x_of(start + tick)
        out.append(f'<text x="{x:.1f}" y="{plot_bottom + 13}" text-anchor="middle">{_num(tick) if tick >= 10 else f"{tick:g}"} s</text>')
    y = plot_bottom + 30
    for name, color, points in lanes:
        biggest = max(count for _, count in points)
        out.append(f'<text x="{plot_left - 4}" y="{y + 4}" text-anchor="end" fill="{color}">{esc(name)}</text>'
                   f'<line x1="{plot_left}" x2="{plot_right}" y1="{y}" y2="{y}" stroke="#eee"/>')
        for t, count in points:
            x = x_of(t)
            w = max(x_of(t + bin_seconds) - x, 2)
            h = 4 + 8 * count / biggest
            out.append(f'<rect x="{x:.1f}" y="{y - h / 2:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{color}">'
                       f'<title>{esc(name)}: {count} at +{t - start:.3f} s</title></rect>')
        y += 18
    legend, bottom = _legend([(name, color) for name, color, _ in groups], plot_left, total_height - 6, width)
    return _svg(width, bottom, out + legend, label)


def _step_points(points, bin_seconds, x_of, y_of, rate) -> str:
    """A rate line that drops to zero in bins with no packets (the series is sparse)."""
    coords, last = [], None
    for t, count in points:
        if last is None or t - last > bin_seconds * 1.5:
            if last is not None:
                coords.append((x_of(last + bin_seconds), y_of(0)))
            coords.append((x_of(t), y_of(0)))
        coords.append((x_of(t + bin_seconds / 2), y_of(count * rate)))
        last = t
    if last is not None:
        coords.append((x_of(last + bin_seconds), y_of(0)))
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)


# -- stacked bars ---------------------------------------------------------------------------------------------

def stacked_bars(rows: list, *, label: str, width: int = 960) -> str:
    """One bar per row: [(name, [(value, color, part name)], note)], scaled to the largest row."""
    left, right, row_height = 260, 200, 22
    largest = max([sum(value for value, _, _ in parts) for _, parts, _ in rows] + [1])
    out = []
    for index, (name, parts, note) in enumerate(rows):
        y = 6 + index * row_height
        out.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">{esc(name)}</text>')
        x = left
        for value, color, part in parts:
            w = value / largest * (width - left - right)
            if w > 0:
                out.append(f'<rect x="{x:.1f}" y="{y}" width="{max(w, 0.8):.1f}" height="{row_height - 6}" '
                           f'fill="{color}"><title>{esc(part)}: {esc(size_text(value))}</title></rect>')
            x += w
        out.append(f'<text x="{x + 6:.1f}" y="{y + 13}">{esc(note)}</text>')
    return _svg(width, 10 + len(rows) * row_height, out, label)


# -- the cluster as a graph --------------------------------------------------------------------------------------

def cluster_graph(nodes: list, edges: list, *, label: str, width: int = 960, pods_shown: int = 6) -> str:
    """Nodes (boxes with their pods inside) on a circle; an arrow per direction between two nodes, as thick as
    its traffic; problem edges red and dashed, problem nodes outlined red.

    nodes: [{"id", "title", "pods": [...], "problem": [finding ids]}];
    edges: [{"src", "dst", "bytes", "packets", "text", "problem": [finding ids]}]."""
    count = len(nodes)
    box_width = 190
    box_height = {node["id"]: 34 + 13 * min(len(node["pods"]), pods_shown + 1) for node in nodes}
    tallest = max(box_height.values()) if box_height else 40
    radius_x = max((width - box_width) / 2 - 20, 0) if count > 2 else (width - box_width) / 2 - 60
    radius_y = max(60 + 22 * count, tallest) if count > 2 else 0
    height = int(2 * radius_y + tallest + 40)
    center_x, center_y = width / 2, radius_y + tallest / 2 + 20
    places = {}
    for index, node in enumerate(nodes):
        angle = math.pi + 2 * math.pi * index / max(count, 1) if count > 1 else 0
        places[node["id"]] = (center_x + radius_x * math.cos(angle), center_y + radius_y * math.sin(angle))
    heaviest = max([edge["bytes"] for edge in edges] + [1])
    out = [f'<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="11" markerHeight="11" '
           f'markerUnits="userSpaceOnUse" orient="auto"><path d="M0 0L10 5L0 10z" fill="#555"/></marker>'
           f'<marker id="arrow-problem" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="11" markerHeight="11" '
           f'markerUnits="userSpaceOnUse" orient="auto"><path d="M0 0L10 5L0 10z" fill="{PROBLEM}"/></marker></defs>']
    for edge in edges:
        if edge["src"] not in places or edge["dst"] not in places or edge["src"] == edge["dst"]:
            continue
        (x1, y1), (x2, y2) = places[edge["src"]], places[edge["dst"]]
        length = math.hypot(x2 - x1, y2 - y1) or 1
        # each direction on its own side of the line between the nodes
        nx, ny = -(y2 - y1) / length * 9, (x2 - x1) / length * 9
        shrink_1 = _box_exit(x2 - x1, y2 - y1, box_width, box_height[edge["src"]])
        shrink_2 = _box_exit(x1 - x2, y1 - y2, box_width, box_height[edge["dst"]])
        ax, ay = x1 + (x2 - x1) * shrink_1 / length + nx, y1 + (y2 - y1) * shrink_1 / length + ny
        bx, by = x2 - (x2 - x1) * shrink_2 / length + nx, y2 - (y2 - y1) * shrink_2 / length + ny
        thickness = 1 + 5 * math.log1p(edge["bytes"]) / math.log1p(heaviest)
        problem = bool(edge["problem"])
        color = PROBLEM if problem else "#555"
        tooltip = edge["text"] + (f"; problems: {', '.join(edge['problem'])}" if problem else "")
        out.append(f'<line x1="{ax:.1f}" y1="{ay:.1f}" x2="{bx:.1f}" y2="{by:.1f}" stroke="{color}" '
                   f'stroke-width="{thickness:.1f}" stroke-opacity="0.8"'
                   + (' stroke-dasharray="8 4"' if problem else "")
                   + f' marker-end="url(#{"arrow-problem" if problem else "arrow"})"><title>{esc(tooltip)}</title></line>')
        mx, my = (ax + bx) / 2 + nx * 1.4, (ay + by) / 2 + ny * 1.4 + 3
        # beside a steep arrow the label starts (or ends) at it, on the arrow's own side
        anchor = "middle" if abs(nx) < abs(ny) * 1.5 else "start" if nx > 0 else "end"
        out.append(f'<text x="{mx:.1f}" y="{my:.1f}" text-anchor="{anchor}" fill="{color}" font-size="10">'
                   f'{esc(edge["label"])}</text>')
    for node in nodes:
        x, y = places[node["id"]]
        h = box_height[node["id"]]
        problem = bool(node["problem"])
        left, top = x - box_width / 2, y - h / 2
        out.append(f'<g><title>{esc(node["title"] + (" - problems: " + ", ".join(node["problem"]) if problem else ""))}'
                   f'</title><rect x="{left:.1f}" y="{top:.1f}" width="{box_width}" height="{h}" rx="8" '
                   f'fill="#f7f9fc" stroke="{PROBLEM if problem else "#4a6fa5"}" stroke-width="{2.5 if problem else 1.2}"/>'
                   f'<text x="{x:.1f}" y="{top + 16:.1f}" text-anchor="middle" font-weight="600">{esc(node["id"])}</text>')
        pods = node["pods"]
        for index, pod in enumerate(pods[:pods_shown]):
            out.append(f'<rect x="{left + 10:.1f}" y="{top + 24 + 13 * index:.1f}" width="{box_width - 20}" height="11" '
                       f'rx="3" fill="#e3ecf7"/><text x="{x:.1f}" y="{top + 33 + 13 * index:.1f}" text-anchor="middle" '
                       f'font-size="9.5">{esc(pod)}</text>')
        if len(pods) > pods_shown:
            out.append(f'<text x="{x:.1f}" y="{top + 33 + 13 * pods_shown:.1f}" text-anchor="middle" font-size="9.5">'
                       f'+{len(pods) - pods_shown} more pods</text>')
        out.append("</g>")
    return _svg(width, height, out, label)


def _box_exit(dx, dy, box_width, box_height) -> float:
    """How far from a box's center a line in direction (dx, dy) leaves the box."""
    dx, dy = abs(dx) or 1e-9, abs(dy) or 1e-9
    return min(box_width / 2 / dx, box_height / 2 / dy) * math.hypot(dx, dy) + 4
