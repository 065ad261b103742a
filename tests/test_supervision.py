"""No backend, plugin or argument gets a green it did not earn (README, "What a
backend cannot do to a verdict").

Each hostile backend of tests/hostile_backends.py runs through the CLI (and,
in the slow tests, serial pytest and pytest -n 2): it must fail the check it
was in, naming the case and the cause, and the run must still end with its
summary line.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from refbackprop.conformance import run
from refbackprop.registry import BackendInfo, Registry, describe

import hostile_backends as hostile
from front_ends import module_argv, run_cli, run_conformance_pytest, run_module

HERE = os.path.dirname(os.path.abspath(__file__))
HOSTILE_DATA = os.path.join(HERE, "data", "hostile")
CASE = "backward/float64/N2-D2-M3/bias/normal/seed0"
SMALL = "N2-D2-M3/bias/normal"  # forward, backward, wear (and repeat)


def check(*args):
    result = run_cli("check", *args, catch_exceptions=False)
    return result.exit_code, result.output


def summary(output):
    return output.strip().splitlines()[-1]


FAILING = [
    ("ExitsZero", "backward raised SystemExit: 0 (at "),
    ("OsExitZero", "the backend's worker exited with status 0 during backward"),
    ("Segfaults", "the backend's worker was killed by signal 11 (SIGSEGV) during forward"),
    ("Hangs", "the backend's worker gave no answer in 1 s during backward"),
    ("SkipsItself", "backward raised Skipped: backward is not implemented yet (at "),
    ("XfailsItself", "forward raised XFailed: forward is known to be wrong"),
    ("KeyboardInterrupts", "backward raised KeyboardInterrupt (at "),
    ("GarblesReplies", "the backend's worker sent an unreadable reply"),
    ("NoisyWrong", "dx: worst element dx["),
    ("OverflowsFloat32", "= 1e+300 is not a float32 value"),
    ("OddEntries", "y[0][0] is '0.5' (str), not a float"),
    ("TupleRows", "tolist(x) gave tuple, not a list"),
    ("BadHook", "shares_memory(y, b) raised TypeError: cannot compare these arrays"),
    ("OverlapsInput", "dx aliases input x: outputs must be new arrays"),
    ("MultilineError", "backward raised ValueError: shapes\n    1116 passed, 0 failed"),
]


@pytest.mark.parametrize("name,cause", FAILING, ids=[f[0] for f in FAILING])
def test_a_hostile_backend_fails_its_check_and_the_run_ends_with_its_summary(
    name, cause, monkeypatch
):
    monkeypatch.chdir(HERE)
    code, out = check("--backend", "hostile_backends:" + name, "--case", SMALL, "--timeout", "1")
    assert code == 1, out
    assert cause in out
    failed = [line for line in out.splitlines() if line.startswith("FAILED ")]
    assert failed and all(" [" in line for line in failed)  # the check and backend named
    assert "/N2-D2-M3/bias/normal/seed0" in failed[0]
    passed, failures = summary(out).split(", ")
    assert passed.endswith(" passed") and failures.endswith(" failed")
    assert int(failures.split()[0]) >= 1
    assert "repro:  refbackprop check --backend hostile_backends:%s --case " % name in out


def test_what_a_crashing_backend_printed_comes_with_its_failure(monkeypatch):
    monkeypatch.chdir(HERE)
    code, out = check("--backend", "hostile_backends:Segfaults", "--case", SMALL)
    assert code == 1
    assert "the backend printed (last lines):" in out
    assert 'hostile_backends.py", line' in out and "in forward" in out  # faulthandler
    code, out = check("--backend", "hostile_backends:NoisyWrong", "--case", CASE)
    assert code == 1 and "| kernel: using the fallback path for dx" in out


@pytest.mark.parametrize(
    "name", ["Noisy", "UndecidedHook", "OneShotDtypes", "ShiftingDtypes", "DisjointBlocks"]
)
def test_correct_backends_with_odd_habits_pass(name, monkeypatch):
    monkeypatch.chdir(HERE)
    code, out = check("--backend", "hostile_backends:" + name, "--case", SMALL)
    assert code == 0, out
    assert summary(out).endswith(" passed, 0 failed")


def test_noise_never_reaches_the_json_document(monkeypatch):
    monkeypatch.chdir(HERE)
    proc = run_module("check --backend hostile_backends:Noisy --json --case", SMALL, cwd=HERE)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # one document, nothing else
    assert doc["ok"] and doc["failed"] == 0 and doc["passed"] == 4  # 3 + the oracle
    assert "noise" not in proc.stdout and "noise" not in proc.stderr


def test_a_skipped_alias_check_is_said_never_silent(monkeypatch):
    monkeypatch.chdir(HERE)
    code, out = check("--backend", "hostile_backends:UndecidedHook", "--case", SMALL)
    assert "note: undecided-hook, 3 checks: alias check skipped" in out
    code, out = check("--backend", "hostile_backends:UndecidedHook", "--case", SMALL, "--json")
    notes = json.loads(out)["notes"]
    assert notes[0]["backend"] == "undecided-hook" and "alias check skipped" in notes[0]["note"]


def test_a_backend_that_wears_out_fails_the_wear_check(monkeypatch):
    monkeypatch.chdir(HERE)
    code, out = check("--backend", "hostile_backends:WearsOut", "--case", "wear/")
    assert code == 1
    assert "FAILED wear/backward/float64/N2-D2-M3/bias/normal/seed0 [wears-out]" in out
    assert "call 151 of a sequence of 304 (forward) fails" in out


@pytest.mark.parametrize(
    "name,reason",
    [
        ("RaisingName", "is broken: RuntimeError: no name today"),
        ("RaisingVersion", "is broken: SystemExit: 3"),
        ("RaisingAvailability", "is broken: ValueError: cannot tell"),
        (
            "DuplicateDtypes",
            "is broken: ValueError: dtypes ('float64', 'float64') names float64 twice",
        ),
        (
            "ForgesLines",
            "is broken: ValueError: name must be a non-empty str of printable "
            "characters (at most 200), not 'forges\\n1116 passed, 0 failed'",
        ),
    ],
)
def test_a_plugin_whose_attributes_misbehave_is_broken_in_one_line(name, reason, monkeypatch):
    monkeypatch.chdir(HERE)
    code, out = check("--backend", "hostile_backends:" + name)
    assert code == 2
    assert out.strip().splitlines() == ["Error: backend 'hostile_backends:%s' %s" % (name, reason)]


@pytest.mark.parametrize(
    "module,reason",
    [
        ("exits_at_import", "is broken: SystemExit: 0"),
        (
            "os_exit_at_import",
            "is broken: its worker exited with status 0 during loading the "
            "backend; it printed: about to leave",
        ),
        (
            "segfault_at_import",
            "is broken: its worker was killed by signal 11 (SIGSEGV) during loading",
        ),
    ],
)
def test_a_plugin_that_ends_its_process_while_importing_is_broken(module, reason, monkeypatch):
    monkeypatch.chdir(HOSTILE_DATA)
    code, out = check("--backend", module + ":Backend")
    assert code == 2
    assert "backend '%s:Backend' %s" % (module, reason) in out


def test_listing_and_the_default_run_survive_plugins_that_kill_their_process(
    plugin_dist, monkeypatch
):
    killers = {
        "aaa-os-exit": "os_exit_at_import:Backend",
        "aab-segfault": "segfault_at_import:Backend",
        "aac-exit": "exits_at_import:Backend",
    }
    plugin_dist("killers", killers)
    monkeypatch.syspath_prepend(HOSTILE_DATA)
    result = run_cli("backends", catch_exceptions=False)
    assert result.exit_code == 0
    rows, last = {}, None  # name -> its row and the lines under it
    for line in result.output.splitlines()[1:]:
        if line.startswith(" "):
            rows[last] += "\n" + line.strip()
        else:
            last = line.split()[0]
            rows[last] = line
    assert (
        "broken" in rows["aaa-os-exit"]
        and "reason: its worker exited with status 0" in rows["aaa-os-exit"]
    )
    assert "reason: its worker was killed by signal 11" in rows["aab-segfault"]
    assert "reason: SystemExit: 0" in rows["aac-exit"]
    assert rows["python"].split()[1] == "available"
    code, out = check("--case", "forward/float64/N2-D2-M3/bias/normal/seed0")
    assert code == 0, out
    for name, reason in (
        ("aaa-os-exit", "its worker exited with status 0"),
        ("aab-segfault", "its worker was killed by signal 11"),
        ("aac-exit", "SystemExit: 0"),
    ):
        assert "not run: %s (broken: %s" % (name, reason) in out
    assert "no answer" not in out  # no worker stalled until its timeout
    assert summary(out).endswith(" passed, 0 failed")


def test_a_name_two_distributions_declare_is_ambiguous_everywhere(plugin_dist, monkeypatch):
    plugin_dist("shadow", {"python": "hostile_backends:Noisy"})
    monkeypatch.chdir(HERE)
    code, out = check("--backend", "python")
    assert code == 2
    assert "backend 'python' is ambiguous: the name is declared by" in out
    assert "shadow 1.0 (hostile_backends:Noisy)" in out and "--backend " in out
    listing = run_cli("backends").output
    assert len([line for line in listing.splitlines() if line.startswith("python ")]) == 2
    code, out = check("--case", "forward/float64/N2-D2-M3/bias/normal/seed0")
    assert code == 0 and "not run: python (ambiguous: " in out
    code, out = check("--backend", "hostile_backends:Noisy", "--case", CASE)
    assert code == 0


def test_two_backends_with_one_name_get_distinct_labels_and_their_own_repros(monkeypatch):
    monkeypatch.chdir(HERE)
    code, out = check(
        "--backend",
        "hostile_backends:NoisyWrong",
        "--backend",
        "hostile_backends:NoisyWrongTwin",
        "--case",
        CASE,
    )
    assert code == 1
    assert "FAILED %s [noisy-wrong (hostile_backends:NoisyWrong)]" % CASE in out
    assert "FAILED %s [noisy-wrong (hostile_backends:NoisyWrongTwin)]" % CASE in out
    assert "--backend hostile_backends:NoisyWrongTwin --case %s" % CASE in out


@pytest.mark.parametrize(
    "args",
    [
        ["--backend", "python", "--case", "oracle/"],
        ["--backend", "python", "--case", "float32"],
        ["--backend", "python", "--case", "no-such-check"],
    ],
)
def test_a_selection_without_checks_of_the_backend_is_a_usage_error(args):
    code, out = check(*args)
    assert code == 2
    assert "no check of backend 'python' matches" in out


def test_run_refuses_an_oracle_only_selection():
    with pytest.raises(ValueError, match="no check of backend 'python' matches 'oracle/'"):
        run(Registry().get("python"), pattern="oracle/")


def test_run_in_process_fails_what_a_backend_raises_even_system_exit():
    results = run(hostile.ExitsZero(), pattern=CASE, oracle=False)
    assert [r.passed for r in results] == [False]
    assert results[0].problems[0].startswith("backward raised SystemExit: 0")
    with pytest.raises(KeyboardInterrupt):
        run(hostile.KeyboardInterrupts(), pattern=CASE, oracle=False)  # Ctrl-C stops it


@pytest.mark.parametrize(
    "args,needle",
    [
        (
            ["--size", "64", "100000", "100000"],
            "--size 64 100000 100000 refused before allocating "
            "anything: X (64, 100000), W (100000, 100000)",
        ),
        (
            ["--size", "64", "512", "512", "--max-memory", "1M"],
            "over the memory budget of 1 MiB (--max-memory",
        ),
        (["--case", "forward/float64/N4096-D4096-M4096/bias/normal/seed0"], "would take about"),
        (["--size", "8", "8", "8", "--max-memory", "lots"], "--max-memory: 'lots' is not a size"),
    ],
)
def test_sizes_are_refused_before_anything_is_allocated(args, needle):
    code, out = check("--backend", "python", *args)
    assert code == 2
    assert needle in out
    assert len(out.strip().splitlines()) == 1


def test_bench_refuses_sizes_and_reports_a_crashing_backend_in_one_line(monkeypatch):
    result = run_cli("bench --backend python --size 4096 4096 4096")
    assert result.exit_code == 2 and "bench --size 4096 4096 4096 refused" in result.output
    monkeypatch.chdir(HERE)
    result = run_cli("bench --backend hostile_backends:Segfaults --size 4 5 6")
    assert result.exit_code == 1
    line = [l for l in result.output.splitlines() if l.startswith("segfaults")][0]
    assert "FAILED: the backend's worker was killed by signal 11 (SIGSEGV) during forward" in line
    assert "Traceback" not in result.output


def test_ctrl_c_stops_the_run_and_still_reports_what_was_checked(tmp_path):
    marker = str(tmp_path / "hanging")
    proc = subprocess.Popen(
        module_argv("check --backend python --backend hostile_backends:Hangs --case N7-D13-M11"),
        cwd=HERE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, HANGS_MARKER=marker),
    )
    deadline = time.time() + 120
    while time.time() < deadline and not os.path.exists(marker) and proc.poll() is None:
        time.sleep(0.2)  # until the hanging backward has started
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "INTERRUPTED after " in out and summary(out).endswith(", interrupted")
    assert "python                 float64" in out  # what was checked so far
    assert "Traceback" not in err


def test_python_m_refbackprop_with_arguments_runs_the_command_line():
    proc = run_module("check --backend python --case", CASE)
    assert proc.returncode == 0 and summary(proc.stdout).endswith(" passed, 0 failed")


def test_python_m_refbackprop_refuses_arguments_where_there_is_no_command_line(tmp_path):
    import shutil
    import refbackprop

    shutil.copytree(
        os.path.dirname(refbackprop.__file__),
        str(tmp_path / "refbackprop"),
        ignore=shutil.ignore_patterns("__pycache__", "conformance"),
    )
    proc = subprocess.run(
        [sys.executable, "-S", "-m", "refbackprop", "check"],
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "arguments check are for the command line, which is not installed" in proc.stderr


def test_a_terminal_that_cannot_show_our_symbols_gets_ascii():
    env = dict(os.environ, PYTHONIOENCODING="ascii")
    proc = run_module("check --backend python --size 3 40 5 --trials 3", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "3 cells x 3 trials" in proc.stdout and "Traceback" not in proc.stderr
    for command in ("explain --help", "check --help", "explain 2 2 3"):
        proc = run_module(command, env=env)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr


def test_describe_reads_each_attribute_once_in_a_guard():
    info = describe(BackendInfo("x", "", "test"), hostile.ShiftingDtypes())
    assert info.status == "available" and info.dtypes == ("float64",)
    for cls, needle in [
        (hostile.RaisingName, "RuntimeError: no name today"),
        (hostile.RaisingVersion, "SystemExit: 3"),
        (hostile.DuplicateDtypes, "names float64 twice"),
    ]:
        info = describe(BackendInfo("x", "", "test"), cls())
        assert info.status == "broken" and needle in info.reason


# -- the same through the pytest plugin, serial and split across processes ----------

PLUGIN_CASES = [
    ("ExitsZero", 1),
    ("OsExitZero", 1),
    ("Segfaults", 1),
    ("Hangs", 1),
    ("SkipsItself", 1),
    ("XfailsItself", 1),
    ("WearsOut", 1),
    ("Noisy", 0),
]


def plugin_run(name, *extra):
    args = ["--refbackprop-backend", "hostile_backends:" + name, "--refbackprop-timeout", "2"]
    args += ["-k", "N2-D2-M3 and bias and normal", "-rfE"]
    return run_conformance_pytest(*(args + list(extra)), cwd=HERE)


def failed_ids(output):
    return sorted(
        line.split("::test_check[", 1)[1].split("]", 1)[0]
        for line in output.splitlines()
        if line.startswith("FAILED ") and "::test_check[" in line
    )


@pytest.mark.slow
@pytest.mark.parametrize("name,code", PLUGIN_CASES, ids=[c[0] for c in PLUGIN_CASES])
def test_pytest_serial_and_split_give_the_same_honest_verdict(name, code):
    serial = plugin_run(name)
    split = plugin_run(name, "-n", "2")
    for proc in (serial, split):
        out = proc.stdout
        assert proc.returncode == code, out[-3000:]
        last = out.strip().splitlines()[-1]
        assert last.startswith("=") and " in " in last  # the normal summary
        assert "skipped" not in last and "xfailed" not in last and "error" not in last
    assert failed_ids(serial.stdout) == failed_ids(split.stdout)
    if code:
        assert "wear/backward/float64/N2-D2-M3/bias/normal/seed0" in failed_ids(serial.stdout)
    else:
        assert "7 passed" in serial.stdout.strip().splitlines()[-1]  # bias, nobias, wear, oracles


# -- at size (check --size): the same guarantees ----------------------------------

SIZED = [
    (
        "hostile_backends:Segfaults",
        "the backend's worker was killed by signal 11 (SIGSEGV) during forward",
    ),
    ("hostile_backends:ExitsZero", "backward raised SystemExit: 0"),
    ("hostile_backends:OverlapsInput", "dx aliases input x: outputs must be new arrays"),
    ("wrong_backends:ModifiesInput", "input dy was modified by the call"),
    ("hostile_backends:OverflowsFloat32", "y[0][0] = 1e+300 is not a float32 value"),
    ("hostile_backends:TupleRows", "y has the wrong shape: tolist gave tuple, not a list"),
    ("hostile_backends:OddEntries", "y has an entry '0.5' (str), not a float"),
    ("hostile_backends:ShortensOutputs", "dw came back with 199 values, not the 200 of shape"),
    ("hostile_backends:RenamesFormat", "y came back in format 'q', not 'd' or 'f'"),
    ("hostile_backends:InflatesReply", "bytes of buffers, more than the 2720 expected"),
    ("hostile_backends:WarmupRaises", "warmup raised RuntimeError: no kernels for float"),
    ("hostile_backends:WarmupHangs", "the backend's worker gave no answer in 1 s during warmup"),
]


@pytest.mark.parametrize("selector,cause", SIZED, ids=[s[0].split(":")[1] for s in SIZED])
def test_at_size_what_the_catalogue_checks_is_checked(selector, cause, monkeypatch):
    monkeypatch.chdir(HERE)
    code, out = check(
        "--backend", selector, "--size", "3", "40", "5", "--trials", "2", "--timeout", "1"
    )
    assert code == 1, out
    assert cause in out
    assert "at N=3, D=40, M=5: FAILED" in out
    assert "repro:  refbackprop check --backend %s --size 3 40 5 --dtype " % selector in out
    assert summary(out) == "0 passed, 1 failed"


def _without_seconds(value):
    if isinstance(value, dict):
        return dict((k, _without_seconds(v)) for k, v in value.items() if k != "seconds")
    if isinstance(value, list):
        return [_without_seconds(v) for v in value]
    return value


@pytest.mark.parametrize(
    "selector", ["python", "wrong_backends:CorruptsOneDwElement", "wrong_backends:InfInDw"]
)
def test_at_size_dw_summed_in_a_child_as_it_arrives_is_the_same_report(
    selector, monkeypatch, forked_children
):
    """Where prepare forks (here forced at a small size), dW's got side is
    summed in a child started as soon as the worker's reply is in, while
    prepare still runs: the same report, to the last number, as summing it
    in finish, for a correct dW, one element off, and one +inf; every
    child reaped."""
    import json

    from refbackprop import freivalds, sized

    monkeypatch.chdir(HERE)
    monkeypatch.setattr(freivalds, "PARALLEL_MADDS", 1)
    started = []
    real = sized._start_got

    def recording(*args):
        started.append(real(*args))
        return started[-1]

    monkeypatch.setattr(sized, "_start_got", recording)
    taken = []
    finish = freivalds.Prepared.finish

    def finishing(self, *outputs, **options):
        taken.append(options.get("got"))
        return finish(self, *outputs, **options)

    monkeypatch.setattr(freivalds.Prepared, "finish", finishing)
    args = ("--backend", selector, "--size", "4", "40", "30", "--seed", "3", "--json")
    code, out = check(*args)
    assert started and taken == started  # every run's, to its finish
    assert all(got.child is None for got in started)
    monkeypatch.setattr(sized, "_start_got", lambda *args: None)
    code_here, out_here = check(*args)
    assert (code, _without_seconds(json.loads(out))) == (
        code_here,
        _without_seconds(json.loads(out_here)),
    )
    assert code == (0 if selector == "python" else 1)
    assert all(child.pid is None for child in forked_children)


def test_at_size_forged_seconds_are_left_out_of_the_report(monkeypatch):
    monkeypatch.chdir(HERE)
    code, out = check("--backend", "hostile_backends:ForgesSeconds", "--size", "3", "40", "5")
    assert code == 0, out
    assert "to_lists 0.50" in out and "fast" not in out and "compute" not in out
    assert "to_native" not in out and "Traceback" not in out


def test_at_size_a_correct_backend_with_disjoint_blocks_passes(monkeypatch):
    monkeypatch.chdir(HERE)
    code, out = check(
        "--backend", "hostile_backends:DisjointBlocks", "--size", "3", "40", "5", "--trials", "2"
    )
    assert code == 0, out


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--timeout", "nan"], "'nan' is not a positive number of seconds"),
        (["--timeout", "0"], "'0' is not a positive number of seconds"),
        (["--max-seconds", "nan"], "'nan' is not a positive number of seconds"),
        (["--max-memory", "1e400"], "'1e400' is not a positive, finite size"),
        (["--backend", ""], "a backend selector must be a registered name"),
        (["--backend", ":"], "backend ':' is broken: BackendError: ':' is not an import path"),
        (["--backend", "os:system"], "backend 'os:system' is broken: TypeError"),
    ],
)
def test_odd_arguments_are_usage_errors_with_one_error_line(args, needle):
    code, out = check(*args)
    errors = [line for line in out.splitlines() if line.startswith("Error: ")]
    assert code == 2 and len(errors) == 1 and needle in errors[0]
    assert "Traceback" not in out


def test_an_infinite_timeout_means_no_limit():
    code, out = check("--backend", "python", "--case", CASE, "--timeout", "inf")
    assert code == 0


@pytest.mark.parametrize(
    "name, status", [("SIGTERM", 143), pytest.param("SIGHUP", 129, marks=pytest.mark.slow)]
)
def test_a_backend_that_signals_the_verdicts_process_gets_a_summary_not_a_silent_end(name, status):
    proc = run_module(
        "check --backend python --backend hostile_backends:SignalsItsParent --case N2-D2-M3",
        cwd=HERE,
        timeout=120,
        env=dict(os.environ, SIGNALS_PARENT=name),
    )
    assert proc.returncode == status, proc.stdout + proc.stderr
    assert "INTERRUPTED after " in proc.stdout
    assert summary(proc.stdout).endswith(", interrupted")
    assert "python                 float64" in proc.stdout  # checked before the signal
    assert proc.stderr.strip().endswith("refbackprop: stopped by %s" % name)
    assert "Traceback" not in proc.stderr


def test_a_stopped_workers_reader_never_reads_the_next_workers_pipe(monkeypatch):
    # A reader thread slow to come back for its next message (a busy machine):
    # had stop() closed its pipe meanwhile, the descriptor's number would go
    # to the next worker's pipe and the old thread would steal its messages,
    # and the next load would wait for its timeout.
    from refbackprop import supervisor

    receive = supervisor.Channel.receive

    def slow_receive(channel):
        time.sleep(0.15)
        return receive(channel)

    monkeypatch.setattr(supervisor.Channel, "receive", slow_receive)
    for _ in range(3):  # later workers' pipes reuse the numbers of earlier ones'
        worker = supervisor.WorkerProcess()
        info = worker.request("load", {"selector": "python"}, lambda call: 20, None)
        assert info["status"] == "available"
        worker.stop()
        reader = getattr(worker, "reader", None)
        assert reader is not None and not reader.is_alive() and _closed(worker.reply)


@pytest.mark.skipif(
    not os.path.exists("/proc/self/environ"), reason="needs /proc to read a process's environment"
)
@pytest.mark.parametrize("given", [None, "1"])
def test_workers_run_without_numpy_s_huge_page_advice_unless_told(given, monkeypatch):
    """NUMPY_MADVISE_HUGEPAGE=0 in the worker's environment (first touches of
    huge pages are slow where a VM hands free memory back to its host),
    unless the caller set the variable: then the caller's value."""
    from refbackprop import supervisor

    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    if given is not None:
        monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", given)
    monkeypatch.setenv("REFBACKPROP_TEST_MARK", "kept")
    worker = supervisor.WorkerProcess()
    try:
        with open("/proc/%d/environ" % worker.proc.pid, "rb") as f:
            env = dict(v.split(b"=", 1) for v in f.read().split(b"\0") if b"=" in v)
    finally:
        worker.stop()
    assert env[b"NUMPY_MADVISE_HUGEPAGE"] == (b"0" if given is None else given.encode())
    assert env[b"REFBACKPROP_TEST_MARK"] == b"kept"  # the rest: this process's


def _closed(end):
    """Whether the reply end (a socket, or a pipe's file) is closed."""
    return end.fileno() == -1 if hasattr(end, "recv_into") else end.closed


def test_replies_come_back_whatever_the_default_socket_timeout():
    """A program that set socket.setdefaulttimeout (its sockets then
    non-blocking underneath) still gets its worker's replies: the reply
    channel's ends are made blocking, even for a reply slower than the
    timeout."""
    import socket

    from refbackprop import supervisor

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(0.05)
    try:
        worker = supervisor.WorkerProcess()
    finally:
        socket.setdefaulttimeout(old)
    try:
        time.sleep(0.2)  # (longer than the timeout before the first reply)
        info = worker.request("load", {"selector": "python"}, lambda call: 20, None)
        assert info["status"] == "available"
    finally:
        worker.stop()


@pytest.mark.parametrize("pairs", [True, False], ids=["socket pair", "no socket pairs"])
def test_replies_come_back_on_a_socket_pair_where_there_is_one(pairs, monkeypatch):
    """The worker's replies arrive on a Unix socket (each out-of-band buffer
    received in one call, MSG_WAITALL, without the GIL between its pieces);
    without socket pairs, on a pipe as before; either is closed after."""
    import socket

    from refbackprop import supervisor

    if not pairs:
        monkeypatch.setattr(supervisor, "_reply_ends", lambda: (None, None))
    worker = supervisor.WorkerProcess()
    try:
        if pairs:
            assert isinstance(worker.reply, socket.socket) and worker.proc.stdout is None
            assert worker.channel.recv_into is not None
        else:
            assert worker.reply is worker.proc.stdout and worker.channel.recv_into is None
        info = worker.request("load", {"selector": "python"}, lambda call: 20, None)
        assert info["status"] == "available"
    finally:
        worker.stop()
    assert _closed(worker.reply)


# -- the channel: large buffers out of band ------------------------------------


def _channel_pair(kind="pipe"):
    """(receiver, sender, (read fd, write fd)) over a pipe, or a Unix socket
    pair read with recv_into as the supervisor reads its workers'."""
    import socket

    from refbackprop.worker import Channel

    if kind == "pipe":
        read, write = os.pipe()
        return Channel(read, None), Channel(None, write), (read, write)
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    read, write = os.dup(mine.fileno()), os.dup(theirs.fileno())
    mine.close()
    theirs.close()
    sock = socket.socket(fileno=os.dup(read))  # (its recv_into, on the same socket)
    _SOCKETS.append(sock)
    return Channel(read, None, recv_into=sock.recv_into), Channel(None, write), (read, write)


_SOCKETS = []


@pytest.mark.parametrize("kind", ["pipe", "socket"])
def test_the_channel_carries_arrays_out_of_band_into_arrays_of_their_own(kind):
    import pickle
    import threading
    from array import array

    receiver, sender, fds = _channel_pair(kind)
    d = array("d", [k * 0.5 for k in range(100003)])  # far beyond a pipe's buffer
    f = array("f", [1.5, -2.0, 3.25])
    raw = bytearray(b"\x01\x02\x03")
    message = (
        "result",
        {
            "d": pickle.PickleBuffer(d),
            "f": pickle.PickleBuffer(f),
            "b": (pickle.PickleBuffer(raw), [1, "two", 3.0]),
        },
    )
    sending = threading.Thread(target=sender.send, args=(message,))
    sending.start()
    got = receiver.receive()
    sending.join()
    for fd in fds:
        os.close(fd)
    kind, data = got
    assert kind == "result"
    assert type(data["d"]) is array and data["d"].typecode == "d" and data["d"] == d
    assert data["d"] is not d  # read into an array of the receiver's own
    assert type(data["f"]) is array and data["f"].typecode == "f" and data["f"] == f
    assert type(data["b"][0]) is bytearray and data["b"][0] == raw
    assert data["b"][1] == [1, "two", 3.0]
    while _SOCKETS:
        _SOCKETS.pop().close()


@pytest.mark.parametrize("kind", ["pipe", "socket"])
def test_a_stream_that_ends_inside_a_buffer_is_an_error(kind):
    """A worker that dies halfway through a buffer: EOFError, never a short
    array."""
    from array import array

    from refbackprop.worker import _BUFFER, _HEADER

    receiver, _, (read, write) = _channel_pair(kind)
    os.write(write, _HEADER.pack(4, 1) + _BUFFER.pack(b"d", 8 * 1000))
    os.write(write, b"\x80\x05N." + array("d", [1.0] * 300).tobytes())
    os.close(write)
    with pytest.raises(EOFError, match="the stream ended inside a buffer"):
        receiver.receive()
    os.close(read)
    while _SOCKETS:
        _SOCKETS.pop().close()


@pytest.mark.parametrize(
    "table,needle",
    [
        ([(b"d", 1 << 20)], "a frame announced 1048576 bytes of buffers, more than the 4096"),
        ([(b"d", 8)] * 65, "a frame announced 65 buffers, more than 64"),
        ([(b"q", 8)], "a frame announced a buffer of format b'q' and 8 bytes"),
        ([(b"d", 12)], "a frame announced a buffer of format b'd' and 12 bytes"),
    ],
)
def test_the_channel_refuses_frames_that_announce_what_it_does_not_take(table, needle):
    # a lying header must not make the verdict's process allocate: the frame is
    # refused before anything is read into a buffer
    from refbackprop.worker import _BUFFER, _HEADER

    receiver, _, (read, write) = _channel_pair()
    receiver.limit = 4096
    os.write(write, _HEADER.pack(4, len(table)) + b"".join(_BUFFER.pack(*t) for t in table))
    os.write(write, b"\x80\x05N.")  # a pickle of None, and no buffer at all
    with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        receiver.receive()
    os.close(read)
    os.close(write)


def test_a_large_request_to_a_worker_that_stops_reading_times_out():
    # A request with large buffers is written by a thread of its own: a worker
    # that stops reading (here: stopped) is killed at its time limit instead of
    # blocking the verdict's process in a write.
    import pickle
    import threading
    from array import array

    from refbackprop import supervisor

    worker = supervisor.WorkerProcess()
    try:
        info = worker.request("load", {"selector": "python"}, lambda call: 20, None)
        assert info["status"] == "available"
        os.kill(worker.proc.pid, signal.SIGSTOP)
        big = array("d", [0.0]) * (1 << 21)  # 16 MB: far beyond the pipe's buffer
        outcome = []

        def ask():
            try:
                worker.request("sized", {"inputs": pickle.PickleBuffer(big)}, lambda c: 1, None)
            except supervisor.WorkerLost as e:
                outcome.append(str(e))

        asking = threading.Thread(target=ask, daemon=True)
        asking.start()
        asking.join(20)  # a write in the asking thread would block until the worker reads
        assert not asking.is_alive() and outcome and "gave no answer in 1" in outcome[0]
    finally:
        worker.stop()
