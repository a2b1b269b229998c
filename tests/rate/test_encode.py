"""Input coding: constant current, seeded Poisson spikes that reproduce."""

import numpy as np
import pytest
from keras import ops

from snnmap.rate import encode


def draws(seed, start, x, steps=50):
    c = encode.coder("poisson", ops.convert_to_tensor(x, "float32"), seed, start)
    return np.stack([ops.convert_to_numpy(c.step()) for _ in range(steps)])


def test_seeded_poisson_reproduces_and_seeds_differ():
    x = np.random.default_rng(0).random((4, 30)).astype("float32")
    a, b = draws(3, 0, x), draws(3, 0, x)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, draws(4, 0, x))
    assert not np.array_equal(a, draws(3, 4, x))  # another batch draws another stream
    assert not np.array_equal(a[0], a[1])  # and every step is a new draw
    assert set(np.unique(a)) <= {0.0, 1.0}


def test_poisson_rate_is_the_pixel_value():
    x = np.array([[0.0, 0.1, 0.5, 0.9, 1.0]], dtype="float32")
    rate = draws(1, 0, x, steps=4000).mean(axis=0)[0]
    np.testing.assert_allclose(rate, x[0], atol=0.03)
    assert rate[0] == 0.0 and rate[-1] == 1.0


def test_constant_input_and_unknown_coder():
    x = np.ones((2, 3), "float32") * 0.25
    c = encode.coder("constant", ops.convert_to_tensor(x), 0, 0)
    np.testing.assert_array_equal(ops.convert_to_numpy(c.step()), x)
    with pytest.raises(ValueError, match="input must be one of constant, poisson; got 'rank'"):
        encode.coder("rank", x)
