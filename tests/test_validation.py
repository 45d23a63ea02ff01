"""Bad input: every public function refuses it with a ValueError/TypeError that names the argument
(and what was expected); inputs are never modified; ``out=`` works and may alias W.

Each row is (call, exception type, regex the message must match). The regexes name the argument
and, where there is one, the expected value or range.
"""
import re

import numpy as np
import pytest

import gdfast
from gdfast import reference, schedules
from gdfast.optimizers import OPTIMIZERS
from gdfast.schedules import SCHEDULES

rng0 = np.random.default_rng(0)
W = rng0.standard_normal((3, 4))
X = rng0.standard_normal((6, 4))
Y = rng0.standard_normal((6, 3))
x1 = rng0.standard_normal(4)
y1 = rng0.standard_normal(3)


def with_value(a, index, value):
    b = np.array(a, dtype=np.float64, copy=True)
    b.reshape(-1)[index] = value
    return b


NAN_W, INF_X, NAN_Y = with_value(W, 5, np.nan), with_value(X, 0, np.inf), with_value(Y, -1, -np.inf)

# Wrong arrays shared by every (W, X[, Y]) function: (label, args, exception, message regex).
ARRAY_CASES = [
    ("W 3-D", (W[None], X, Y), ValueError, r"\bW\b.*2-D"),
    ("W 0-d", (np.float64(1.0), X, Y), ValueError, r"\bW\b.*2-D"),
    ("X 3-D", (W, X[None], Y), ValueError, r"\bX\b.*1-D or 2-D"),
    ("X 0-d", (W, 1.0, Y), ValueError, r"\bX\b.*1-D or 2-D"),
    ("X wrong n_features", (W, X[:, :3], Y), ValueError, r"\bX\b.*n_features"),
    ("x wrong length", (W, x1[:3], y1), ValueError, r"\bX\b.*n_features"),
    ("W empty", (np.empty((0, 4)), X, Y), ValueError, r"\bW\b.*empty"),
    ("X empty", (W, np.empty((0, 4)), np.empty((0, 3))), ValueError, r"\bX\b.*empty"),
    ("W NaN", (NAN_W, X, Y), ValueError, r"\bW\b.*NaN or infinity"),
    ("X inf", (W, INF_X, Y), ValueError, r"\bX\b.*NaN or infinity"),
    ("W complex", (W.astype(complex), X, Y), TypeError, r"\bW\b.*real numbers"),
    ("X object", (W, X.astype(object), Y), TypeError, r"\bX\b.*real numbers"),
    ("X strings", (W, X.astype(str), Y), TypeError, r"\bX\b.*real numbers"),
    ("W ragged", ([[1.0, 2.0], [3.0]], X, Y), TypeError, r"\bW\b"),
    ("W None", (None, X, Y), TypeError, r"\bW\b"),
    ("W float128", (W.astype(np.longdouble), X, Y), TypeError, r"float32 or float64.*\bW\b")
    if np.dtype(np.longdouble).itemsize > 8 else ("W float64 twice", (W, X, Y), None, None),
]
Y_CASES = [
    ("Y wrong n_outputs", (W, X, Y[:, :2]), ValueError, r"\bY\b.*shape \(6, 3\)"),
    ("Y wrong n_samples", (W, X, Y[:5]), ValueError, r"\bY\b.*shape \(6, 3\)"),
    ("Y 1-D for a batch", (W, X, Y[:, 0]), ValueError, r"\bY\b.*shape \(6, 3\)"),
    ("Y 2-D for one sample", (W, x1, Y), ValueError, r"\bY\b.*shape \(3,\)"),
    ("W 1-D (one output) with a 2-D Y", (W[0], X, Y), ValueError, r"\bY\b must have shape \(6,\)"),
    ("Y NaN", (W, X, NAN_Y), ValueError, r"\bY\b.*NaN or infinity"),
    ("Y empty", (W, x1, np.empty(0)), ValueError, r"\bY\b"),
    ("Y complex", (W, X, Y.astype(complex)), TypeError, r"\bY\b.*real numbers"),
    ("Y None", (W, X, None), TypeError, r"\bY\b"),
]

MODEL_FUNCTIONS = {
    "predict": lambda W, X, Y: gdfast.predict(W, X),
    "reference.predict": lambda W, X, Y: reference.predict(W, X),
    "mse_gradient": gdfast.mse_gradient,
    "reference.mse_gradient": reference.mse_gradient,
    "train": lambda W, X, Y: gdfast.train(W, X, Y, num_iterations=2),
    "reference.train": lambda W, X, Y: reference.train(W, X, Y, num_iterations=2),
    "sweep": lambda W, X, Y: gdfast.sweep(W, X, Y, learning_rates=[0.1], num_iterations=2, n_threads=1),
}


def _expect(call, exc, pattern):
    if exc is None:
        call()
        return
    with pytest.raises(exc, match=pattern):
        call()


@pytest.mark.parametrize("label,args,exc,pattern", ARRAY_CASES, ids=[c[0] for c in ARRAY_CASES])
@pytest.mark.parametrize("name", list(MODEL_FUNCTIONS))
def test_bad_model_arrays(name, label, args, exc, pattern):
    fn = MODEL_FUNCTIONS[name]
    _expect(lambda: fn(*args), exc, pattern)


@pytest.mark.parametrize("label,args,exc,pattern", Y_CASES, ids=[c[0] for c in Y_CASES])
@pytest.mark.parametrize("name", [n for n in MODEL_FUNCTIONS if "predict" not in n])
def test_bad_targets(name, label, args, exc, pattern):
    fn = MODEL_FUNCTIONS[name]
    _expect(lambda: fn(*args), exc, pattern)


# --- mse ------------------------------------------------------------------------------------------

MSE_CASES = [
    ((np.ones(3), np.ones(4)), ValueError, r"prediction and target.*same shape"),
    ((np.ones((2, 3)), np.ones((3, 2))), ValueError, r"same shape"),
    ((np.ones(3), np.ones((3, 1))), ValueError, r"same shape"),  # no silent broadcasting
    ((np.empty(0), np.empty(0)), ValueError, r"prediction.*empty"),
    ((with_value(np.ones(3), 1, np.nan), np.ones(3)), ValueError, r"prediction.*NaN"),
    ((np.ones(3), with_value(np.ones(3), 2, np.inf)), ValueError, r"target.*NaN or infinity"),
    ((np.ones(3, complex), np.ones(3)), TypeError, r"prediction.*real numbers"),
    ((np.ones(3), np.array(["a", "b", "c"])), TypeError, r"target.*real numbers"),
    ((np.ones(3), None), TypeError, r"target"),
]


@pytest.mark.parametrize("fn", [gdfast.mse, reference.mse], ids=["kernel", "reference"])
@pytest.mark.parametrize("args,exc,pattern", MSE_CASES)
def test_bad_mse_input(fn, args, exc, pattern):
    _expect(lambda: fn(*args), exc, pattern)


# --- update -------------------------------------------------------------------------------------

UPDATE_CASES = [
    ((W, W, 0.0), ValueError, r"learning_rate must be > 0"),
    ((W, W, -0.1), ValueError, r"learning_rate must be > 0"),
    ((W, W, np.nan), ValueError, r"learning_rate must be finite"),
    ((W, W, np.inf), ValueError, r"learning_rate must be finite"),
    ((W, W, "0.1"), TypeError, r"learning_rate must be a real number"),
    ((W, W, None), TypeError, r"learning_rate must be a real number"),
    ((W, W, 1 + 2j), TypeError, r"learning_rate must be a real number"),
    ((W, W[:, :2], 0.1), ValueError, r"\bG\b.*scalar or have W's shape"),
    ((W, W.T, 0.1), ValueError, r"\bG\b.*W's shape"),
    ((W, NAN_W, 0.1), ValueError, r"\bG\b.*NaN or infinity"),
    ((NAN_W, W, 0.1), ValueError, r"\bW\b.*NaN or infinity"),
    ((W, np.nan, 0.1), ValueError, r"\bG\b.*NaN or infinity"),
    ((W, W.astype(complex), 0.1), TypeError, r"\bG\b.*real numbers"),
    ((np.float64(2.0), 1.0, 0.1), ValueError, r"\bW\b.*at least 1-D"),
    ((np.empty(0), np.empty(0), 0.1), ValueError, r"\bW\b.*empty"),
    ((W.astype(object), W, 0.1), TypeError, r"\bW\b.*real numbers"),
]


@pytest.mark.parametrize("fn", [gdfast.update, reference.update], ids=["kernel", "reference"])
@pytest.mark.parametrize("args,exc,pattern", UPDATE_CASES)
def test_bad_update_input(fn, args, exc, pattern):
    _expect(lambda: fn(*args), exc, pattern)


@pytest.mark.parametrize("fn", [gdfast.update, reference.update], ids=["kernel", "reference"])
def test_bad_update_out(fn):
    with pytest.raises(TypeError, match=r"\bout\b must be a NumPy array"):
        fn(W, W, 0.1, out=[[0.0] * 4] * 3)
    with pytest.raises(ValueError, match=r"\bout\b must have W's shape"):
        fn(W, W, 0.1, out=np.empty((4, 3)))
    with pytest.raises(TypeError, match=r"\bout\b must have the result's dtype float64"):
        fn(W, W, 0.1, out=np.empty((3, 4), np.float32))
    ro = np.empty((3, 4))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"\bout\b is read-only"):
        fn(W, W, 0.1, out=ro)


@pytest.mark.parametrize("fn", [gdfast.update, reference.update], ids=["kernel", "reference"])
@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_update_out_may_alias_W(fn, layout):
    W0 = np.arange(12.0).reshape(3, 4)
    G = np.ones((3, 4))
    if layout == "F":
        Wa = np.asfortranarray(W0)
    elif layout == "strided":
        Wa = np.zeros((6, 8))[::2, ::2]
        Wa[...] = W0
    else:
        Wa = W0.copy()
    res = fn(Wa, G, 0.5, out=Wa)
    assert res is Wa
    np.testing.assert_array_equal(Wa, W0 - 0.5)
    # a scalar G in place too
    fn(Wa, 2.0, 0.25, out=Wa)
    np.testing.assert_array_equal(Wa, W0 - 1.0)


@pytest.mark.parametrize("fn", [gdfast.update, reference.update], ids=["kernel", "reference"])
def test_update_out_may_alias_G(fn):
    W0, G = np.full((2, 2), 3.0), np.full((2, 2), 2.0)
    fn(W0, G, 1.0, out=G)
    np.testing.assert_array_equal(G, np.ones((2, 2)))
    np.testing.assert_array_equal(W0, np.full((2, 2), 3.0))


# --- train: scalar options ----------------------------------------------------------------------

TRAIN_OPTION_CASES = [
    (dict(learning_rate=0), ValueError, r"learning_rate must be > 0"),
    (dict(learning_rate=-1e-3), ValueError, r"learning_rate must be > 0"),
    (dict(learning_rate=float("nan")), ValueError, r"learning_rate must be finite"),
    (dict(learning_rate=float("inf")), ValueError, r"learning_rate must be finite"),
    (dict(learning_rate="fast"), TypeError, r"learning_rate must be a real number"),
    (dict(num_iterations=-1), ValueError, r"num_iterations must be >= 0"),
    (dict(num_iterations=2.5), TypeError, r"num_iterations must be an integer"),
    (dict(num_iterations=10.0), TypeError, r"num_iterations must be an integer"),
    (dict(num_iterations="10"), TypeError, r"num_iterations must be an integer"),
    (dict(num_iterations=True), TypeError, r"num_iterations must be an integer"),
    (dict(num_epochs=-2), ValueError, r"num_epochs must be >= 0"),
    (dict(num_epochs=1.5), TypeError, r"num_epochs must be an integer"),
    (dict(num_iterations=3, num_epochs=2), ValueError, r"num_iterations or num_epochs"),
    (dict(record_every=0), ValueError, r"record_every must be >= 1"),
    (dict(record_every=-5), ValueError, r"record_every must be >= 1"),
    (dict(record_every=1.0), TypeError, r"record_every must be an integer"),
    (dict(grad_tol=-1e-3), ValueError, r"grad_tol must be >= 0"),
    (dict(grad_tol=float("nan")), ValueError, r"grad_tol must be finite"),
    (dict(grad_tol="small"), TypeError, r"grad_tol must be a real number"),
    (dict(loss_tol=-1.0), ValueError, r"loss_tol must be >= 0"),
    (dict(n_iter_no_change=0), ValueError, r"n_iter_no_change must be >= 1"),
    (dict(huber_delta=0.0), ValueError, r"huber_delta must be > 0"),
    (dict(huber_delta=-1.0), ValueError, r"huber_delta must be > 0"),
    (dict(clip_norm=0.0), ValueError, r"clip_norm must be > 0"),
    (dict(clip_norm=float("inf")), ValueError, r"clip_norm must be finite"),
    (dict(batch_size=0), ValueError, r"batch_size must be >= 1"),
    (dict(batch_size=7), ValueError, r"batch_size must be <= n_samples = 6"),
    (dict(batch_size=2.0), TypeError, r"batch_size must be an integer"),
    (dict(seed=-1), ValueError, r"seed must be >= 0"),
    (dict(seed=2**64), ValueError, r"seed must be <= 18446744073709551615"),
    (dict(seed=1.5), TypeError, r"seed must be an integer"),
    (dict(fit_intercept=1), TypeError, r"fit_intercept must be True or False"),
    (dict(shuffle="yes"), TypeError, r"shuffle must be True or False"),
    (dict(progress=None), TypeError, r"progress must be True or False"),
    (dict(optimizer="adamaxx"), ValueError,
     r"unknown optimizer 'adamaxx'; valid names: adagrad, adam, adamax, adamw, nadam, radam, rmsprop, sgd"),
    (dict(optimizer=3), TypeError, r"optimizer must be a name \(adagrad, adam, adamax, adamw, nadam, radam, rmsprop, sgd\)"),
    (dict(loss="log"), ValueError, r"unknown loss 'log'; valid names: mse, mae, huber, epsilon_insensitive, "
     r"squared_epsilon_insensitive, log_loss, hinge, squared_hinge, modified_huber, perceptron, multinomial \(or "
     r"squared_error for mse, cross_entropy for multinomial\)"),
    (dict(loss="hinge"), ValueError, r"^Y must hold binary class labels for loss='hinge'"),
    (dict(loss=None), TypeError, r"loss must be one of mse, mae, huber"),
    (dict(schedule="linear"), ValueError,
     r"unknown schedule 'linear'; valid names: constant, cosine, exponential, invscaling, step"),
    (dict(schedule=0.5), TypeError, r"schedule must be a name"),
    (dict(momentum=0.9), TypeError, r"momentum"),
    (dict(sample_weight=np.ones(5)), ValueError, r"sample_weight must have shape \(6,\)"),
    (dict(sample_weight=-np.ones(6)), ValueError, r"sample_weight must be >= 0"),
    (dict(sample_weight=np.zeros(6)), ValueError, r"sample_weight.*at least one positive"),
    (dict(sample_weight=with_value(np.ones(6), 2, np.nan)), ValueError, r"sample_weight.*NaN"),
    (dict(sample_weight=np.ones((6, 1))), ValueError, r"sample_weight must be 1-D"),
    (dict(sample_weight=np.ones(6, complex)), TypeError, r"sample_weight.*real numbers"),
    (dict(state="previous"), TypeError, r"state must be a TrainState"),
]


@pytest.mark.parametrize("fn", [gdfast.train, reference.train], ids=["kernel", "reference"])
@pytest.mark.parametrize("options,exc,pattern", TRAIN_OPTION_CASES,
                         ids=[re.sub(r"\W", "_", repr(c[0]))[:40] for c in TRAIN_OPTION_CASES])
def test_bad_train_options(fn, options, exc, pattern):
    _expect(lambda: fn(W, X, Y, **options), exc, pattern)


def test_train_accepts_numpy_integer_options():
    r = gdfast.train(W, X, Y, num_iterations=np.int64(3), record_every=np.int32(2), batch_size=np.int16(2), seed=5)
    assert r.n_iter == 3


def test_unknown_names_are_listed_exactly():
    """The lists in the messages are the registries themselves (nothing valid is left out)."""
    with pytest.raises(ValueError) as e:
        gdfast.train(W, X, Y, optimizer="nope")
    assert all(name in str(e.value) for name in OPTIMIZERS)
    with pytest.raises(ValueError) as e:
        gdfast.train(W, X, Y, schedule="nope")
    assert all(name in str(e.value) for name in SCHEDULES)


def test_incompatible_state_is_refused():
    first = gdfast.train(W, X, Y, num_iterations=3, optimizer="adam", seed=0)
    with pytest.raises(ValueError, match=r"state was made with optimizer Adam"):
        gdfast.train(first.W, X, Y, num_iterations=3, optimizer="sgd", state=first.state)
    with pytest.raises(ValueError, match=r"state was made with .*fit_intercept=False"):
        gdfast.train(first.W, X, Y, num_iterations=3, optimizer="adam", fit_intercept=True, state=first.state)
    with pytest.raises(ValueError, match=r"state was trained on 6 samples"):
        gdfast.train(first.W, X[:5], Y[:5], num_iterations=3, optimizer="adam", state=first.state)
    with pytest.raises(ValueError, match=r"\bW\b differs from the state's current weights"):
        gdfast.train(W, X, Y, num_iterations=3, optimizer="adam", state=first.state)
    with pytest.raises(ValueError, match=r"state belongs to W of shape \(3, 4\) and dtype float64"):
        gdfast.train(first.W.astype(np.float32), X.astype(np.float32), Y.astype(np.float32), num_iterations=3,
                     optimizer="adam", state=first.state)


# --- optimizers and schedules -------------------------------------------------------------------

HYPER_CASES = [
    (gdfast.SGD, dict(momentum=-0.1), ValueError, r"momentum must be >= 0"),
    (gdfast.SGD, dict(momentum=float("nan")), ValueError, r"momentum must be finite"),
    (gdfast.SGD, dict(dampening=1.5), ValueError, r"dampening must be <= 1"),
    (gdfast.SGD, dict(dampening=-0.5), ValueError, r"dampening must be >= 0"),
    (gdfast.SGD, dict(weight_decay=-1e-4), ValueError, r"weight_decay must be >= 0"),
    (gdfast.SGD, dict(nesterov=True), ValueError, r"nesterov=True needs momentum > 0"),
    (gdfast.SGD, dict(nesterov=True, momentum=0.9, dampening=0.1), ValueError, r"nesterov.*dampening == 0"),
    (gdfast.SGD, dict(nesterov=1), TypeError, r"nesterov must be True or False"),
    (gdfast.SGD, dict(momentum="0.9"), TypeError, r"momentum must be a real number"),
    (gdfast.Adam, dict(beta1=1.0), ValueError, r"beta1 must be < 1"),
    (gdfast.Adam, dict(beta1=-0.1), ValueError, r"beta1 must be >= 0"),
    (gdfast.Adam, dict(beta2=1.0), ValueError, r"beta2 must be < 1"),
    (gdfast.Adam, dict(beta2=1.5), ValueError, r"beta2 must be < 1"),
    (gdfast.Adam, dict(eps=0.0), ValueError, r"eps must be > 0"),
    (gdfast.Adam, dict(eps=-1e-8), ValueError, r"eps must be > 0"),
    (gdfast.Adam, dict(weight_decay=-0.1), ValueError, r"weight_decay must be >= 0"),
    (gdfast.Adam, dict(amsgrad="no"), TypeError, r"amsgrad must be True or False"),
    (gdfast.AdamW, dict(beta1=1.0), ValueError, r"beta1 must be < 1"),
    (gdfast.AdamW, dict(beta2=-0.5), ValueError, r"beta2 must be >= 0"),
    (gdfast.AdamW, dict(eps=0), ValueError, r"eps must be > 0"),
    (gdfast.AdamW, dict(weight_decay=-0.01), ValueError, r"weight_decay must be >= 0"),
    (gdfast.RMSprop, dict(alpha=1.5), ValueError, r"alpha must be <= 1"),
    (gdfast.RMSprop, dict(alpha=-0.1), ValueError, r"alpha must be >= 0"),
    (gdfast.RMSprop, dict(eps=0.0), ValueError, r"eps must be > 0"),
    (gdfast.RMSprop, dict(momentum=-1.0), ValueError, r"momentum must be >= 0"),
    (gdfast.RMSprop, dict(weight_decay=-1.0), ValueError, r"weight_decay must be >= 0"),
    (gdfast.RMSprop, dict(centered=None), TypeError, r"centered must be True or False"),
    (gdfast.Adagrad, dict(eps=0.0), ValueError, r"eps must be > 0"),
    (gdfast.Adagrad, dict(lr_decay=-0.1), ValueError, r"lr_decay must be >= 0"),
    (gdfast.Adagrad, dict(weight_decay=-0.1), ValueError, r"weight_decay must be >= 0"),
    (gdfast.Adagrad, dict(initial_accumulator_value=-1.0), ValueError, r"initial_accumulator_value must be >= 0"),
    (gdfast.Adagrad, dict(eps=float("inf")), ValueError, r"eps must be finite"),
    (schedules.ExponentialDecay, dict(gamma=0.0), ValueError, r"gamma must be > 0"),
    (schedules.ExponentialDecay, dict(gamma=1.5), ValueError, r"gamma must be <= 1"),
    (schedules.StepDecay, dict(step_size=0), ValueError, r"step_size must be >= 1"),
    (schedules.StepDecay, dict(step_size=2.5), TypeError, r"step_size must be an integer"),
    (schedules.StepDecay, dict(gamma=-0.1), ValueError, r"gamma must be > 0"),
    (schedules.InverseScaling, dict(power_t=-0.5), ValueError, r"power_t must be >= 0"),
    (schedules.InverseScaling, dict(power_t=float("nan")), ValueError, r"power_t must be finite"),
    (schedules.CosineAnnealing, dict(t_max=0), ValueError, r"t_max must be >= 1"),
    (schedules.CosineAnnealing, dict(eta_min=-1e-3), ValueError, r"eta_min must be >= 0"),
    (gdfast.Quadratic, dict(a=np.nan, b=0, c=0), ValueError, r"\ba must be finite"),
    (gdfast.Quadratic, dict(a=1, b="4", c=0), TypeError, r"\bb must be a real number"),
]


@pytest.mark.parametrize("cls,kwargs,exc,pattern", HYPER_CASES,
                         ids=[f"{c[0].__name__}-{c[1]}" for c in HYPER_CASES])
def test_bad_hyper_parameters(cls, kwargs, exc, pattern):
    _expect(lambda: cls(**kwargs), exc, pattern)


# --- descend ------------------------------------------------------------------------------------

QUAD = gdfast.Quadratic(1, 4, 4)
DESCEND_CASES = [
    (dict(gradient=3.0), TypeError, r"gradient must be callable"),
    (dict(function="f"), TypeError, r"function must be callable"),
    (dict(learning_rate=0), ValueError, r"learning_rate must be > 0"),
    (dict(learning_rate=np.nan), ValueError, r"learning_rate must be finite"),
    (dict(num_iterations=-1), ValueError, r"num_iterations must be >= 0"),
    (dict(num_iterations=2.0), TypeError, r"num_iterations must be an integer"),
    (dict(x0=np.ones((2, 2))), ValueError, r"x0 must be a scalar or 1-D"),
    (dict(x0=np.nan), ValueError, r"x0 contains NaN or infinity"),
    (dict(x0=np.empty(0)), ValueError, r"x0 must not be empty"),
    (dict(x0=1 + 1j), TypeError, r"x0 must hold real numbers"),
    (dict(x0="ten"), TypeError, r"x0 must hold real numbers"),
    (dict(gradient=lambda x: np.ones(3), x0=np.ones(2)), ValueError, r"gradient\(x\) must return shape \(2,\)"),
    (dict(gradient=lambda x: "g"), TypeError, r"gradient\(x\) must return real numbers"),
    (dict(gradient=lambda x: x, function=lambda x: np.ones(5)), ValueError, r"function\(x\) must return a scalar"),
]


@pytest.mark.parametrize("fn", [gdfast.descend, reference.descend], ids=["kernel", "reference"])
@pytest.mark.parametrize("kwargs,exc,pattern", DESCEND_CASES, ids=[str(i) for i in range(len(DESCEND_CASES))])
def test_bad_descend_input(fn, kwargs, exc, pattern):
    args = dict(gradient=QUAD.gradient, x0=10.0, learning_rate=0.1, num_iterations=5, function=None)
    args.update(kwargs)
    _expect(lambda: fn(args.pop("gradient"), args.pop("x0"), **args), exc, pattern)


# --- sweep --------------------------------------------------------------------------------------

SWEEP_CASES = [
    (dict(learning_rates=[0.1, 0.0]), ValueError, r"learning_rate must be > 0"),
    (dict(learning_rates=[]), ValueError, r"learning_rates must be a non-empty sequence"),
    (dict(seeds=[]), ValueError, r"seeds must be a non-empty sequence"),
    (dict(seeds=[-1]), ValueError, r"seed must be >= 0"),
    (dict(configs={"optimizer": "adam"}), ValueError, r"configs must be a non-empty sequence"),
    (dict(configs=["adam"]), TypeError, r"configs must hold dicts"),
    (dict(configs=[{"fit_intercept": True}]), ValueError, r"configs may override train options except fit_intercept"),
    (dict(configs=[{"optimizer": "lbfgs"}]), ValueError, r"unknown optimizer 'lbfgs'; valid names"),
    (dict(configs=[{"batch_size": 100}]), ValueError, r"batch_size must be <= n_samples = 6"),
    (dict(n_threads=0), ValueError, r"n_threads must be >= 1"),
    (dict(n_threads=1.5), TypeError, r"n_threads must be an integer"),
    (dict(initial_weights=np.ones((2, 4, 3))), ValueError, r"initial_weights must have shape \(k, 3, 4\)"),
    (dict(initial_weights=np.ones((3, 4))), ValueError, r"initial_weights must have shape \(k, 3, 4\)"),
    (dict(initial_weights=np.full((1, 3, 4), np.nan)), ValueError, r"initial_weights contains NaN"),
    (dict(state=None), TypeError, r"sweep does not take state"),
    (dict(momentum=0.9), TypeError, r"unknown training option\(s\) momentum"),
    (dict(num_iterations=-3), ValueError, r"num_iterations must be >= 0"),
    (dict(sample_weight=np.ones(2)), ValueError, r"sample_weight must have shape \(6,\)"),
]


@pytest.mark.parametrize("kwargs,exc,pattern", SWEEP_CASES, ids=[str(i) for i in range(len(SWEEP_CASES))])
def test_bad_sweep_input(kwargs, exc, pattern):
    args = dict(num_iterations=2, n_threads=1)
    args.update(kwargs)
    _expect(lambda: gdfast.sweep(W, X, Y, **args), exc, pattern)


# --- inputs are never modified; results never alias them --------------------------------------

def _calls():
    f32 = lambda a: a.astype(np.float32)  # noqa: E731
    return {
        "predict": lambda W, X, Y: gdfast.predict(W, X),
        "predict one": lambda W, X, Y: gdfast.predict(W, X[0]),
        "mse": lambda W, X, Y: gdfast.mse(X, X[::-1]),
        "mse_gradient": lambda W, X, Y: gdfast.mse_gradient(W, X, Y),
        "update": lambda W, X, Y: gdfast.update(W, W, 0.1),
        "update scalar": lambda W, X, Y: gdfast.update(W, 1.0, 0.1),
        "train": lambda W, X, Y: gdfast.train(W, X, Y, num_iterations=3, optimizer="adam", fit_intercept=True,
                                             batch_size=2, sample_weight=np.ones(len(X))),
        "train float32": lambda W, X, Y: gdfast.train(f32(W), f32(X), f32(Y), num_iterations=3),
        "sweep": lambda W, X, Y: gdfast.sweep(W, X, Y, learning_rates=[0.1, 0.2], num_iterations=3,
                                              initial_weights=np.stack([W, W]), n_threads=1),
        "descend": lambda W, X, Y: gdfast.descend(gdfast.Quadratic(1, 4, 4).gradient, X[:, 0], learning_rate=0.1,
                                                  num_iterations=3),
        "reference.train": lambda W, X, Y: reference.train(W, X, Y, num_iterations=3, optimizer="rmsprop"),
    }


def _result_arrays(res):
    if isinstance(res, np.ndarray):
        return [res]
    out = []
    for name in ("W", "b", "x", "f", "losses"):
        v = getattr(res, name, None)
        if isinstance(v, np.ndarray):
            out.append(v)
    st = getattr(res, "state", None)
    if st is not None:  # a TrainState (params, opt_state, perm) or a DescentState (x, opt_state)
        out += [getattr(st, name) for name in ("params", "opt_state", "perm", "x") if hasattr(st, name)]
    for r in getattr(res, "results", []):
        out += _result_arrays(r)
    return out


@pytest.mark.parametrize("name", list(_calls()))
def test_inputs_are_not_modified_and_not_aliased(name):
    Wc, Xc, Yc = W.copy(), X.copy(), Y.copy()
    before = [Wc.copy(), Xc.copy(), Yc.copy()]
    res = _calls()[name](Wc, Xc, Yc)
    for b, a in zip(before, (Wc, Xc, Yc)):
        np.testing.assert_array_equal(a, b)
    for out in _result_arrays(res):
        for inp in (Wc, Xc, Yc):
            assert not np.shares_memory(out, inp), f"{name}: a result shares memory with an input"


def test_continuing_does_not_modify_the_earlier_result():
    first = gdfast.train(W, X, Y, num_iterations=3, optimizer="adam", seed=0)
    W1, params = first.W.copy(), first.state.params.copy()
    gdfast.train(first.W, X, Y, num_iterations=3, optimizer="adam", state=first.state)
    np.testing.assert_array_equal(first.W, W1)
    np.testing.assert_array_equal(first.state.params, params)


def test_read_only_inputs_are_accepted():
    Wr, Xr, Yr = W.copy(), X.copy(), Y.copy()
    for a in (Wr, Xr, Yr):
        a.flags.writeable = False
    gdfast.predict(Wr, Xr)
    gdfast.mse_gradient(Wr, Xr, Yr)
    gdfast.update(Wr, Wr, 0.1)
    gdfast.train(Wr, Xr, Yr, num_iterations=2, fit_intercept=True)
    gdfast.sweep(Wr, Xr, Yr, learning_rates=[0.1], num_iterations=2, n_threads=1)
