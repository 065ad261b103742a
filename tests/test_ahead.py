"""Drawing the next sized run's inputs while this one is verified (ahead.py).

The inputs drawn ahead are sized_inputs' own numbers; a session's verdicts
are the same with or without drawing ahead; a child that fails or dies is
a verifier error, never a verdict; nothing drawn ahead outlives a run or a
session, whatever stops it.
"""

import os
import signal

import pytest

from refbackprop import ahead, forked, freivalds
from refbackprop import sized as sz
from refbackprop.conformance import executor
from refbackprop.sized import SizedSession, derived_seed, sized_inputs, verify_options

np = pytest.importorskip("numpy")
import atsize_backends as kb  # noqa: E402


def options(seed=7, trials=1):
    return verify_options(seed, trials, freivalds.FALSE_ALARM, False, False, freivalds.CELL)


@pytest.fixture
def children(forked_children, monkeypatch):
    """Every forked child started (conftest), and PARALLEL_MADDS at 1: small
    runs fork (and draw ahead) as the seed size does."""
    monkeypatch.setattr(freivalds, "PARALLEL_MADDS", 1)
    return forked_children


def as_bytes(inputs):
    return {k: None if v is None else (v.values.tobytes(), v.shape) for k, v in inputs.items()}


@pytest.mark.parametrize(
    "dtype, kind, bias",
    [
        ("float64", "mixed", True),
        ("float32", "mixed", False),
        ("bfloat16", "wide", True),
        ("float16", "overflow", True),
    ],
)
def test_inputs_drawn_ahead_are_sized_inputs_numbers(children, dtype, kind, bias):
    n, d, m = 5, 70, 40
    drawn = ahead.start(n, d, m, dtype, 11, kind, bias, options())
    assert drawn is not None
    got, early = drawn.take(n, d, m, dtype, 11, kind, bias)
    assert as_bytes(got) == as_bytes(sized_inputs(n, d, m, dtype, bias, 11, kind))
    # dW's early child was started on X and dY, and is the caller's now
    assert early is not None and [id(v) for v in early.given] == [id(got["x"]), id(got["dy"])]
    early.cancel()
    drawn.cancel()  # (nothing left: a no-op)
    assert len(children) == 3 and all(c.pid is None for c in children)  # W's, dW's two


def test_below_the_forking_size_nothing_is_drawn_ahead(monkeypatch):
    monkeypatch.setattr(freivalds, "PARALLEL_MADDS", 10**9)
    assert ahead.start(4, 30, 20, "float64", 1, "mixed", True, options()) is None


def test_without_fork_or_mmap_nothing_is_drawn_ahead(children, monkeypatch):
    import mmap

    monkeypatch.setattr(forked, "start", lambda compute: None)
    assert ahead.start(4, 30, 20, "float64", 1, "mixed", True, options()) is None
    monkeypatch.undo()
    monkeypatch.setattr(freivalds, "PARALLEL_MADDS", 1)

    def no_mmap(*args):
        raise OSError("no shared memory here")

    monkeypatch.setattr(mmap, "mmap", no_mmap)
    assert ahead.start(4, 30, 20, "float64", 1, "mixed", True, options()) is None


@pytest.mark.parametrize(
    "other, why",
    [
        ((4, 30, 20, "float32", 1, "mixed", True), "dtype 'float64', not 'float32'"),
        ((4, 30, 21, "float64", 1, "mixed", True), "M 20, not 21"),
        ((4, 30, 20, "float64", 2, "wide", True), "seed 1, not 2, kind 'mixed', not 'wide'"),
        ((4, 30, 20, "float64", 1, "mixed", False), "bias True, not False"),
    ],
)
def test_inputs_drawn_for_another_run_are_refused_and_stopped(children, other, why):
    drawn = ahead.start(4, 30, 20, "float64", 1, "mixed", True, options())
    with pytest.raises(ValueError, match="started for another run: " + why):
        drawn.take(*other)
    assert all(c.pid is None for c in children) and drawn.early is None
    with pytest.raises(ValueError, match="already taken, or cancelled"):
        drawn.take(4, 30, 20, "float64", 1, "mixed", True)


def test_a_failing_or_dying_child_is_an_error_and_is_reaped(children, monkeypatch):
    def boom(*args):
        raise MemoryError("no room for W")

    monkeypatch.setattr(sz, "w_and_b_into", boom)
    drawn = ahead.start(4, 30, 20, "float64", 1, "mixed", True, options())
    with pytest.raises(RuntimeError, match="child process failed: MemoryError: no room for W"):
        drawn.take(4, 30, 20, "float64", 1, "mixed", True)

    def die(*args):
        os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(sz, "w_and_b_into", die)
    drawn = ahead.start(4, 30, 20, "float64", 1, "mixed", True, options())
    with pytest.raises(RuntimeError, match="ended without a result"):
        drawn.take(4, 30, 20, "float64", 1, "mixed", True)
    # each time the W child and dW's early two: all reaped
    assert len(children) == 6 and all(c.pid is None for c in children)


def results(session):
    out = []
    for r in session.results:
        d = r.to_dict()
        d.pop("seconds")
        out.append(d)
    return out


def test_a_session_draws_ahead_and_judges_as_without(children, monkeypatch):
    """Two dtypes: the second run's inputs are drawn during the first's
    verification, and every verdict, tolerance and repro is what drawing
    each run's inputs in the run gives; a wrong backend still fails."""
    wrong = kb.RelativeOff({"dw": [(20, 10)], "y": [(3, 29)]}, 1e-3)
    for backend in (kb.Kernels(), wrong):
        args = ([executor(backend)], (4, 40, 30))
        kwargs = {"seed": 3, "dtype": None}
        took = []
        real_take = ahead.Ahead.take
        monkeypatch.setattr(
            ahead.Ahead, "take", lambda self, *a: took.append(a) or real_take(self, *a)
        )
        drawing = SizedSession(*args, **kwargs).run()
        monkeypatch.setattr(ahead, "start", lambda *a: None)
        drawn_in_run = SizedSession(*args, **kwargs).run()
        monkeypatch.undo()
        monkeypatch.setattr(freivalds, "PARALLEL_MADDS", 1)
        monkeypatch.setattr(forked, "start", forked.start)
        dtypes = [dt for _, dt in drawing.plan]
        assert len(dtypes) >= 2
        seed = derived_seed(3, "inputs")
        assert took == [(4, 40, 30, dt, seed, "mixed", True) for dt in dtypes[1:]]
        assert results(drawing) == results(drawn_in_run)
        assert drawing.ok == (backend is not wrong) and drawn_in_run.ok == drawing.ok
    assert all(c.pid is None for c in children)


def test_a_session_stopped_during_a_verification_leaves_nothing_behind(children, monkeypatch):
    """Ctrl-C while the first run is verified, after the second run's inputs
    started being drawn: the session stops, interrupted, and every child is
    killed and reaped, the shared memory closed."""
    made = []
    real_start = ahead.start
    monkeypatch.setattr(ahead, "start", lambda *a: made.append(real_start(*a)) or made[-1])

    def interrupted(self, *outputs, **options):
        raise KeyboardInterrupt

    monkeypatch.setattr(freivalds.Prepared, "finish", interrupted)
    session = SizedSession([executor(kb.Kernels())], (4, 40, 30), seed=3).run()
    assert session.interrupted and not session.ok and session.results == []
    assert len(made) == 1 and made[0].shared is None and made[0].child is None
    assert children and all(c.pid is None for c in children)


class RaisesInFloat64(kb.Kernels):
    name = "raises-in-float64"

    def forward(self, x, w, b=None):
        if x.dtype == np.float64:
            raise RuntimeError("kernel launch failed")
        return kb.Kernels.forward(self, x, w, b)


def test_a_run_that_fails_before_its_verification_draws_nothing_ahead(children, monkeypatch):
    """The backend fails in the first run (float64): its outputs are never
    verified, so the next run (float32) draws its own inputs, and passes."""
    started = []
    real_start = ahead.start
    monkeypatch.setattr(ahead, "start", lambda *a: started.append(a) or real_start(*a))
    session = SizedSession([executor(RaisesInFloat64())], (4, 40, 30), seed=3).run()
    first, second = session.results
    assert "kernel launch failed" in " ".join(first.problems) and second.passed
    assert started == [] and all(c.pid is None for c in children)


def test_a_start_that_fails_midway_stops_what_it_started(children, monkeypatch):
    """start_dw raising (or Ctrl-C) after the W child was forked: start()
    raises, and the W child is killed and reaped, the mapping closed."""
    import mmap

    mappings = []
    real_mmap = mmap.mmap
    monkeypatch.setattr(mmap, "mmap", lambda *a: mappings.append(real_mmap(*a)) or mappings[-1])

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(freivalds, "start_dw", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ahead.start(4, 30, 20, "float64", 1, "mixed", True, options())
    assert len(children) == 1 and children[0].pid is None
    assert len(mappings) == 1 and mappings[0].closed
