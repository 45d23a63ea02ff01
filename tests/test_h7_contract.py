"""The Cython/Python contract has one source: src/gdfast/_contract.pxd.

Its ``cpdef enum``s reach Python through the compiled module ``gdfast._contract``; these tests check
that every Python-side code is the enum member it names, that the slot numbers are a dense range,
that ``TrainOptions.kernel_config`` gives exactly the fields of the ``TrainConfig`` struct for every
optimizer and schedule class, and that no number of the contract is typed again in Python.
The expected names below are written by hand here (the oracle), not read from the code under test.
"""
import ast
import enum
import re
from pathlib import Path

import numpy as np
import pytest

import gdfast
from gdfast import _contract, _train, functions, optimizers, schedules
from gdfast._engine import ACCUMULATE, LOSS_ALIASES, LOSSES, MARGIN_LOSSES, STATUS_NAMES, TrainOptions, TrainState

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gdfast"
SOURCES = ROOT / "src"
# The tests below that read the checkout's sources skip in the installed-wheel run (tests alone).
needs_source = pytest.mark.skipif(not (ROOT / "setup.py").exists(), reason="reads the source checkout")

# Class -> the enum member that names its kernel branch (by hand).
OPTIMIZER_MEMBERS = {
    optimizers.SGD: "OPT_SGD",
    optimizers.Adam: "OPT_ADAM",
    optimizers.AdamW: "OPT_ADAM",  # Adam with decoupled weight decay, the same kernel branch
    optimizers.RMSprop: "OPT_RMSPROP",
    optimizers.Adagrad: "OPT_ADAGRAD",
    optimizers.NAdam: "OPT_NADAM",
    optimizers.RAdam: "OPT_RADAM",
    optimizers.Adamax: "OPT_ADAMAX",
}
SCHEDULE_MEMBERS = {
    schedules.Constant: "SCHEDULE_CONSTANT",
    schedules.ExponentialDecay: "SCHEDULE_EXPONENTIAL",
    schedules.StepDecay: "SCHEDULE_STEP",
    schedules.InverseScaling: "SCHEDULE_INVSCALING",
    schedules.CosineAnnealing: "SCHEDULE_COSINE",
    schedules.PerUpdate: "SCHEDULE_TABLE",
}
OBJECTIVE_MEMBERS = {
    functions.QuadraticForm: "OBJ_QUADRATIC_FORM",
    functions.Rosenbrock: "OBJ_ROSENBROCK",
    functions.Beale: "OBJ_BEALE",
    functions.Himmelblau: "OBJ_HIMMELBLAU",
    functions.Booth: "OBJ_BOOTH",
    functions.Rastrigin: "OBJ_RASTRIGIN",
    functions.StyblinskiTang: "OBJ_STYBLINSKI_TANG",
}
STATUS_MEMBERS = {
    "max_iter": "STATUS_RUNNING",
    "converged": "STATUS_CONVERGED",
    "no_improvement": "STATUS_NO_IMPROVEMENT",
    "diverged": "STATUS_DIVERGED",
    "interrupted": "STATUS_INTERRUPTED",
}
# The fields of a run's record (the RunRecord struct) and their NumPy types, by hand.
RECORD_FIELDS = {
    "step": "i8", "current": "i8", "position": "i8", "epoch": "i8", "no_improvement": "i8", "best_step": "i8",
    "rng": "u8", "status": "i8", "history_origin": "i8", "epoch_origin": "i8", "recorded": "i8",
    "epochs_recorded": "i8", "best_loss": "f8", "first_loss": "f8", "epoch_loss_sum": "f8", "epoch_samples": "f8",
    "last_loss": "f8", "last_grad_norm": "f8", "mu_product": "f8", "l1_total": "f8", "averaged": "i8",
}
ENUMS = ["LossCode", "OptimizerCode", "ScheduleCode", "AccumulateCode", "ReductionCode", "Status", "ObjectiveCode"]
N_SAMPLES = 10


def _all_subclasses(cls):
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _all_subclasses(sub)
    return found


def _schedule_instance(cls):
    return cls(np.full(1000, 0.01)) if cls is schedules.PerUpdate else cls()


@pytest.mark.parametrize("name", ENUMS)
def test_codes_are_int_enums_of_the_compiled_module(name):
    codes = getattr(_contract, name)
    assert issubclass(codes, enum.IntEnum)
    assert len(set(codes)) == len(codes.__members__)  # no aliases: each code means one thing
    assert codes.__module__ == "gdfast._contract"


def test_every_optimizer_class_has_the_code_of_its_kernel_branch():
    assert _all_subclasses(optimizers.Optimizer) == set(OPTIMIZER_MEMBERS), "add the new class to this test"
    for cls, member in OPTIMIZER_MEMBERS.items():
        assert cls._code is _contract.OptimizerCode[member], cls.__name__
    assert set(OPTIMIZER_MEMBERS.values()) == set(_contract.OptimizerCode.__members__)


def test_every_objective_class_has_the_code_of_its_kernel_branch():
    # (the package's classes: tests define subclasses of their own, which run in Python)
    package_classes = {cls for cls in _all_subclasses(functions.Objective) if cls.__module__ == "gdfast.functions"}
    assert package_classes == set(OBJECTIVE_MEMBERS), "add the new class to this test"
    for cls, member in OBJECTIVE_MEMBERS.items():
        assert cls._code is _contract.ObjectiveCode[member], cls.__name__
    # every code but a user's C function (gdfast.descend's scipy.LowLevelCallable) is a class
    assert set(OBJECTIVE_MEMBERS.values()) | {"OBJ_CALLBACK"} == set(_contract.ObjectiveCode.__members__)


def test_every_schedule_class_has_the_code_of_its_kernel_branch():
    assert _all_subclasses(schedules.Schedule) == set(SCHEDULE_MEMBERS), "add the new class to this test"
    for cls, member in SCHEDULE_MEMBERS.items():
        assert cls._code is _contract.ScheduleCode[member], cls.__name__
    assert set(SCHEDULE_MEMBERS.values()) == set(_contract.ScheduleCode.__members__)
    # The base class (a constant learning rate if used as is) takes the constant branch.
    assert schedules.Schedule._code is _contract.ScheduleCode.SCHEDULE_CONSTANT


def test_loss_names_map_to_their_codes():
    assert {name: code.name for name, code in LOSSES.items()} == {
        "mse": "LOSS_MSE", "mae": "LOSS_MAE", "huber": "LOSS_HUBER",
        "epsilon_insensitive": "LOSS_EPSILON_INSENSITIVE",
        "squared_epsilon_insensitive": "LOSS_SQUARED_EPSILON_INSENSITIVE",
        "log_loss": "LOSS_LOG", "hinge": "LOSS_HINGE", "squared_hinge": "LOSS_SQUARED_HINGE",
        "modified_huber": "LOSS_MODIFIED_HUBER", "perceptron": "LOSS_PERCEPTRON",
        "multinomial": "LOSS_MULTINOMIAL"}
    assert all(type(code) is _contract.LossCode for code in LOSSES.values())
    assert len(LOSSES) == len(_contract.LossCode)


def test_accumulate_names_map_to_their_codes():
    assert {name: code.name for name, code in ACCUMULATE.items()} == {
        "float64": "ACCUMULATE_FLOAT64", "float32": "ACCUMULATE_FLOAT32"}
    assert all(type(code) is _contract.AccumulateCode for code in ACCUMULATE.values())
    assert len(ACCUMULATE) == len(_contract.AccumulateCode)
    assert TrainOptions.from_kwargs().kernel_config(N_SAMPLES)["accumulate"] is ACCUMULATE["float64"]
def test_the_margin_losses_are_the_codes_from_loss_log_to_loss_perceptron():
    """The kernel's is_margin_loss is ``LOSS_LOG <= kind <= LOSS_PERCEPTRON``: the binary classification
    codes must be those, together; LOSS_MULTINOMIAL (a row loss) is not one of them."""
    assert MARGIN_LOSSES == {"log_loss", "hinge", "squared_hinge", "modified_huber", "perceptron"}
    code = _contract.LossCode
    assert all((code.LOSS_LOG <= LOSSES[name] <= code.LOSS_PERCEPTRON) == (name in MARGIN_LOSSES) for name in LOSSES)
    assert "multinomial" not in MARGIN_LOSSES
    assert set(LOSS_ALIASES.values()) <= set(LOSSES) and not set(LOSS_ALIASES) & set(LOSSES)


def test_status_names_map_to_their_codes():
    assert {name: _contract.Status(code).name for code, name in STATUS_NAMES.items()} == STATUS_MEMBERS
    assert len(STATUS_NAMES) == len(_contract.Status)


def test_the_record_dtype_is_the_struct():
    dtype = _contract.RECORD_DTYPE
    assert {name: dtype[name].str[1:] for name in dtype.names} == RECORD_FIELDS
    assert dtype.itemsize == 8 * len(RECORD_FIELDS)  # packed: no padding anywhere
    # No slot numbers are left in the contract: fields are read by name only.
    assert not [n for n in dir(_contract) if n[:2] in ("C_", "S_") or n.startswith("N_")]


def test_the_kernel_refuses_records_of_another_layout():
    """Cython checks the buffer format of the records against the struct, field by field."""
    r = gdfast.train(np.zeros((1, 2)), np.ones((3, 2)), np.ones((3, 1)), num_iterations=1, seed=0)
    cfg = TrainOptions.from_kwargs().kernel_config(3)
    X, Y = np.ones((3, 2)), np.ones((3, 1))
    swapped = np.dtype([(n, "<f8" if t == "i8" else "<i8") if n == "step" else (n, "<" + t)
                        for n, t in RECORD_FIELDS.items()])
    records = np.zeros(1, dtype=swapped)
    with pytest.raises(ValueError, match="dtype|mismatch|format"):
        _train.advance_runs([cfg], X, Y, None, False, records, r.state.params[None].copy(),
                            r.state.opt_state[None].copy(), r.state.perm[None].copy(), np.zeros((1, 4)),
                            np.zeros((1, 4)), np.ones(1, dtype=np.int64), 1)


def test_a_new_state_has_a_fresh_record():
    W = np.zeros((1, 2))
    state = TrainState.new(W, None, N_SAMPLES, TrainOptions.from_kwargs(), seed=5)
    assert state.record.shape == () and state.record.dtype == _contract.RECORD_DTYPE
    assert (state.step, state.epoch, int(state.record["rng"]), int(state.record["best_step"])) == (0, 0, 5, -1)
    assert state.record["best_loss"] == np.inf and np.isnan(state.record["first_loss"])


def test_config_fields_are_the_struct_fields():
    fields = _contract.config_fields()
    assert isinstance(fields, tuple) and len(set(fields)) == len(fields)
    # A few fields every kernel reads, by hand (the struct declares 38; momentum_decay is NAdam's,
    # l2_penalty and l1_penalty the penalty's, reduction the objective's weighting, average averaged SGD's).
    assert {"loss", "optimizer", "schedule", "learning_rate", "batch_size", "restore_best", "accumulate"} <= set(fields)
    assert len(fields) == 39
    assert {"momentum_decay", "l2_penalty", "l1_penalty", "reduction", "average"} <= set(fields)


@pytest.mark.parametrize("optimizer", list(OPTIMIZER_MEMBERS), ids=lambda c: c.__name__)
@pytest.mark.parametrize("schedule", list(SCHEDULE_MEMBERS), ids=lambda c: c.__name__)
def test_kernel_config_has_exactly_the_struct_fields(optimizer, schedule):
    options = TrainOptions.from_kwargs(optimizer=optimizer(), schedule=_schedule_instance(schedule),
                                       batch_size=3, clip_norm=1.0, grad_tol=1e-9)
    cfg = options.kernel_config(N_SAMPLES)
    assert sorted(cfg) == sorted(_contract.config_fields())
    assert cfg["optimizer"] == _contract.OptimizerCode[OPTIMIZER_MEMBERS[optimizer]]
    assert cfg["schedule"] == _contract.ScheduleCode[SCHEDULE_MEMBERS[schedule]]
    # The compiled module takes it as its struct.
    assert _train.run_uses_blas(cfg, N_SAMPLES, 2, 1) in (True, False)


def test_the_kernel_refuses_a_config_without_a_field():
    cfg = TrainOptions.from_kwargs().kernel_config(N_SAMPLES)
    del cfg["restore_best"]
    with pytest.raises(ValueError, match="restore_best"):
        _train.run_uses_blas(cfg, N_SAMPLES, 2, 1)


@needs_source
def test_the_stub_names_the_compiled_members():
    """gdfast/_contract.pyi (for mypy) declares the same enums and members as the compiled module."""
    tree = ast.parse((PACKAGE / "_contract.pyi").read_text(encoding="utf-8"))
    stub_enums = {node.targets[0].id: node.value.args[1].value.split()
                  for node in tree.body
                  if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                  and getattr(node.value.func, "id", None) == "IntEnum"}
    assert stub_enums == {name: list(getattr(_contract, name).__members__) for name in ENUMS}


def _python_sources():
    return sorted(PACKAGE.glob("*.py"))


@needs_source
def test_no_code_or_slot_number_is_typed_in_python():
    """Codes and slots are used by name: no ``_code = 3``, ``counters[2]``, ``scalars[3]`` or
    ``counters[C_STATUS] = 0`` in the package (the numbers live in src/gdfast/_contract.pxd only)."""
    patterns = [
        re.compile(r"\b_code\s*=\s*\d"),
        re.compile(r"\b(counters|scalars)\[[^\]]*?\b\d+\s*\]"),
        re.compile(r"\bC_STATUS\]\s*(=|==|!=)\s*\d"),
        re.compile(r"\bstatus\s*(=|==|!=)\s*\d"),
        re.compile(r"\[\"status\"\]\s*(=|==|!=)\s*\d"),
    ]
    offending = [f"{path.name}:{lineno}: {line.strip()}"
                 for path in _python_sources()
                 for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if any(p.search(line) for p in patterns)]
    assert offending == []


@needs_source
def test_the_kernels_declare_no_code_of_their_own():
    """Only src/gdfast/_contract.pxd declares codes and slots; the kernel sources cimport them."""
    declared = re.compile(r"^\s*(LOSS|OPT|SCHEDULE|STATUS|C|S)_[A-Z_]+\s*=", re.MULTILINE)
    for path in sorted(SOURCES.glob("*.p*")):
        assert not declared.search(path.read_text(encoding="utf-8")), path.name
        assert "cdef struct TrainConfig" not in path.read_text(encoding="utf-8"), path.name
        assert "struct RunRecord" not in path.read_text(encoding="utf-8"), path.name


@needs_source
def test_source_comments_point_to_files_that_exist():
    """A path like gdfast/foo.py or src/foo.pyx named in a kernel source or the package exists."""
    mentioned = set()
    for path in [*SOURCES.rglob("*.p*"), *_python_sources()]:
        mentioned |= set(re.findall(r"\b((?:gdfast|src)/[\w/.]+\.(?:py|pyx|pxd|pyi))\b",
                                    path.read_text(encoding="utf-8")))
    missing = sorted(p for p in mentioned if not (ROOT / p).exists())
    assert missing == []


@needs_source
def test_setup_defines_only_macros_that_the_sources_read():
    setup = (ROOT / "setup.py").read_text(encoding="utf-8")
    kernels = "".join(p.read_text(encoding="utf-8") for p in SOURCES.rglob("*.p*"))
    for macro in re.findall(r'\(\s*"(GDFAST_\w+)"\s*,', setup):
        assert macro in kernels, f"setup.py defines {macro}, which no source in src/ reads"


def test_train_still_reports_its_status_by_name():
    from gdfast.lesson import INPUT, TARGET, W1
    result = gdfast.train(W1, INPUT, TARGET, learning_rate=0.01, num_iterations=3)
    assert result.status == "max_iter" and isinstance(result.status, str)
