"""Central finite differences: the gradient oracle of tests/test_gradient_fd.py and tests/test_losses.py
(written here once; it shares nothing with gdfast)."""
import numpy as np

H = 1e-6


def central_differences(f, theta, h=H):
    """Gradient of the scalar function f at theta (any shape) by central differences."""
    theta = np.array(theta, dtype=np.float64)
    grad = np.empty_like(theta)
    flat, gflat = theta.reshape(-1), grad.reshape(-1)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + h
        up = f(theta)
        flat[k] = old - h
        down = f(theta)
        flat[k] = old
        gflat[k] = (up - down) / (2 * h)
    return grad
