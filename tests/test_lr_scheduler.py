"""Learning-rate schedulers: 100 steps of each equal PyTorch's lr sequence (and OneCycleLR's
momentum sequence) where torch is installed; always, the same sequences against the closed
forms written out here, and state dicts that resume a schedule exactly."""
import math

import numpy as np
import pytest

import gpugrad as gg
from gpugrad.optim import lr_scheduler as L

STEPS = 100
LRS = (0.1, 0.4)            # two parameter groups, each with its own lr


def make_optimizer(lib, kind="SGD"):
    if lib is L:
        params = [gg.ones(2, requires_grad=True), gg.ones(3, requires_grad=True)]
        optim = gg.optim
    else:
        params = [lib.ones(2, requires_grad=True), lib.ones(3, requires_grad=True)]
        optim = lib.optim
    groups = [{"params": [params[0]], "lr": LRS[0]}, {"params": [params[1]], "lr": LRS[1]}]
    if kind == "SGD":
        return optim.SGD(groups, lr=1.0, momentum=0.9)
    return optim.Adam(groups, lr=1.0)


def _metric(step):
    """A loss that improves, stalls, improves a little (below the threshold), stalls again."""
    return [1.0, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7, 0.699, 0.7, 0.6][step % 10] + (step // 10) * 0.05


# name -> (factory(scheduler module, optimizer), optimizer kind)
SCHEDULERS = {
    "StepLR": (lambda S, o: S.StepLR(o, step_size=7, gamma=0.5), "SGD"),
    "MultiStepLR": (lambda S, o: S.MultiStepLR(o, milestones=[10, 30, 30, 75], gamma=0.3), "SGD"),
    "ExponentialLR": (lambda S, o: S.ExponentialLR(o, gamma=0.97), "SGD"),
    "CosineAnnealingLR": (lambda S, o: S.CosineAnnealingLR(o, T_max=30, eta_min=1e-3), "SGD"),
    "LinearLR": (lambda S, o: S.LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=20), "SGD"),
    "OneCycleLR": (lambda S, o: S.OneCycleLR(o, max_lr=[0.5, 1.0], total_steps=STEPS + 1), "SGD"),
    "OneCycleLR-three-phase-linear-adam": (
        lambda S, o: S.OneCycleLR(o, max_lr=0.8, epochs=10, steps_per_epoch=11, pct_start=0.25,
                                  anneal_strategy="linear", three_phase=True), "Adam"),
    "ReduceLROnPlateau": (lambda S, o: S.ReduceLROnPlateau(o, patience=2, factor=0.5, cooldown=1,
                                                           threshold=0.01, min_lr=[0.0, 0.02]), "SGD"),
    "ReduceLROnPlateau-max-abs": (lambda S, o: S.ReduceLROnPlateau(o, mode="max", patience=1,
                                                                   threshold_mode="abs",
                                                                   threshold=0.05), "SGD"),
    "LambdaLR": (lambda S, o: S.LambdaLR(o, [lambda e: 0.95 ** e, lambda e: 1 / (1 + e)]), "SGD"),
    "SequentialLR": (lambda S, o: S.SequentialLR(
        o, [S.LinearLR(o, start_factor=0.1, total_iters=10), S.CosineAnnealingLR(o, T_max=90)],
        milestones=[10]), "SGD"),
    "SequentialLR-three": (lambda S, o: S.SequentialLR(
        o, [S.ConstantLR(o, factor=0.5, total_iters=5), S.ExponentialLR(o, gamma=0.9),
            S.StepLR(o, step_size=10)], milestones=[20, 50]), "SGD"),
    "ConstantLR": (lambda S, o: S.ConstantLR(o, factor=0.25, total_iters=12), "SGD"),
    "MultiplicativeLR": (lambda S, o: S.MultiplicativeLR(o, lambda e: 0.99 if e % 2 else 0.98), "SGD"),
    "PolynomialLR": (lambda S, o: S.PolynomialLR(o, total_iters=60, power=2.0), "SGD"),
    "ChainedScheduler": (lambda S, o: S.ChainedScheduler(
        [S.ExponentialLR(o, gamma=0.99), S.StepLR(o, step_size=10, gamma=0.5)]), "SGD"),
    "CosineAnnealingWarmRestarts": (lambda S, o: S.CosineAnnealingWarmRestarts(
        o, T_0=10, T_mult=2, eta_min=0.01), "SGD"),
}


def run(lib, name, steps=STEPS, start=None, state=None):
    """The lrs (and momenta) of each group after each of ``steps`` steps."""
    factory, kind = SCHEDULERS[name]
    opt = make_optimizer(lib, kind)
    sched = factory(lib, opt) if lib is L else factory(lib.optim.lr_scheduler, opt)
    if state is not None:
        opt.load_state_dict(state[0])
        sched.load_state_dict(state[1])
    seq = []
    for step in range(start or 0, steps):
        opt.step()
        sched.step(_metric(step)) if name.startswith("ReduceLROnPlateau") else sched.step()
        assert sched.get_last_lr() == [g["lr"] for g in opt.param_groups]
        seq.append([(g["lr"], g.get("momentum", g.get("betas", (None,))[0])) for g in opt.param_groups])
    return seq, opt, sched


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_lr_sequence_of_100_steps_equals_pytorchs(name):
    torch = pytest.importorskip("torch")
    ours, _, _ = run(L, name)
    theirs, _, _ = run(torch, name)
    assert len(ours) == STEPS
    assert ours == theirs          # the same float operations: equal, not merely close


def cosine(base, eta_min, t, period):
    return eta_min + (base - eta_min) * (1 + math.cos(math.pi * t / period)) / 2


def one_cycle(top, step, total, pct=0.3, div=25.0, final_div=1e4):
    """1cycle: cosine from top/div up to top over pct of the steps, then down to top/div/final_div."""
    lo, up = top / div, pct * total - 1
    if step <= up:
        return top + (lo - top) / 2 * (math.cos(math.pi * step / up) + 1)
    return lo / final_div + (top - lo / final_div) / 2 * (math.cos(math.pi * (step - up) / (total - 1 - up)) + 1)


# name -> lr of a group with initial lr `base` (group index `i`) after step `e` (epoch e)
CLOSED_FORMS = {
    "StepLR": lambda base, i, e: base * 0.5 ** (e // 7),
    "MultiStepLR": lambda base, i, e: base * 0.3 ** sum(e >= m for m in (10, 30, 30, 75)),
    "ExponentialLR": lambda base, i, e: base * 0.97 ** e,
    "CosineAnnealingLR": lambda base, i, e: cosine(base, 1e-3, e, 30),
    "LinearLR": lambda base, i, e: base * (0.1 + 0.8 * min(e, 20) / 20),
    "OneCycleLR": lambda base, i, e: one_cycle((0.5, 1.0)[i], e, STEPS + 1),
    "LambdaLR": lambda base, i, e: base * (0.95 ** e if i == 0 else 1 / (1 + e)),
    "SequentialLR": lambda base, i, e: base * (0.1 + 0.9 * e / 10) if e < 10 else cosine(base, 0, e - 10, 90),
    "SequentialLR-three": lambda base, i, e: (base * (0.5 if e < 5 else 1) if e < 20 else
                                              base * 0.9 ** (e - 20) if e < 50 else
                                              base * 0.1 ** ((e - 50) // 10)),
    "ConstantLR": lambda base, i, e: base * (0.25 if e < 12 else 1),
    "MultiplicativeLR": lambda base, i, e: base * math.prod(0.99 if k % 2 else 0.98 for k in range(1, e + 1)),
    "PolynomialLR": lambda base, i, e: base * (1 - min(e, 60) / 60) ** 2,
    "ChainedScheduler": lambda base, i, e: base * 0.99 ** e * 0.5 ** (e // 10),
    "CosineAnnealingWarmRestarts": lambda base, i, e: cosine(base, 0.01, *_restart(e)),
}


def _restart(e, t0=10, mult=2):
    period = t0
    while e >= period:
        e -= period
        period *= mult
    return e, period


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_lr_sequence_follows_the_closed_form(name):
    seq, _, _ = run(L, name)
    for e, lrs in enumerate(seq, start=1):
        for i, (lr, _) in enumerate(lrs):
            assert lr == pytest.approx(CLOSED_FORMS[name](LRS[i], i, e), rel=1e-9, abs=1e-15), (e, i)


def test_one_cycle_cycles_momentum_against_the_lr():
    seq, opt, _ = run(L, "OneCycleLR")
    lrs = [s[1][0] for s in seq]
    momenta = [s[1][1] for s in seq]
    peak = int(np.argmax(lrs))
    assert peak == 29 and lrs[peak] == pytest.approx(1.0, rel=1e-3)     # max_lr near pct_start
    assert momenta[peak] == pytest.approx(0.85, rel=1e-3)               # base_momentum there
    assert momenta[-1] == pytest.approx(0.95) and lrs[-1] == pytest.approx(1.0 / 25 / 1e4)
    assert all(a >= b for a, b in zip(momenta[:peak], momenta[1:peak + 1]))
    with pytest.raises(ValueError, match="stepped 102 times"):
        _, _, sched = run(L, "OneCycleLR", steps=STEPS + 2)


def test_reduce_on_plateau_by_hand():
    opt = make_optimizer(L)
    sched = L.ReduceLROnPlateau(opt, patience=2, factor=0.5, cooldown=1, threshold=0.01, min_lr=[0.0, 0.15])
    history = []
    for metric in [1.0, 0.9, 0.9, 0.9, 0.9, 0.895, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]:
        sched.step(gg.tensor(metric))      # a tensor metric is read once
        history.append(sched.get_last_lr())
    # improvements at steps 1, 2; bad epochs 3, 4, 5: reduce at 5; the cooldown absorbs step 6
    # (0.895 is not 1% better than 0.9), then 7, 8, 9 bad: reduce at 9, group 1 held at min_lr
    assert history[3] == [0.1, 0.4] and history[4] == [0.05, 0.2]
    assert history[7] == [0.05, 0.2] and history[8] == [0.025, 0.15]
    assert sched.num_bad_epochs == 2 and sched.best == pytest.approx(0.9)


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_state_dict_resumes_the_schedule_exactly(name, tmp_path):
    """40 steps, then the optimizer's and scheduler's state dicts through gg.save / gg.load,
    then a fresh optimizer and scheduler continue: the same 100-step sequence."""
    want, _, _ = run(L, name)
    first, opt, sched = run(L, name, steps=40)
    gg.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, tmp_path / "s.gg")
    loaded = gg.load(tmp_path / "s.gg")
    rest, _, _ = run(L, name, start=40, state=(loaded["optimizer"], loaded["scheduler"]))
    assert first + rest == want


def test_schedulers_refuse_bad_arguments():
    opt = make_optimizer(L)
    with pytest.raises(TypeError, match="needs a gpugrad Optimizer"):
        L.StepLR(object(), step_size=3)
    with pytest.raises(ValueError, match="start_factor"):
        L.LinearLR(opt, start_factor=0)
    with pytest.raises(ValueError, match="lr_lambda has 1 values, but the optimizer has 2"):
        L.LambdaLR(opt, [lambda e: 1.0])
    with pytest.raises(ValueError, match="neither momentum nor betas"):
        L.OneCycleLR(gg.optim.Adagrad([gg.ones(2, requires_grad=True)]), max_lr=1.0, total_steps=10)
    with pytest.raises(ValueError, match="give total_steps"):
        L.OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ValueError, match="ReduceLROnPlateau, whose step"):
        L.SequentialLR(opt, [L.ExponentialLR(opt, 0.9), L.ReduceLROnPlateau(opt)], milestones=[3])
    with pytest.raises(ValueError, match="2 schedulers need 1 milestones"):
        L.SequentialLR(opt, [L.ExponentialLR(opt, 0.9), L.ExponentialLR(opt, 0.8)], milestones=[])
    with pytest.raises(KeyError, match="no 'initial_lr'"):
        L.StepLR(make_optimizer(L), step_size=3, last_epoch=5)
    with pytest.raises(ValueError, match="factor must be < 1"):
        L.ReduceLROnPlateau(opt, factor=1.0)


def test_a_scheduled_lr_drives_the_update():
    p = gg.tensor([1.0], requires_grad=True)
    opt = gg.optim.SGD([p], lr=1.0)
    sched = L.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        p.grad = gg.tensor([1.0])
        opt.step()
        sched.step()
    assert p.item() == pytest.approx(1.0 - (1.0 + 0.5 + 0.25))
