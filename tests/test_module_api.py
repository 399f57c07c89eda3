"""The Module API of issue 16: buffers, apply, requires_grad_, state dicts with PyTorch's keys
and errors, named_children / get_submodule, zero_grad(set_to_none), repr, ModuleList and
ModuleDict; checked against PyTorch's same model where torch is installed."""
import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn as nn


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 4), nn.GELU(approximate="tanh"), nn.Linear(4, 2))
        self.register_buffer("scale", gg.tensor([2.0]))
        self.register_buffer("cache", gg.zeros(2), persistent=False)

    def forward(self, x):
        return self.body(x) * self.scale


def test_buffers_state_dict_and_to():
    m = Scaled()
    assert list(m.state_dict()) == ["scale", "body.0.weight", "body.0.bias", "body.2.weight",
                                    "body.2.bias"]
    assert [n for n, _ in m.named_buffers()] == ["scale", "cache"]
    assert len(list(m.parameters())) == 4 and len(list(m.buffers())) == 2
    m.to(dtype="float64")
    assert m.scale.dtype == np.float64 and m.cache.dtype == np.float64
    m.scale = gg.tensor([3.0])
    assert m.state_dict()["scale"].numpy()[0] == 3.0
    with pytest.raises(TypeError, match="buffer 'scale'"):
        m.scale = 3.0
    sd = {k: v.numpy() * 0 + 1 for k, v in m.state_dict().items()}
    fresh = Scaled()
    result = fresh.load_state_dict(sd)
    assert result == ([], []) and result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(fresh.scale.numpy(), [1.0])


def test_load_state_dict_not_strict_returns_the_keys():
    m = Scaled()
    sd = dict(m.state_dict())
    del sd["scale"]
    sd["extra"] = gg.zeros(1)
    result = m.load_state_dict(sd, strict=False)
    assert isinstance(result, nn.IncompatibleKeys)
    assert result.missing_keys == ["scale"] and result.unexpected_keys == ["extra"]
    with pytest.raises(RuntimeError, match=r"missing keys \['scale'\].*unexpected keys \['extra'\]"):
        m.load_state_dict(sd)


def test_apply_requires_grad_children_submodules_zero_grad():
    m = Scaled()
    seen = []
    assert m.apply(lambda mod: seen.append(type(mod).__name__)) is m
    assert seen == ["Linear", "GELU", "Linear", "Sequential", "Scaled"]
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    m.requires_grad_()
    assert [n for n, _ in m.named_children()] == ["body"]
    assert m.get_submodule("body.2") is m.body[2] and m.get_submodule("") is m
    with pytest.raises(AttributeError, match="no submodule '5'"):
        m.get_submodule("body.5")
    m(gg.randn(5, 3)).sum().backward()
    m.zero_grad(set_to_none=False)
    w = m.body[0].weight
    assert w.grad is not None and not w.grad.numpy().any()
    m.zero_grad()
    assert w.grad is None


def test_repr_as_pytorch_prints_it():
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.2), nn.GELU(approximate="tanh"),
                         nn.ELU(alpha=0.5), nn.Softplus(beta=2.0), nn.SiLU(),
                         nn.ModuleList([nn.ReLU()]), nn.CrossEntropyLoss(reduction="sum"))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LeakyReLU(0.2),
                                 torch.nn.GELU(approximate="tanh"), torch.nn.ELU(alpha=0.5),
                                 torch.nn.Softplus(beta=2.0), torch.nn.SiLU(),
                                 torch.nn.ModuleList([torch.nn.ReLU()]),
                                 torch.nn.CrossEntropyLoss(reduction="sum"))
    assert repr(ours) == repr(theirs)


def test_module_list_and_dict():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    layers.append(nn.Linear(2, 1))
    assert len(layers) == 4 and layers[-1].out_features == 1 and len(layers[1:]) == 3
    assert len(list(layers.parameters())) == 8
    layers.insert(0, nn.ReLU())
    assert isinstance(layers[0], nn.ReLU) and [n for n, _ in layers.named_children()][-1] == "4"
    with pytest.raises(TypeError, match="ModuleList"):
        layers.append(3)
    with pytest.raises(IndexError, match="ModuleList: index 9"):
        layers[9]
    heads = nn.ModuleDict({"a": nn.Linear(2, 3), "b": nn.Linear(2, 1)})
    assert list(heads) == ["a", "b"] and "a" in heads and heads["b"].out_features == 1
    assert list(heads.state_dict()) == ["a.weight", "a.bias", "b.weight", "b.bias"]
    heads.pop("a")
    assert list(heads.keys()) == ["b"]
