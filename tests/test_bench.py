"""The benchmark suite's plumbing (no timings are asserted: speed lives in benchmarks/, not here).

``gdfast bench`` (gdfast.bench, in the package): tiny workloads run for real so the agreement check
against the NumPy reference and the interleaved timing are exercised. ``benchmarks/`` (source
checkout only): the peers' agreement check and the report writers.
"""
import json
import os
import sys

import numpy as np
import pytest

import gdfast
from gdfast import bench, cli

TINY = dict(bench.QUICK, repeats=1, seed_n=2_000, seed_n_ref=200, batch_n={4: 20, 64: 3, 512: 2},
            batch_n_ref={4: 10, 64: 2, 512: 1}, persample_epochs=2, sweep_n=50, sweep_n_ref=5,
            quad_n=2_000, quad_n_ref=200, lat_n=20, lat_n_ref=10, mbsweep_epochs=2, mbsweep_epochs_ref=1,
            single_n=2, single_n_ref=1)

ROOT = os.environ.get("GDFAST_SOURCE_TREE") or os.path.dirname(os.path.dirname(os.path.abspath(gdfast.__file__)))
BENCHMARKS = os.path.join(ROOT, "benchmarks")
needs_checkout = pytest.mark.skipif(not os.path.isfile(os.path.join(BENCHMARKS, "report.py")),
                                    reason="benchmarks/ is in the source checkout only")


@pytest.fixture
def scripts(monkeypatch):
    """benchmarks/'s modules (timing, peers, report, run), imported as the scripts import them."""
    monkeypatch.syspath_prepend(BENCHMARKS)
    import peers
    import report
    import run
    import timing

    return timing, peers, report, run


def test_cli_has_bench():
    args = cli.build_parser().parse_args(["bench", "--quick", "--dtype", "float32", "--threads", "1"])
    assert args.quick and args.dtype == "float32" and args.threads == 1


def test_every_workload_is_checked_against_the_reference_and_timed():
    names = []
    for dtype in (np.float64, np.float32):
        for w in bench.workloads(dtype, TINY, threads=2):
            row, ns = bench.time_workload(w, repeats=2)
            names.append(row["workload"])
            assert row["gdfast_ns"] > 0 and row["reference_ns"] > 0
            assert row["ratio_min"] <= row["ratio"] <= row["ratio_max"]
            # ratio = median over repeats of each repeat's reference / gdfast ns per iteration
            assert row["ratio"] == pytest.approx(float(np.median(ns["reference"] / ns["gdfast"])))
            assert ("speedup_vs_1_thread" in row) == row["workload"].startswith("sweep-64 (")
    assert names[:11] == ["seed", "batch-4", "batch-64", "batch-512", "adam-64", "single-75kx100", "persample-64",
                          "sweep-64", "sweep-64 (2 threads)", "minibatch-sweep-64", "quad1d"]
    # float32 has the same 15 and, after single-75kx100, four of them again with accumulate="float32"
    assert names[15 + 6: 15 + 10] == [f"{name} (accumulate=float32)" for name in
                                      ("batch-64", "batch-512", "adam-64", "single-75kx100")]
    assert len(names) == 15 + 19


def test_the_accumulate_rows_train_with_float32_sums_on_the_same_problem():
    by_name = {w.name: w for w in bench.workloads(np.float32, TINY, threads=1)}
    assert not any("accumulate" in w.name for w in bench.workloads(np.float64, TINY, threads=1))
    for name in bench.ACCUMULATE_FLOAT32_ROWS:
        base, w = by_name[name], by_name[f"{name} (accumulate=float32)"]
        assert w.options == dict(base.options, accumulate="float32") and w.problem is base.problem
        assert "accumulate" not in base.options
        if base.options.get("optimizer") != "adam":  # (Adam's first steps are ~lr * sign(g): not these)
            # float32 sums: gdfast's answer differs from the default row's (both pass the reference check)
            assert not np.array_equal(w.fast(w.n_check), base.fast(base.n_check))


def test_adam_rows_are_checked_with_the_adam_tolerance():
    """float32 Adam runs at the noise floor sit ~3e-4 apart (see CHECK_TOL_ADAM): the Adam rows, with
    float64 or float32 sums, check against the reference with that tolerance, the others with CHECK_TOL."""
    for w in bench.workloads(np.float32, TINY, threads=1):
        adam = w.options.get("optimizer") == "adam"
        assert w.check_tol == (bench.CHECK_TOL_ADAM if adam else None), w.name
    assert bench.CHECK_TOL_ADAM["float64"] == bench.CHECK_TOL["float64"]


def test_a_disagreeing_gdfast_answer_stops_the_benchmark():
    w = bench.Workload("wrong", "float64", lambda k: np.ones(3), lambda k: np.ones(3) * 1.001, 1, 1, 1)
    with pytest.raises(RuntimeError, match="disagree on wrong"):
        bench.time_workload(w, repeats=1)


def test_interleaved_calls_each_function_once_per_repeat_in_rotating_order():
    calls = []
    times, last = bench.interleaved({"a": lambda: calls.append("a") or 1, "b": lambda: calls.append("b") or 2}, 3)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]  # warm-up, then a b / b a / a b
    assert {k: v.shape for k, v in times.items()} == {"a": (3,), "b": (3,)} and last == {"a": 1, "b": 2}
    with pytest.raises(ValueError, match="repeats"):
        bench.interleaved({"a": lambda: None}, 0)


def test_gdfast_bench_prints_one_line_per_workload(monkeypatch, capsys):
    monkeypatch.setattr(bench, "QUICK", TINY)
    assert cli.main(["bench", "--quick", "--dtype", "float64", "--threads", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = [line for line in out if line.split(" ")[0] in ("seed", "quad1d", "latency")]
    assert len(rows) == 6 and all("x  (" in line for line in rows)


@needs_checkout
def test_tiny_suite_with_peers_and_reports(scripts, tmp_path):
    timing, peers, report, run = scripts
    peer_set = peers.Peers(enabled=True)
    rows = [run.measure(w, 1, peer_set, 100) for w in bench.workloads(np.float64, TINY, threads=1)
            if w.name in ("seed", "quad1d") or w.name.startswith("latency")]
    for r in rows:
        for p in r["peers"].values():
            assert p["ok"], p  # every installed peer agrees with gdfast on these workloads
    results = {"rows": rows, "memory": [], "quick": True, "peer_notes": peer_set.notes, "gdfast_version": "x",
               "loadavg": (0.5, 0.5, 0.5), "cpu_count": 2}
    table = report.markdown_table(results)
    assert table.count("\n| seed | float64 | **gdfast** |") == 1 and "latency update" in table
    assert "| seed | float64 | C loop -O3 (limit) |" in table or "c_limit" in peer_set.notes
    report.bar_chart(results, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").stat().st_size > 1000
    json.dumps(results)


@needs_checkout
def test_peer_check_rejects_a_different_computation(scripts):
    timing, peers, report, run = scripts
    w = bench.Workload("x", "float64", lambda k: np.ones((2, 2)), lambda k: np.ones((2, 2)), 10, 10, 1)
    wrong = peers.PeerCall("wrong", lambda: np.ones((2, 2)) * 1.001, 10,
                           peers._checked_against(w, lambda: np.ones((2, 2)) * 1.001, 10))
    right = peers.PeerCall("right", lambda: np.ones((2, 2)), 10, peers._checked_against(w, lambda: np.ones((2, 2)), 10))
    candidates = [("wrong", lambda: wrong), ("right", lambda: right),
                  ("broken", lambda: 1 / 0)]
    good, failed = {}, {}
    orig = peers.candidates
    try:
        peers.candidates = lambda *a: candidates
        good, failed = peers.checked_calls(w, None, 0)
    finally:
        peers.candidates = orig
    assert list(good) == ["right"]
    assert failed["wrong"]["note"].startswith("mismatch") and failed["wrong"]["ns"] is None
    assert failed["broken"]["note"].startswith("error: ZeroDivisionError")


@needs_checkout
def test_update_readme(scripts, tmp_path):
    report = scripts[2]
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.START}\nold table\n{report.END}\noutro\n")
    report.update_readme(readme, "| new |")
    assert readme.read_text() == f"intro\n{report.START}\n| new |\n{report.END}\noutro\n"
    readme.write_text("no markers")
    with pytest.raises(SystemExit):
        report.update_readme(readme, "x")


@needs_checkout
def test_from_json_rebuilds_reports_without_running(scripts, tmp_path):
    run = scripts[3]
    rows = [bench.time_workload(w, 1)[0] for w in bench.workloads(np.float64, TINY, threads=1)
            if w.name.startswith("latency")]
    results = {"rows": rows, "memory": [], "quick": True, "peer_notes": {}, "gdfast_version": "x",
               "loadavg": None, "cpu_count": 2, "seconds": 1.0}
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps(results))
    readme = tmp_path / "README.md"
    readme.write_text("<!-- benchmark:start -->\n<!-- benchmark:end -->\n")
    out = tmp_path / "out"
    assert run.main(["--from-json", str(saved), "--readme", str(readme), "-o", str(out)]) == 0
    assert "latency predict" in readme.read_text()
    assert (out / "benchmark.png").exists() and (out / "benchmark.md").exists()


@needs_checkout
def test_every_script_in_benchmarks_times_through_timing_py():
    for name in sorted(os.listdir(BENCHMARKS)):
        if name.endswith(".py") and name != "timing.py":
            with open(os.path.join(BENCHMARKS, name)) as fh:
                text = fh.read()
            # a repeat loop collecting times is timing.py's job (single clock readings are fine)
            assert "times.append(" not in text and "_median_time" not in text, f"{name} has its own timing loop"
            # (memory.py measures peak memory, not time; builds_ab.py reads the times gdfast bench,
            # which times through the same helper, prints for each build)
            assert ("import timing" in text or "from timing import" in text
                    or name in ("peers.py", "report.py", "memory.py", "builds_ab.py")), name
    assert not any(m in sys.modules.get("gdfast.bench").__dict__ for m in ("numba", "jax", "torch", "sklearn"))


def _workload(name, dtype=np.float64, sizes=TINY):
    return next(w for w in bench.workloads(dtype, sizes, threads=1) if w.name == name)


def _only_candidates(monkeypatch, peers, candidates):
    monkeypatch.setattr(peers, "candidates", lambda *a: candidates)


@needs_checkout
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_c_limit_is_bit_equal_to_gdfast_and_a_different_loop_is_refused(scripts, monkeypatch, dtype):
    timing, peers, report, run = scripts
    peer_set = peers.Peers()
    lib, desc = peer_set.c_limit()
    if lib is None:
        pytest.skip(f"no C limit here: {desc}")
    for name in ("seed", "sweep-64"):
        w = _workload(name, dtype)
        good, failed = peers.checked_calls(w, peer_set, 100)
        assert "c_limit" in good and not failed.get("c_limit"), failed  # bit-equal, so it counts
        # the same C loop on another learning rate: one ulp-level difference is enough to be refused
        opts = dict(w.options)
        key = "learning_rate" if name == "seed" else "learning_rates"
        opts[key] = np.asarray(opts[key]) * (1 + 1e-9) if name != "seed" else opts[key] * (1 + 1e-9)
        wrong = bench.Workload(w.name, w.dtype, w.fast, w.reference, w.n, w.n_ref, w.n_check, w.unit,
                               problem=w.problem, options=opts)
        make = peers._c_seed_peer if name == "seed" else peers._c_sweep_peer
        with monkeypatch.context() as m:
            m.setattr(peers, "candidates", lambda *a: [("c_limit", lambda: make(wrong, lib, desc))])
            good, failed = peers.checked_calls(w, peer_set, 100)
        assert not good and failed["c_limit"]["note"].startswith("mismatch") and failed["c_limit"]["ns"] is None
    assert peers.bit_equal(np.zeros(2), np.zeros(2)) and not peers.bit_equal(np.zeros(2), -np.zeros(2))


@needs_checkout
def test_blocked_single_output_c_loop_is_bit_equal_to_gdfast(scripts, monkeypatch):
    """benchmarks/blocked_single_output.py times its C loop only when its weights are gdfast's bits:
    that loop, on a smaller blocked problem (an odd number of rows, so a block ends on a lone
    row), gives train's bits on 1 and 2 threads, and other bits for a learning rate 1e-9 apart."""
    for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
        monkeypatch.setenv(name, os.environ.get(name, "1"))  # (the script sets them when imported)
    import blocked_single_output as script

    from gdfast import _train

    assert script.BLOCK_ROWS == _train.block_rows()
    compiled, desc = script.c_loop()
    if compiled is None:
        pytest.skip(f"no C loop here: {desc}")
    loop, read_all = compiled
    rng = np.random.default_rng(5)
    X = rng.standard_normal((2 * script.BLOCK_ROWS + 1001, 7))
    y = X @ rng.standard_normal(7) + 0.1 * rng.standard_normal(X.shape[0])
    w0 = rng.standard_normal(7)
    expected = gdfast.train(w0, X, y, learning_rate=0.05, num_iterations=3, n_threads=1).W
    for n_threads in (1, 2):
        assert scripts[1].bit_equal(loop(w0, X, y, n_threads, lr=0.05, n_steps=3), expected)
    assert not scripts[1].bit_equal(loop(w0, X, y, 1, lr=0.05 * (1 + 1e-9), n_steps=3), expected)
    assert read_all(X, 2) == pytest.approx(script.N_STEPS * X.sum(), rel=1e-12)


@needs_checkout
def test_no_c_compiler_skips_the_limit_with_a_note(scripts, monkeypatch):
    peers = scripts[1]
    monkeypatch.setenv("CC", "")
    monkeypatch.setenv("PATH", "")
    peer_set = peers.Peers()
    assert peer_set.c_limit()[0] is None and "no C compiler" in peer_set.notes["c_limit"]
    assert peers._limit_peers(_workload("seed"), peer_set) == []


@needs_checkout
def test_minibatch_sweep_check_is_the_final_loss_scale(scripts, monkeypatch):
    timing, peers, report, run = scripts
    w = _workload("minibatch-sweep-64", sizes=dict(TINY, mbsweep_epochs=10))
    W, X, Y = w.problem
    lrs = w.options["learning_rates"]

    def gd(seed, scale=1.0):
        return gdfast.sweep(W, X, Y, learning_rates=lrs * scale, seeds=[seed], num_epochs=w.n, n_threads=1,
                            batch_size=w.options["batch_size"], loss_tol=0.0).W

    # another shuffle (seed) passes: the check is what the runs reach, not their exact path
    assert peers.same_final_losses(gd(123), w.fast(w.n), X, Y)
    bad = gd(w.options["seed"])
    bad[5] = np.nan
    assert not peers.same_final_losses(bad, w.fast(w.n), X, Y)  # a run that blew up
    assert not peers.same_final_losses(bad[:10], w.fast(w.n), X, Y)  # runs missing
    # a deliberately wrong peer (learning rates 10% too large) is refused and gets no time
    wrong = peers.PeerCall("jax", lambda: gd(5, 1.1), w.n * w.unit, peers._checked_losses(w, lambda: gd(5, 1.1), w.n))
    right = peers.PeerCall("numba", lambda: gd(5), w.n * w.unit, peers._checked_losses(w, lambda: gd(5), w.n))
    _only_candidates(monkeypatch, peers, [("jax", lambda: wrong), ("numba", lambda: right)])
    good, failed = peers.checked_calls(w, None, 0)
    assert list(good) == ["numba"] and failed["jax"]["note"].startswith("mismatch") and failed["jax"]["ns"] is None


@needs_checkout
def test_minibatch_sweep_and_single_output_peers_agree_and_are_timed_interleaved(scripts, monkeypatch):
    timing, peers, report, run = scripts
    calls = []
    original = timing.interleaved

    def spy(funcs, repeats):
        calls.append(list(funcs))
        return original(funcs, repeats)

    monkeypatch.setattr(bench, "interleaved", spy)
    peer_set = peers.Peers()
    rows = [run.measure(_workload(name), 2, peer_set, 100) for name in ("minibatch-sweep-64", "single-75kx100")]
    assert calls and all(c[:2] == ["gdfast", "reference"] for c in calls)  # one interleaved timing per row
    for r, c in zip(rows, calls):
        assert set(c[2:]) == set(r["peers"]), (c, r["peers"])  # every accepted peer was in the same repeats
        for p in r["peers"].values():
            assert p["ok"], p
            assert p["ns_min"] <= p["ns"] <= p["ns_max"] and p["ratio_min"] <= p["ratio"] <= p["ratio_max"]
        assert r["gdfast_min_ns"] <= r["gdfast_ns"] <= r["gdfast_max_ns"]
    assert "numpy" in rows[1]["peers"]  # the two-line update is always there


@needs_checkout
def test_single_output_two_line_update_without_its_factor_2_is_refused(scripts, monkeypatch):
    timing, peers, report, run = scripts
    w = _workload("single-75kx100")
    W, X, Y = w.problem
    lr, n = w.options["learning_rate"], X.shape[0]

    def missing_2():
        Wv = W[0].copy()
        for _ in range(w.n):
            Wv -= lr / n * (X.T @ (X @ Wv - Y[:, 0]))
        return Wv.reshape(1, -1)

    _only_candidates(monkeypatch, peers, [("numpy", lambda: peers.PeerCall(
        "numpy", missing_2, w.n, peers._checked_against(w, missing_2, w.n)))])
    good, failed = peers.checked_calls(w, None, 0)
    assert not good and failed["numpy"]["note"].startswith("mismatch")


@needs_checkout
def test_table_gives_min_spread_and_ratios_per_contender(scripts):
    report = scripts[2]
    peers = scripts[1]
    row = {"workload": "seed", "dtype": "float64", "gdfast_ns": 30.0, "gdfast_min_ns": 29.0, "gdfast_max_ns": 60.0,
           "reference_ns": 3000.0, "reference_min_ns": 2900.0, "reference_max_ns": 6000.0, "ratio": 100.0,
           "ratio_min": 90.0, "ratio_max": 110.0, "repeats": 3, "note": "",
           "peers": {"c_limit": peers.entry([20.0, 21.0, 40.0], 10, gdfast_ns=[30.0, 29.0, 60.0]),
                     "jax": peers.entry(ok=False, note="mismatch: final weights differ")}}
    table = report.markdown_table({"rows": [row], "memory": []})
    assert "| seed | float64 | **gdfast** | 29.0 ns | 29.0 ns – 60.0 ns | 1 |" in table
    assert "| 100.00x (90.00–110.00) |" in table
    assert "| seed | float64 | C loop -O3 (limit) | 20.0 ns | 20.0 ns – 40.0 ns | 0.67x (0.67–0.72) |" in table
    assert "| seed | float64 | JAX | mismatch | – | – |" in table


@needs_checkout
def test_run_json_names_the_machine_date_load_and_command(scripts, monkeypatch, tmp_path):
    # --json writes what the gallery's benchmark example quotes about where and when it was measured
    run = scripts[3]
    monkeypatch.setattr(bench, "QUICK", TINY)
    monkeypatch.setitem(run.MEMORY_N, True, 2_000)
    path = tmp_path / "sub" / "results.json"
    argv = ["--quick", "--no-peers", "--dtype", "float64", "--threads", "1", "--json", str(path), "-o",
            str(tmp_path / "out")]
    assert run.main(argv) == 0
    results = json.loads(path.read_text())
    assert results["command"] == "python benchmarks/run.py " + " ".join(argv)
    assert results["cpu"] and results["cpu_count"] == os.cpu_count() and results["platform"]
    assert len(results["loadavg_before"]) == 3 and len(results["loadavg"]) == 3
    import datetime
    measured = datetime.datetime.fromisoformat(results["date"])
    assert measured.utcoffset() == datetime.timedelta(0)
    assert abs((datetime.datetime.now(datetime.timezone.utc) - measured).total_seconds()) < 600
    assert [r["workload"] for r in results["rows"]][:2] == ["seed", "batch-4"]
    assert json.loads((tmp_path / "out" / "benchmark.json").read_text())["date"] == results["date"]


@needs_checkout
@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2
                    or not os.path.exists("/proc/thread-self/comm"),
                    reason="needs Linux thread affinity and names, and two CPUs")
def test_one_cpu_pins_this_thread_and_xlas_pools_and_gives_the_cpus_back(scripts):
    import threading

    timing = scripts[0]
    before = os.sched_getaffinity(0)
    seen, events = {}, {key: threading.Event() for key in ("other", "tf_pool", "late")}
    stop = threading.Event()

    def worker(key):
        # "tf_pool" plays an XLA pool thread (their names start with tf_), "other" a library's
        # worker started before the block, "late" a thread the pinned thread starts in the block
        if key == "tf_pool":
            with open("/proc/thread-self/comm", "w") as fh:
                fh.write("tf_pool")
        seen[key] = os.sched_getaffinity(0)
        events[key].set()
        stop.wait(30)
        seen[key + " at the end"] = os.sched_getaffinity(0)

    threads = {key: threading.Thread(target=worker, args=(key,)) for key in events}
    for key in ("other", "tf_pool"):
        threads[key].start()
        events[key].wait(30)
    with timing.one_cpu() as pinned:
        assert pinned and len(os.sched_getaffinity(0)) == 1
        threads["late"].start()
        events["late"].wait(30)
        now = {key: os.sched_getaffinity(threads[key].native_id) for key in ("other", "tf_pool")}
    stop.set()
    for t in threads.values():
        t.join(30)
    assert len(now["tf_pool"]) == 1 and now["tf_pool"] == seen["late"]
    assert now["other"] == before == seen["other"] == seen["tf_pool"]
    assert all(seen[key + " at the end"] == before for key in events) and os.sched_getaffinity(0) == before
