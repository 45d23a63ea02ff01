"""Pieces several public objects share: the Adam family's hyper-parameters and checks, and the
name-or-instance lookup of ``optimizer=`` / ``schedule=``.

The expected reprs, defaults and messages are written out by hand from the documented API (the
defaults are torch.optim's), not read back from the code under test, so a change in a shared piece
that leaks into one of its users shows here.
"""
import pytest

import gdfast
from gdfast._validation import by_name_or_instance
from gdfast.optimizers import OPTIMIZERS, Optimizer, get_optimizer
from gdfast.schedules import SCHEDULES, Constant, CosineAnnealing, Schedule, get_schedule

ADAM_FAMILY = [gdfast.Adam, gdfast.AdamW, gdfast.NAdam, gdfast.RAdam, gdfast.Adamax]

DEFAULT_REPRS = {
    gdfast.Adam: "Adam(beta1=0.9, beta2=0.999, eps=1e-08, weight_decay=0.0, amsgrad=False)",
    gdfast.AdamW: "AdamW(beta1=0.9, beta2=0.999, eps=1e-08, weight_decay=0.01, amsgrad=False)",
    gdfast.NAdam: ("NAdam(beta1=0.9, beta2=0.999, eps=1e-08, weight_decay=0.0, momentum_decay=0.004, "
                   "decoupled_weight_decay=False)"),
    gdfast.RAdam: "RAdam(beta1=0.9, beta2=0.999, eps=1e-08, weight_decay=0.0, decoupled_weight_decay=False)",
    gdfast.Adamax: "Adamax(beta1=0.9, beta2=0.999, eps=1e-08, weight_decay=0.0)",
}


@pytest.mark.parametrize("cls", ADAM_FAMILY, ids=lambda c: c.__name__)
def test_adam_family_reprs_and_field_order(cls):
    """The four shared fields come first, in the documented order, then each class's own."""
    opt = cls()
    assert repr(opt) == DEFAULT_REPRS[cls]
    d = opt.to_dict()
    assert list(d)[:5] == ["name", "beta1", "beta2", "eps", "weight_decay"]
    assert d["name"] == cls.__name__
    # positional arguments follow the same order
    assert cls(0.5, 0.75, 1e-6, 0.125) == cls(beta1=0.5, beta2=0.75, eps=1e-6, weight_decay=0.125)


@pytest.mark.parametrize("cls", ADAM_FAMILY, ids=lambda c: c.__name__)
@pytest.mark.parametrize("kwargs, error, message", [
    (dict(beta1=1.0), ValueError, "beta1 must be < 1.0; got 1.0"),
    (dict(beta1=-0.25), ValueError, "beta1 must be >= 0.0; got -0.25"),
    (dict(beta2=1), ValueError, "beta2 must be < 1.0; got 1"),
    (dict(beta2="0.9"), TypeError, "beta2 must be a real number; got str: '0.9'"),
    (dict(eps=0.0), ValueError, "eps must be > 0.0; got 0.0"),
    (dict(eps=float("nan")), ValueError, "eps must be finite; got nan"),
    (dict(weight_decay=-1e-3), ValueError, "weight_decay must be >= 0.0; got -0.001"),
    (dict(weight_decay=True), TypeError, "weight_decay must be a real number; got bool: True"),
])
def test_adam_family_shared_checks(cls, kwargs, error, message):
    with pytest.raises(error) as info:
        cls(**kwargs)
    assert str(info.value) == message


@pytest.mark.parametrize("cls", ADAM_FAMILY, ids=lambda c: c.__name__)
def test_adam_family_stores_floats_and_is_frozen(cls):
    opt = cls(beta1=0, beta2=0, eps=1, weight_decay=0)
    assert [type(getattr(opt, f)) for f in ("beta1", "beta2", "eps", "weight_decay")] == [float] * 4
    with pytest.raises(AttributeError):
        opt.beta1 = 0.5
    assert isinstance(opt, Optimizer) and hash(opt) == hash(cls(beta1=0, beta2=0, eps=1, weight_decay=0))


def test_adam_family_own_checks_still_run():
    with pytest.raises(TypeError, match=r"^amsgrad must be True or False; got int: 1$"):
        gdfast.Adam(amsgrad=1)
    with pytest.raises(ValueError, match=r"^momentum_decay must be >= 0.0; got -1$"):
        gdfast.NAdam(momentum_decay=-1)
    for cls in (gdfast.NAdam, gdfast.RAdam):
        with pytest.raises(TypeError, match=r"^decoupled_weight_decay must be True or False; got str: 'yes'$"):
            cls(decoupled_weight_decay="yes")


class _Thing:
    pass


def test_by_name_or_instance():
    names = {"thing": _Thing}
    made = by_name_or_instance(None, "thing", _Thing, names, default=_Thing)
    assert type(made) is _Thing
    mine = _Thing()
    assert by_name_or_instance(mine, "thing", _Thing, names, default=_Thing) is mine
    assert type(by_name_or_instance("THING", "thing", _Thing, names, default=_Thing)) is _Thing
    assert by_name_or_instance(3.5, "thing", _Thing, names, default=_Thing) is None
    with pytest.raises(ValueError) as info:
        by_name_or_instance("thin", "widget", _Thing, {"b": _Thing, "a": _Thing}, default=_Thing)
    assert str(info.value) == "unknown widget 'thin'; valid names: a, b"


def test_get_optimizer_and_get_schedule_by_name():
    assert get_optimizer(None) == gdfast.SGD()
    assert get_optimizer("RAdam") == gdfast.RAdam()
    assert get_schedule(None) == Constant()
    assert get_schedule("Cosine") == CosineAnnealing()
    assert isinstance(get_schedule("step"), Schedule)
    with pytest.raises(ValueError) as info:
        get_optimizer("adamm")
    assert str(info.value) == ("unknown optimizer 'adamm'; valid names: "
                               "adagrad, adam, adamax, adamw, nadam, radam, rmsprop, sgd")
    with pytest.raises(ValueError) as info:
        get_schedule("linear")
    assert str(info.value) == "unknown schedule 'linear'; valid names: constant, cosine, exponential, invscaling, step"
    with pytest.raises(TypeError, match=r"^optimizer must be a name \(adagrad, .*\) or a gdfast optimizer object; "
                                        r"got Constant$"):
        get_optimizer(Constant())
    with pytest.raises(TypeError, match=r"^schedule must be a name, .*; got Adam$"):
        get_schedule(gdfast.Adam())
    assert sorted(OPTIMIZERS) == ["adagrad", "adam", "adamax", "adamw", "nadam", "radam", "rmsprop", "sgd"]
    assert sorted(SCHEDULES) == ["constant", "cosine", "exponential", "invscaling", "step"]
