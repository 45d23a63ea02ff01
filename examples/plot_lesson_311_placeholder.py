"""
Lesson 3.1.1: gradient descent on a parabola
============================================

``x -= learning_rate * gradient(x)`` on ``x**2 + 4x + 4`` (minimum at -2), the whole loop in one
kernel call.
"""
import gdfast
import gdfast.plot

f = gdfast.Quadratic(1, 4, 4)
path = gdfast.descend(f.gradient, 10.0, learning_rate=0.1, num_iterations=20, function=f)
print(path.x[-1])
gdfast.plot.path_1d(path, function=f)
