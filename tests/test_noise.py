import pytest
import torch

from train.noise import NoiseApply, NoiseWidth, project_widths, safe_sqrt, width_parameters


def _warm(w: NoiseWidth, x: torch.Tensor, dim: int = 1, steps: int = 3) -> None:
    w.train()
    for _ in range(steps):
        w(x, dim=dim)


@pytest.mark.parametrize("mode", ["ordered", "per_unit"])
def test_variance_preserved_per_unit(mode):
    torch.manual_seed(0)
    n = 8
    scales = torch.linspace(0.5, 3.0, n)
    x = torch.randn(20000, n) * scales + 1.0
    w = NoiseWidth(n, mode=mode, kappa_min=0.0)
    with torch.no_grad():
        if mode == "ordered":
            w.kappa.fill_(0.55)  # w = 4.4: lam = 1,1,1,1,0.4,0,0,0
        else:
            w.theta.copy_(torch.tensor([1.0, 0.9, 0.5, 0.3, 0.1, 0.0, 0.7, 0.2]))
    _warm(w, x, dim=1)
    y = w(x, dim=1)
    var_in = x.var(0)
    centred_var = w.lam() * var_in + (1 - w.lam()) * var_in  # = var_in
    assert torch.allclose(y.var(0), centred_var.detach(), rtol=0.05)
    # a lam=0 unit carries no information about x
    dead = int(torch.nonzero(w.lam() == 0)[0])
    corr = torch.corrcoef(torch.stack([x[:, dead], y[:, dead]]))[0, 1]
    assert abs(float(corr.detach())) < 0.05


def test_eval_is_noise_free_and_scaled():
    torch.manual_seed(1)
    w = NoiseWidth(6)
    x = torch.randn(64, 6, 5)
    _warm(w, x)
    with torch.no_grad():
        w.kappa.fill_(0.5)
    w.eval()
    y1, y2 = w(x), w(x)
    assert torch.equal(y1, y2)
    assert torch.allclose(y1, x * w.lam().sqrt().reshape(1, 6, 1))
    w.train()
    assert not torch.allclose(w(x), y1)


def test_ordered_lam_and_widths():
    w = NoiseWidth(10, kappa_min=0.2)
    with torch.no_grad():
        w.kappa.fill_(0.37)
    lam = w.lam()
    assert torch.allclose(lam, torch.tensor([1, 1, 1, 0.7, 0, 0, 0, 0, 0, 0]), atol=1e-6)
    assert w.kept() == 4
    assert torch.equal(w.kept_mask(), torch.arange(10) < 4)
    assert abs(float(w.soft_width()) - 3.7) < 1e-5
    with torch.no_grad():
        w.kappa.fill_(-3.0)
    project_widths(w)
    assert float(w.kappa) == pytest.approx(0.2)
    assert w.kept() == 2 == w.min_units()


def test_temperature_spreads_gradient_and_keeps_sum():
    w = NoiseWidth(20, temperature=4.0)
    with torch.no_grad():
        w.kappa.fill_(0.5)
    lam = w.lam()
    assert float(lam.sum()) == pytest.approx(10.0, abs=1e-5)
    assert int(((lam > 0) & (lam < 1)).sum()) == 4


def test_gradients_finite_at_boundaries():
    for mode in ("ordered", "per_unit"):
        w = NoiseWidth(5, mode=mode)
        with torch.no_grad():
            if mode == "ordered":
                w.kappa.fill_(0.4)
            else:
                w.theta.copy_(torch.tensor([1.0, 0.0, 0.5, 1.0, 0.0]))
        x = torch.randn(16, 5)
        w.train()
        (w(x) ** 2).sum().backward()
        g = width_parameters(w)[0].grad
        assert torch.isfinite(g).all()
        assert torch.isfinite(safe_sqrt(torch.zeros(3, requires_grad=True)).sum())


def test_fix_width_binary_and_unfix():
    w = NoiseWidth(8, mode="per_unit")
    with torch.no_grad():
        w.theta.copy_(torch.tensor([0.1, 0.9, 0.0, 0.8, 0.3, 0.95, 0.0, 0.2]))
    w.fix_width(3)
    assert w.kept_index().tolist() == [1, 3, 5]
    assert set(w.lam().tolist()) <= {0.0, 1.0}
    w.unfix()  # the parameters were set to the fixed mask; they are learnable again
    assert w.kept() == 3
    with torch.no_grad():
        w.theta.fill_(0.5)
    assert w.kept() == 8


def test_shared_width_keeps_separate_statistics():
    w = NoiseWidth(4)
    a, b = NoiseApply(w), NoiseApply(w)
    a.train()
    b.train()
    a(torch.randn(100, 4) * 10)
    b(torch.randn(100, 4) * 0.1)
    assert (a.std.std() > 5).all() and (b.std.std() < 0.5).all()


def test_bad_arguments():
    with pytest.raises(ValueError):
        NoiseWidth(0)
    with pytest.raises(ValueError):
        NoiseWidth(4, mode="gate")
    with pytest.raises(ValueError):
        NoiseWidth(4)(torch.randn(2, 5))
