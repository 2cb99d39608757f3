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


def _unfused(x, lam, sigma, nu, dim):
    from train.noise import _shape_for

    return (_shape_for(safe_sqrt(lam), x, dim) * x
            + _shape_for(safe_sqrt(1 - lam), x, dim) * _shape_for(sigma, x, dim) * nu)


@pytest.mark.parametrize("dim,shape", [(1, (4, 5, 3)), (-1, (6, 5)), (2, (2, 3, 5, 4))])
def test_fused_injection_matches_unfused_values_and_gradients(dim, shape):
    from train.noise import _Inject

    torch.manual_seed(0)
    n = shape[dim]
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    lam = torch.rand(n, dtype=torch.float64)
    lam[0], lam[-1] = 0.0, 1.0  # both boundaries: safe_sqrt gradients are 0 there
    lam.requires_grad_(True)
    sigma = torch.rand(n, dtype=torch.float64) + 0.5
    nu = torch.randn(shape, dtype=torch.float64)
    w = torch.randn(shape, dtype=torch.float64)
    y = _Inject.apply(x, lam, sigma, nu, dim)
    ref = _unfused(x, lam, sigma, nu, dim)
    assert torch.equal(y, ref)
    g1 = torch.autograd.grad((y * w).sum(), (x, lam))
    g2 = torch.autograd.grad((ref * w).sum(), (x, lam))
    for a, b in zip(g1, g2, strict=True):
        assert torch.allclose(a, b, atol=1e-12)
    inner = (torch.rand(n, dtype=torch.float64) * 0.8 + 0.1).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda xx, ll: _Inject.apply(xx, ll, sigma, nu, dim), (x, inner))


def test_running_std_matches_batch_variance():
    from train.noise import RunningStd

    torch.manual_seed(0)
    x = torch.randn(64, 5, 7) * torch.arange(1, 6).reshape(1, 5, 1)
    rs = RunningStd(5)
    rs.update(x, 1)
    ref = x.transpose(1, 2).reshape(-1, 5).var(0, unbiased=False)
    assert torch.allclose(rs.running_var, ref, rtol=1e-5)


def test_disallow_removes_units_for_good():
    w = NoiseWidth(4, mode="per_unit")
    w.disallow_([1, 3])
    assert w.lam().tolist() == [1.0, 0.0, 1.0, 0.0] and w.kept_index().tolist() == [0, 2]
    w.train()
    w(torch.randn(8, 4), dim=1).pow(2).sum().backward()
    assert w.theta.grad[1] == 0 and w.theta.grad[3] == 0
    with torch.no_grad():
        w.theta.fill_(0.7)
    w.project_()
    assert w.theta.tolist() == pytest.approx([0.7, 0.0, 0.7, 0.0])
    with pytest.raises(ValueError):
        NoiseWidth(4).disallow_([0])
