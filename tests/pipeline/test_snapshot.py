"""Snapshots pair every spiking layer with its ReLU twin by structure, not by name."""

import numpy as np

import snnmap
from snnmap.pipeline import snapshot

from pipeline import nets


def test_renamed_relu_layers_give_the_same_oracle(rng):
    model = nets.small_conv()
    pre = snnmap.preprocess(model, rng.uniform(0, 1, (20, 5, 4, 2)), verbose=0)
    snn = snnmap.to_snn(pre)
    x = rng.uniform(0, 1, (4, 5, 4, 2))
    same = snapshot.take_snapshot(snn, x, relu_model=pre.model, n_images=4)
    other = snapshot.take_snapshot(snn, x, relu_model=nets.renamed(pre.model), n_images=4)
    names = [str(n) for n in same["layer_names"]]
    assert len(names) == 2
    for name in names:
        np.testing.assert_array_equal(same[f"y/{name}"], other[f"y/{name}"])
    # The oracle is ReLU's pre-activation of what the layer received: the hidden layer's code matches it.
    hidden = snapshot.hidden_layer_names(same)[0]
    window = same[f"window/{hidden}"]
    code = window[2] - same[f"t_out/{hidden}"]
    np.testing.assert_allclose(code, np.maximum(same[f"y/{hidden}"], 0.0), rtol=0, atol=1e-9)
