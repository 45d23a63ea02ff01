"""The ``gdfast`` command line: help, version, exit codes, --output (in-process and via python -m)."""
import os
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest

import gdfast
from gdfast import lesson
from gdfast.cli import build_parser, main


def _run_module(*args, cwd=None):
    """``python -m gdfast ARGS`` in a subprocess, importing the same gdfast as this test session."""
    env = dict(os.environ)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(gdfast.__file__)))
    env["PYTHONPATH"] = package_parent + os.pathsep + env.get("PYTHONPATH", "")
    env["MPLBACKEND"] = "Agg"
    return subprocess.run([sys.executable, "-m", "gdfast", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd, env=env)


def _subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sorted(action.choices)


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    commands = _subcommands()
    assert {"demo", "info"} <= set(commands)
    for name in commands:
        assert f"    {name} " in out or f"    {name}\n" in out, name


@pytest.mark.parametrize("command", _subcommands())
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: gdfast {command}")


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"gdfast {gdfast.__version__}"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["bogus"], "invalid choice: 'bogus'"),
        (["demo", "--iterations", "0"], "argument --iterations: expected an integer >= 1, got '0'"),
        (["demo", "--iterations", "many"], "argument --iterations: expected an integer, got 'many'"),
        (["demo", "--learning-rate", "-0.1"], "argument --learning-rate: expected a finite number > 0"),
        (["demo", "--learning-rate", "nan"], "argument --learning-rate: expected a finite number > 0"),
        (["demo", "--no-such-option"], "unrecognized arguments: --no-such-option"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("gdfast") and ": error: " in last and message in last


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage: gdfast" in capsys.readouterr().err


def test_demo_writes_its_files_under_output(tmp_path, capsys):
    out_dir = tmp_path / "nested" / "out"
    assert main(["demo", "--output", str(out_dir), "--iterations", "2000", "--reference-iterations", "200"]) == 0
    text = capsys.readouterr().out
    for name in ("descent_1d.png", "loss_curve.png", "optimizer_race.png"):
        image = plt.imread(out_dir / name)
        assert image.shape[0] > 100 and image.shape[1] > 100
        assert image[..., :3].std() > 0.05  # a drawing, not a blank canvas
    # The lesson's numbers (computed by gdfast.lesson, checked against the notebook in test_lessons).
    step = lesson.one_update(0.03)
    assert f"initial loss          = {step['loss']:.6f}" in text
    assert f"loss after one update = {step['new_loss']:.6f}" in text
    assert "15.199" in text and "1.102" in text
    assert "step 20: x =  -1.861" in text   # columns aligned: x = 10.0 and x = -1.86 end at one place
    assert not (out_dir / "optimizer_race.gif").exists()  # only with --animate
    # The race's Adam line: its end point is the same descend call's (the kernel computes the race).
    from gdfast.functions import Rosenbrock
    f = Rosenbrock()
    adam = gdfast.descend(f.gradient, [-1.5, 2.0], function=f, optimizer="adam", learning_rate=0.02,
                          num_iterations=2000)
    assert f"Adam          lr 0.02   : x = ({adam.x[-1][0]:8.5f}, {adam.x[-1][1]:8.5f})" in text
    assert np.linalg.norm(adam.x[-1] - 1.0) < 0.02  # Adam wins the race: near the minimum (1, 1)


def test_demo_animate_saves_the_race_as_a_gif(tmp_path, capsys):
    from PIL import Image

    assert main(["demo", "--output", str(tmp_path), "--iterations", "1000", "--reference-iterations", "100",
                 "--animate"]) == 0
    with Image.open(tmp_path / "optimizer_race.gif") as gif:
        assert gif.n_frames > 10


def test_demo_output_that_cannot_be_created_exits_1(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    code = main(["demo", "--output", str(blocker / "sub"), "--iterations", "10", "--reference-iterations", "10"])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("gdfast demo: error:") and "Traceback" not in err


def test_info(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"gdfast {gdfast.__version__}") and "openmp" in out


def test_python_dash_m_gdfast(tmp_path):
    r = _run_module("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"gdfast {gdfast.__version__}"
    r = _run_module("--help")
    assert r.returncode == 0 and "demo" in r.stdout and "info" in r.stdout
    r = _run_module("demo", "--iterations", "-5")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("gdfast demo: error: argument --iterations")
    r = _run_module("demo", "-o", "plots", "--iterations", "1000", "--reference-iterations", "100", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(tmp_path / "plots")) == ["descent_1d.png", "loss_curve.png", "optimizer_race.png"]


# --- issue 11: help texts, the subcommand's own usage, aligned columns, honest estimates, full paths ---

@pytest.mark.parametrize("command", _subcommands())
def test_every_subcommand_has_a_description_and_every_option_a_help(command):
    parser = build_parser()
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    sub = action.choices[command]
    assert sub.description, f"gdfast {command} --help has no description"
    for opt in sub._actions:
        assert opt.help, f"gdfast {command} {'/'.join(opt.option_strings)} has no help"


@pytest.mark.parametrize("command", ["demo", "info", "bench"])
def test_unknown_option_of_a_subcommand_prints_that_subcommands_usage(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--bogus"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: gdfast {command}"), err
    assert f"gdfast {command}: error: unrecognized arguments: --bogus" in err


def test_demo_columns_are_aligned_and_the_reference_time_says_it_is_estimated(tmp_path, capsys):
    assert main(["demo", "--output", str(tmp_path), "--iterations", "5000", "--reference-iterations", "1000"]) == 0
    out = capsys.readouterr().out
    steps = [line for line in out.splitlines() if line.startswith("  step ")]
    assert len(steps) == 6
    # every "x =" and "f(x) =" column starts and ends at the same place on every line
    assert len({line.index("f(x)") for line in steps}) == 1
    assert len({len(line) for line in steps}) == 1
    ref = next(line for line in out.splitlines() if "gdfast.reference.train" in line)
    assert "estimated from 1,000 iterations" in ref
    for line in out.splitlines():
        if ": /" in line or line.strip().startswith(("plot:", "loss curve:")):
            path = line.split(": ", 1)[1]
            assert os.path.isabs(path) and os.path.exists(path), line


def test_demo_reference_timed_over_all_iterations_is_not_called_estimated(tmp_path, capsys):
    assert main(["demo", "--output", str(tmp_path), "--iterations", "1000", "--reference-iterations", "1000"]) == 0
    ref = next(line for line in capsys.readouterr().out.splitlines() if "gdfast.reference.train" in line)
    assert "estimated" not in ref


def test_bench_wrote_line_names_every_file_by_its_full_path(tmp_path, capsys, monkeypatch):
    # The report writers live in the source checkout's benchmarks/ (python benchmarks/run.py).
    benchmarks = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(gdfast.__file__))), "benchmarks")
    if not os.path.isfile(os.path.join(benchmarks, "run.py")):
        pytest.skip("benchmarks/ is in the source checkout only")
    monkeypatch.syspath_prepend(benchmarks)
    import run as bench

    results = {"rows": [], "memory": [], "quick": True, "peer_notes": {}, "seconds": 1.0,
               "gdfast_version": gdfast.__version__, "cpu_count": 2}
    json_in = tmp_path / "in.json"
    import json

    json_in.write_text(json.dumps(results))
    try:
        bench.main(["--from-json", str(json_in), "--output", str(tmp_path / "out"), "--chart",
                    str(tmp_path / "chart.png")])
    except Exception as exc:  # an empty result set may not draw; the path line is what is tested
        pytest.skip(f"bench cannot render an empty result set here: {exc}")
    wrote = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("wrote "))
    paths = wrote[len("wrote "):].rsplit(" (", 1)[0].split(", ")
    assert len(paths) == 4
    for path in paths:
        assert os.path.isabs(path) and os.path.exists(path), path
