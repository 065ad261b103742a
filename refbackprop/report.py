"""A run as one self-contained HTML page: the table, and where the errors are.

    catalogue_report(session, command) -> html     (conformance.session.CheckSession)
    sized_report(session, command) -> html         (sized.SizedSession)

No network, no script, no external font: inline CSS and SVG written as text,
standard library only.  For each failing check: the case, the problems, the
repro command and the shrunk case, and per failing output an **error map**:
|got − exact| / bound for every element, as a heatmap (error_map_svg).  A
tile-remainder bug shows as a stripe of hot columns, a wrong transpose as a
pattern over the whole output.  Large outputs are downsampled by the
maximum over blocks of elements, so one hot element stays visible.

Every cell of a map carries data attributes (its rows, columns and the
ratio it shows) and a <title> that a browser shows on hover.
"""

import math

from .mathml import escape  # &, <, >, " as entities


MAP_CELLS = 64  # at most this many cells along each side of a map
MAP_PIXELS = 512  # the largest side of a map, in pixels
MISMATCH = "#000000"  # NaN/Inf where the exact value is finite, or the reverse

# The colour scale of error/bound ratios, on log10(ratio): within the bound
# in blues (pale: far below it), beyond it from yellow through red to dark red.
_WITHIN = (
    (-6.0, (240, 246, 252)),
    (-3.0, (189, 215, 238)),
    (-1.0, (107, 174, 214)),
    (0.0, (33, 113, 181)),
)
_BEYOND = (
    (0.0, (254, 224, 139)),
    (3.0, (253, 141, 60)),
    (8.0, (227, 26, 28)),
    (16.0, (103, 0, 13)),
)


def ratio_color(ratio):
    """The map's colour for an error/bound ratio (hex)."""
    if ratio != ratio or ratio == float("inf"):
        return MISMATCH
    if ratio <= 0:
        return _hex(_WITHIN[0][1])
    x = math.log10(ratio)
    scale = _WITHIN if ratio <= 1 else _BEYOND
    if x <= scale[0][0]:
        return _hex(scale[0][1])
    for (x0, c0), (x1, c1) in zip(scale, scale[1:]):
        if x <= x1:
            t = (x - x0) / (x1 - x0)
            return _hex(tuple(int(round(a + t * (b - a))) for a, b in zip(c0, c1)))
    return _hex(scale[-1][1])


def _hex(rgb):
    return "#%02x%02x%02x" % rgb


def _ratio_text(r):
    if r != r or r == float("inf"):
        return "mismatch"
    return "%.3g" % r


def downsample(ratios, rows, cols, cells=MAP_CELLS):
    """[(r0, r1, c0, c1, max ratio)] over blocks of at most ceil(rows/cells) ×
    ceil(cols/cells) elements: every element of the output in exactly one
    block, and each block showing its worst element."""
    step_r = max(1, -(-rows // cells))
    step_c = max(1, -(-cols // cells))
    out = []
    for r0 in range(0, rows, step_r):
        r1 = min(rows, r0 + step_r)
        for c0 in range(0, cols, step_c):
            c1 = min(cols, c0 + step_c)
            worst = 0.0
            for i in range(r0, r1):
                base = i * cols
                for j in range(c0, c1):
                    v = ratios[base + j]
                    if v != v or v > worst:
                        worst = float("inf") if v != v else v
            out.append((r0, r1, c0, c1, worst))
    return out, step_r, step_c


def error_map_svg(name, ratios, shape, cells=MAP_CELLS):
    """An SVG heatmap of an output's error/bound ratios (row-major, shape
    (R, C) or (C,)), downsampled by max to at most cells × cells."""
    rows, cols = (1, shape[0]) if len(shape) == 1 else shape
    blocks, step_r, step_c = downsample(ratios, rows, cols, cells)
    n_r, n_c = -(-rows // step_r), -(-cols // step_c)
    size = max(4, min(24, MAP_PIXELS // max(n_r, n_c, 1)))
    width, height = n_c * size, n_r * size
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" class="errmap" width="%d" '
        'height="%d" viewBox="0 0 %d %d" data-output="%s" data-shape="%s" '
        'data-block="%dx%d" role="img" aria-label="error map of %s">'
        % (
            width,
            height,
            width,
            height,
            escape(name),
            "x".join(map(str, shape)),
            step_r,
            step_c,
            escape(name),
        )
    ]
    for r0, r1, c0, c1, worst in blocks:
        x, y = (c0 // step_c) * size, (r0 // step_r) * size
        where = (
            "%s[%d][%d]" % (name, r0, c0)
            if (r1 - r0, c1 - c0) == (1, 1)
            else "%s[%d:%d][%d:%d]" % (name, r0, r1, c0, c1)
        )
        if len(shape) == 1:
            where = "%s[%d]" % (name, c0) if c1 - c0 == 1 else "%s[%d:%d]" % (name, c0, c1)
        parts.append(
            '<rect x="%d" y="%d" width="%d" height="%d" fill="%s" '
            'data-rows="%d-%d" data-cols="%d-%d" data-ratio="%s">'
            "<title>%s: worst error/bound %s</title></rect>"
            % (
                x,
                y,
                size,
                size,
                ratio_color(worst),
                r0,
                r1,
                c0,
                c1,
                _ratio_text(worst),
                escape(where),
                _ratio_text(worst),
            )
        )
    parts.append("</svg>")
    return "".join(parts)


def legend_svg():
    """The colour scale, with the bound (ratio 1) marked."""
    stops = [
        (0.0, "0"),
        (1e-4, "1e-4"),
        (1e-2, "0.01"),
        (1.0, "1 = bound"),
        (1e3, "1e3"),
        (1e8, "1e8"),
        (1e16, "≥1e16"),
        (float("inf"), "mismatch"),
    ]
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" class="legend" width="%d" '
        'height="44" role="img" aria-label="colour scale">' % (len(stops) * 78)
    ]
    for k, (r, label) in enumerate(stops):
        parts.append(
            '<rect x="%d" y="2" width="70" height="18" fill="%s" stroke="#888"/>'
            '<text x="%d" y="36" font-size="12">%s</text>'
            % (k * 78, ratio_color(r), k * 78, escape(label))
        )
    parts.append("</svg>")
    return "".join(parts)


_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
h3 { font-size: 1.05em; margin-bottom: .3em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: #1a7f37; font-weight: 600; } .fail { color: #c62828; font-weight: 600; }
code, pre, td.code { font: 13px/1.4 ui-monospace, monospace; background: #f4f4f4; }
pre { padding: .5em; overflow-x: auto; white-space: pre-wrap; }
.failure { border-left: 4px solid #c62828; padding: .2em 1em; margin: 1.5em 0; }
.maps { display: flex; flex-wrap: wrap; gap: 1.5em; }
.map figcaption { font-size: 12px; color: #444; max-width: 520px; }
svg.errmap rect { shape-rendering: crispEdges; }
"""


def _page(title, body):
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>%s</title><style>%s</style></head><body>%s</body></html>\n"
        % (escape(title), _CSS, body)
    )


def _verdict_line(ok, summary, interrupted=False):
    cls = "pass" if ok else "fail"
    word = "PASSED" if ok else ("INTERRUPTED" if interrupted else "FAILED")
    return '<p class="verdict"><span class="%s">%s</span> — %s</p>' % (cls, word, escape(summary))


def _table(headers, rows):
    """An HTML table: headers (text), rows of cells.  A cell is text, or
    (text, attributes) for its <td>; every text is escaped here."""
    out = ["<table><tr>"]
    out.extend("<th>%s</th>" % escape(h) for h in headers)
    out.append("</tr>")
    for row in rows:
        out.append("<tr>")
        for cell in row:
            text, attrs = cell if isinstance(cell, tuple) else (cell, "")
            out.append("<td%s>%s</td>" % (" " + attrs if attrs else "", escape(text)))
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def _backends_table(backends, not_run):
    rows = [
        (
            b["name"],
            (b["selector"], 'class="code"'),
            ", ".join(b["dtypes"]),
            b["origin"],
            b.get("version", ""),
            "yes" if b.get("supervised") else "no",
        )
        for b in backends
    ]
    rows += [(item["backend"], ("not run: " + item["why"], 'colspan="5"')) for item in not_run]
    return _table(("backend", "selector", "dtypes", "origin", "version", "supervised"), rows)


def catalogue_report(session, command=""):
    """The HTML page for a CheckSession that has run."""
    doc = session.to_dict()
    body = [
        "<h1>refbackprop check</h1>",
        _verdict_line(session.ok, session.summary(), session.interrupted),
    ]
    if command:
        body.append("<p>command: <code>%s</code></p>" % escape(command))
    body.append(
        "<p>seed %d%s</p>"
        % (
            doc["seed"],
            ""
            if doc["pattern"] is None
            else "; cases matching <code>%s</code>" % escape(doc["pattern"]),
        )
    )
    body.append("<h2>Backends</h2>" + _backends_table(doc["backends"], doc["not_run"]))
    rows = [
        (
            row["backend"],
            row["dtype"],
            (str(row["checks"]), 'class="num"'),
            (str(row["passed"]), 'class="num"'),
            (str(row["failed"]), 'class="num fail"' if row["failed"] else 'class="num"'),
            (
                "-"
                if row["backend"].startswith("oracle")
                else _ratio_text(float(row["worst_ratio"])),
                'class="num"',
            ),
        )
        for row in doc["rows"]
    ]
    headers = ("backend", "dtype", "checks", "passed", "failed", "worst error/bound")
    body.append("<h2>Checks</h2>" + _table(headers, rows))
    cross = doc["cross_check"]
    if cross["pairs"]:
        body.append(
            "<p>cross-check: %d pairs of backend results on shared cases, %d "
            "disagree beyond the sum of their bounds.</p>" % (cross["pairs"], cross["failed_pairs"])
        )
    for problem in cross["problems"]:
        body.append('<p class="fail">CROSS-CHECK FAILED %s</p>' % escape(problem))
    for note in doc["notes"]:
        body.append(
            "<p>note: %s, %d checks: %s</p>"
            % (escape(note["backend"]), note["checks"], escape(note["note"]))
        )
    if session.failures:
        body.append(
            "<h2>Failures</h2><p>Each error map shows |got − exact| / bound for "
            "every element of the output (rows down, columns across), the "
            "worst element of each block where the output is large:</p>"
        )
        body.append(legend_svg())
        for result, shrunk in session.failures:
            body.append(_failure_html(result, shrunk))
    return _page("refbackprop check: %s" % session.summary(), "".join(body))


def _failure_html(result, shrunk):
    out = [
        '<section class="failure"><h3>FAILED <code>%s</code> [%s]</h3>'
        % (escape(result.check_id), escape(result.backend))
    ]
    for problem in result.problems:
        out.append("<pre>%s</pre>" % escape(problem))
    maps = []
    for o in result.outputs:
        if o.passed:
            continue
        out.append(
            "<p><b>%s</b> %s: %s</p>"
            % (escape(o.name), "×".join(map(str, o.shape)), escape(o.message))
        )
        if o.ratios is not None and o.ratios:
            maps.append(
                '<figure class="map">%s<figcaption>%s %s: worst %s, expected %r, '
                "got %r, bound %.3g, error/bound %s; %d of %d elements beyond "
                "their bound</figcaption></figure>"
                % (
                    error_map_svg(o.name, o.ratios, o.shape),
                    escape(o.name),
                    "×".join(map(str, o.shape)),
                    escape(o.worst),
                    o.expected,
                    o.got,
                    o.bound or 0.0,
                    escape(_ratio_text(o.ratio)),
                    o.failures,
                    len(o.ratios),
                )
            )
    if maps:
        out.append('<div class="maps">%s</div>' % "".join(maps))
    printed = [line for line in result.output.splitlines() if line.strip()]
    if printed:
        out.append(
            "<p>the backend printed (last lines):</p><pre>%s</pre>"
            % escape("\n".join(printed[-12:]))
        )
    out.append("<p>repro: <code>%s</code></p>" % escape(result.repro()))
    if shrunk is not None and shrunk.id != result.case_id:
        out.append(
            "<p>shrunk: still fails at N=%d, D=%d, M=%d: <code>%s</code></p>"
            % (shrunk.n, shrunk.d, shrunk.m, escape(result.repro(shrunk.id)))
        )
    out.append("</section>")
    return "".join(out)


def sized_report(session, command=""):
    """The HTML page for a SizedSession that has run."""
    doc = session.to_dict()
    n, d, m = doc["size"]
    body = [
        "<h1>refbackprop check at N=%d, D=%d, M=%d</h1>" % (n, d, m),
        _verdict_line(bool(session.ok), session.summary(), session.interrupted),
    ]
    if command:
        body.append("<p>command: <code>%s</code></p>" % escape(command))
    from .conformance.session import executor_dict

    backends = [executor_dict(runs) for runs in session.executors]
    body.append("<h2>Backends</h2>" + _backends_table(backends, doc["not_run"]))
    for result in session.results:
        body.append(_sized_html(result))
    return _page(
        "refbackprop check --size %d %d %d: %s" % (n, d, m, session.summary()), "".join(body)
    )


def _cells_figure(check):
    rows, cols = check.grid()
    ratios = [0.0] * (rows * cols)
    for cell, ratio in check.failed.items():
        ratios[check.grid_index(cell)] = ratio
    return (
        '<figure class="map">%s<figcaption>%s: %d of %d cells failed (a cell may fail '
        "in several trials); worst %s</figcaption></figure>"
        % (
            error_map_svg(check.name + " cells", ratios, (rows, cols)),
            escape(check.name),
            len(check.failed),
            check.cells,
            escape(check.describe(check.worst_cell)),
        )
    )


def _samples_table(check):
    rows = [
        (
            check.name + str(list(e.index)),
            (repr(e.ref), 'class="num"'),
            (repr(e.got), 'class="num"'),
            ("%.3g" % e.bound, 'class="num"'),
            (_ratio_text(e.ratio), 'class="num fail"'),
        )
        for e in sorted(check.sampled.failed, key=lambda e: -e.ratio)[:50]
    ]
    headers = ("element", "expected", "got", "bound", "error/bound")
    return "<p>%s: sampled elements beyond their own bound:</p>%s" % (
        escape(check.name),
        _table(headers, rows),
    )


def _sized_html(result):
    ok = result.passed
    out = [
        '<section class="%s"><h2>%s %s: <span class="%s">%s</span></h2>'
        % (
            "" if ok else "failure",
            escape(result.backend),
            escape(result.dtype),
            "pass" if ok else "fail",
            "passed" if ok else "FAILED",
        )
    ]
    for problem in result.problems:
        out.append("<pre>%s</pre>" % escape(problem))
    for note in result.notes:
        out.append("<p>note: %s</p>" % escape(note))
    if result.verification is not None:
        out.append("<pre>%s</pre>" % escape("\n".join(result.verification.lines())))
        maps = []
        for check in result.verification.outputs:
            if check.failed:
                maps.append(_cells_figure(check))
            if check.sampled is not None and check.sampled.failed:
                out.append(_samples_table(check))
        if maps:
            out.append(
                "<p>Where the failing cells are: each square is a cell of %d "
                "elements along a row (y, dx) or down a column (dW), coloured by "
                "its worst |got·r − reference·r| / tolerance; pale cells passed:</p>"
                % result.verification.cell
            )
            out.append(legend_svg() + '<div class="maps">%s</div>' % "".join(maps))
    out.append(
        "<p>seconds: %s</p>"
        % escape(", ".join("%s %.2f" % (k, v) for k, v in sorted(result.seconds.items())))
    )
    if not ok:
        out.append("<p>repro: <code>%s</code></p>" % escape(result.repro()))
    out.append("</section>")
    return "".join(out)
