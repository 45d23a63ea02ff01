"""The benchmark suite's plumbing (no timings are asserted: speed lives in benchmarks/, not here).

One tiny workload is run for real so the agreement checks between gdfast, the NumPy reference and
the peers are exercised; the report functions are checked on that result.
"""
import json

import numpy as np
import pytest

from gdfast import bench, cli

TINY = dict(bench.QUICK, repeats=1, ref_repeats=1, seed_n=2_000, seed_n_ref=200, slow_peer_n=100,
            quad_n=2_000, quad_n_ref=200, lat_repeats=1, lat_time=0.001)


def test_cli_has_bench():
    args = cli.build_parser().parse_args(["bench", "--quick", "--no-peers", "-o", "x"])
    assert args.quick and args.no_peers and args.output == "x"


def test_tiny_suite_and_reports(tmp_path):
    peers = bench.Peers(enabled=False)
    rows = [bench.bench_seed(np.float64, TINY, peers), bench.bench_quad1d(np.float32, TINY, peers)]
    rows += bench.bench_latency(np.float64, TINY)
    for r in rows:
        assert r["gdfast_ns"] > 0 and r["reference_ns"] > 0
        assert r["ratio"] == pytest.approx(r["reference_ns"] / r["gdfast_ns"])
    results = {"rows": rows, "memory": [], "quick": True, "peer_notes": peers.notes, "gdfast_version": "x",
               "loadavg": (0.5, 0.5, 0.5), "cpu_count": 2}
    table = bench.markdown_table(results)
    assert table.count("\n| seed | float64 |") == 1 and "latency update" in table
    assert "peers disabled" in bench.notes_text(results) or not peers.notes
    bench.bar_chart(results, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").stat().st_size > 1000
    json.dumps(results)


def test_peer_check_rejects_a_different_computation():
    row = bench._row("x", "float64", 1.0, 2.0, 1, 1)
    W = np.ones((2, 2))
    bench._time_peer(row, "wrong", lambda: W * 1.001, 10, W, "float64", 1)
    bench._time_peer(row, "right", lambda: W.copy(), 10, W, "float64", 1)
    assert not row["peers"]["wrong"]["ok"] and row["peers"]["wrong"]["ns"] is None
    assert row["peers"]["right"]["ok"] and row["peers"]["right"]["ns"] > 0


def test_update_readme(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{bench.START}\nold table\n{bench.END}\noutro\n")
    bench.update_readme(readme, "| new |")
    assert readme.read_text() == f"intro\n{bench.START}\n| new |\n{bench.END}\noutro\n"
    readme.write_text("no markers")
    with pytest.raises(SystemExit):
        bench.update_readme(readme, "x")


def test_from_json_rebuilds_reports_without_running(tmp_path):
    peers = bench.Peers(enabled=False)
    rows = bench.bench_latency(np.float64, TINY)
    results = {"rows": rows, "memory": [], "quick": True, "peer_notes": peers.notes, "gdfast_version": "x",
               "loadavg": None, "cpu_count": 2, "seconds": 1.0}
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps(results))
    readme = tmp_path / "README.md"
    readme.write_text(f"{bench.START}\n{bench.END}\n")
    out = tmp_path / "out"
    assert bench.main(["--from-json", str(saved), "--readme", str(readme), "-o", str(out)]) == 0
    assert "latency predict" in readme.read_text()
    assert (out / "benchmark.png").exists() and (out / "benchmark.md").exists()
