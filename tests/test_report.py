"""check --report: one self-contained HTML page, with error maps where checks failed."""

import os
import re

from refbackprop.report import downsample, error_map_svg, escape, ratio_color

from front_ends import run_cli

HERE = os.path.dirname(os.path.abspath(__file__))


def cells(svg):
    """[(rows (r0, r1), cols (c0, c1), ratio)] of an error map's rects."""
    out = []
    for r0, r1, c0, c1, ratio in re.findall(
        r'data-rows="(\d+)-(\d+)" data-cols="(\d+)-(\d+)" data-ratio="([^"]+)"', svg
    ):
        value = float("inf") if ratio == "mismatch" else float(ratio)
        out.append(((int(r0), int(r1)), (int(c0), int(c1)), value))
    return out


def test_a_small_output_gets_one_cell_per_element():
    ratios = [0.0, 0.5, 2.0, 3e20, float("inf"), 1.0]  # (2, 3)
    got = cells(error_map_svg("y", ratios, (2, 3)))
    assert [(r, c) for r, c, _ in got] == [
        ((0, 1), (0, 1)),
        ((0, 1), (1, 2)),
        ((0, 1), (2, 3)),
        ((1, 2), (0, 1)),
        ((1, 2), (1, 2)),
        ((1, 2), (2, 3)),
    ]
    assert [v for _, _, v in got] == [0.0, 0.5, 2.0, 3e20, float("inf"), 1.0]


def test_downsampling_keeps_one_hot_element_visible():
    rows, cols = 300, 1000
    ratios = [0.01] * (rows * cols)
    ratios[123 * cols + 777] = 5e3  # one element off
    blocks, step_r, step_c = downsample(ratios, rows, cols, 64)
    assert (step_r, step_c) == (5, 16)
    hot = [b for b in blocks if b[4] > 1]
    assert hot == [(120, 125, 768, 784, 5e3)]
    covered = sum((r1 - r0) * (c1 - c0) for r0, r1, c0, c1, _ in blocks)
    assert covered == rows * cols  # every element in one block


def test_the_scale_tells_within_from_beyond_the_bound():
    assert ratio_color(float("nan")) == ratio_color(float("inf")) == "#000000"
    within = [ratio_color(r) for r in (0.0, 1e-3, 0.5, 1.0)]
    beyond = [ratio_color(r) for r in (1.5, 1e3, 1e10, 1e30)]
    assert len(set(within + beyond)) == 8
    assert all(c.startswith("#") and len(c) == 7 for c in within + beyond)


def test_escaping():
    assert (
        escape('<script>"x" & y</script>') == "&lt;script&gt;&quot;x&quot; &amp; y&lt;/script&gt;"
    )


TILE_REMAINDER = "--backend wrong_backends:TileRemainder --case"  # and the case


def report(tmp_path, command, *more):
    """`check COMMAND MORE... --report` into tmp_path: the result and the page."""
    path = str(tmp_path / "report.html")
    result = run_cli("check " + command, *more, "--report", path)
    with open(path, encoding="utf-8") as f:
        return result, f.read()


def test_a_failing_run_has_its_failures_maps_and_repros(tmp_path, monkeypatch):
    monkeypatch.chdir(HERE)
    result, page = report(tmp_path, TILE_REMAINDER, "forward/float64/N17-D31-M33/bias/normal/seed0")
    assert result.exit_code == 1
    assert "<script" not in page and "http" not in page.replace("http://www.w3.org", "")
    assert "FAILED</span> — 0 passed, 1 failed" in page
    assert (
        "refbackprop check --backend wrong_backends:TileRemainder --case "
        "forward/float64/N17-D31-M33/bias/normal/seed0" in page
    )
    assert "shrunk: still fails at N=1, D=0, M=1" in page
    [svg] = re.findall(r'<svg[^>]*class="errmap".*?</svg>', page)
    got = cells(svg)
    assert len(got) == 17 * 33
    hot = set(c for r, c, v in got if v > 1)
    assert hot == {(32, 33)}  # M = 33: the remainder of tiles of 4


def test_a_passing_run_has_the_table_and_the_worst_ratios(tmp_path):
    result, page = report(tmp_path, "--backend python --case N7-D13-M11/bias/normal")
    assert result.exit_code == 0
    assert "PASSED</span>" in page and 'class="errmap"' not in page
    assert re.search(r"<td>python</td><td>float64</td><td class=\"num\">\d+</td>", page)


def test_a_sized_run_maps_the_cells_that_failed(tmp_path, monkeypatch):
    """dW (300, 12) with dW[150][6] off: cells of 32 rows down each column
    (rows of like ‖X_{:,k}‖₁, _Context.dw_cells), so the failing cell is
    the one holding row 150 in column 6, and the caption names its rows."""
    from refbackprop.freivalds import prepare
    from refbackprop.sized import derived_seed, sized_inputs

    given = sized_inputs(8, 300, 12, "float64", True, derived_seed(5, "inputs"))
    plan = prepare(*(given[k] for k in ("x", "w", "b", "dy")), "float64", trials=1, samples=False)
    band = plan.checks[2].cell_index(150, 6) // 12  # the grid row of row 150's cell
    monkeypatch.chdir(HERE)
    result, page = report(
        tmp_path,
        "--backend wrong_backends:CorruptsOneDwElement --size 8 300 12 --trials 4 --seed 5",
    )
    assert result.exit_code == 1
    assert 'corrupts-one-dw-element float64: <span class="fail">FAILED</span>' in page
    assert "--size 8 300 12 --dtype float64 --seed 5" in page
    [svg] = re.findall(r'<svg[^>]*data-output="dw cells".*?</svg>', page)
    assert 'data-shape="10x12"' in svg  # ceil(300 / 32) cells x 12 columns
    hot = [(r, c) for r, c, v in cells(svg) if v > 1]
    assert hot == [((band, band + 1), (6, 7))]
    assert "dw: 1 of 120 cells failed" in page
    rows = sorted(plan.checks[2].cell_rows[band])
    assert 150 in rows
    shown = ", ".join(str(k) for k in rows[:4])
    assert "worst (rows %s and %d more, column 6)" % (shown, len(rows) - 4) in page


def test_an_unwritable_report_is_a_usage_error(tmp_path):
    result = run_cli(
        "check --backend python --case forward/float64/N2-D2-M3/bias/normal/seed0 --report",
        str(tmp_path / "no" / "such" / "dir.html"),
    )
    assert result.exit_code == 2 and "--report: cannot write" in result.output
    assert "does not exist" in result.output
    assert "passed" not in result.output  # refused before the run, not after it
    result = run_cli("check --backend python --case N2-D2-M3 --report", str(tmp_path))
    assert result.exit_code == 2 and "is a folder" in result.output


def test_the_report_renders_with_its_hot_cells_where_the_bug_is(browser, tmp_path, monkeypatch):
    monkeypatch.chdir(HERE)
    result, page = report(
        tmp_path, TILE_REMAINDER, "forward/float64/N17-D31-M33/nobias/normal/seed0"
    )
    assert result.exit_code == 1
    loaded = browser.load(str(tmp_path / "report.html"))
    assert loaded.console == []
    assert loaded.requests == ["file://" + str(tmp_path / "report.html")]
    # read the map from the rendered DOM: every hot cell is in the last column,
    # and the map is drawn where the DOM says it is
    hot = loaded.evaluate(
        "Array.from(document.querySelectorAll('svg.errmap rect'))"
        ".filter(r => r.dataset.ratio === 'mismatch' || +r.dataset.ratio > 1)"
        ".map(r => r.dataset.cols)"
    )
    assert hot and set(hot) == {"32-33"}
    box = loaded.evaluate(
        "(() => { const b = document.querySelector('svg.errmap')"
        ".getBoundingClientRect(); return [b.x, b.y, b.width, b.height]; })()"
    )
    assert box[2] > 100 and box[3] > 40
    shot = loaded.screenshot(int(box[0]), int(box[1]), int(box[2]), int(box[3]))
    from browser import decode_png

    width, height, pixels = decode_png(shot)
    right = pixels[height // 2][width - 3]  # inside the hot last column
    left = pixels[height // 2][3]  # a cell within its bound
    assert right[0] > 90 and right[1] < 40  # dark red
    assert left[2] > left[0]  # blue, not red
