"""The ReLU networks of the paper, as Keras models (MAPPING's experiments).

Only architectures live here; weights are trained by :func:`train` or shipped under
``models/``.
"""

from __future__ import annotations

import keras


def fc(input_dim=784, hidden=(600,), num_classes=10, dropout=0.2, l1=0.0, name="fc_relu"):
    """The paper's fully connected network (784-600-10 by default).

    Input -> Dropout -> [Dense -> ReLU -> ActivityRegularization(l1) -> Dropout]* ->
    Dense -> softmax, as in the original exact-mapping code.

    Parameters
    ----------
    input_dim : int
    hidden : sequence of int
        Hidden layer sizes (``--layers`` counts them plus the output layer).
    num_classes : int
    dropout : float
    l1 : float
        L1 activity regularisation of the hidden ReLU outputs (``--l1``), which makes the
        activations, and with them the spike windows, smaller.
    """
    inputs = keras.Input(shape=(input_dim,), name="pixels")
    x = keras.layers.Dropout(dropout)(inputs)
    for units in hidden:
        x = keras.layers.Dense(units)(x)
        x = keras.layers.Activation("relu")(x)
        x = keras.layers.ActivityRegularization(l1=l1)(x)
        x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Dense(num_classes)(x)
    outputs = keras.layers.Activation("softmax")(x)
    return keras.Model(inputs, outputs, name=name)


def build(cnn: bool, layers: int, input_shape, num_classes: int, l1: float = 0.0, name=None):
    """The zoo model selected by the original flags ``--CNN`` and ``--layers``."""
    if not cnn:
        if layers < 2:
            raise ValueError(f"--layers must be >= 2 for a fully connected network, got {layers}")
        input_dim = 1
        for d in input_shape:
            input_dim *= int(d)
        return fc(input_dim, hidden=(600,) * (layers - 1), num_classes=num_classes, l1=l1,
                  name=name or "fc_relu")
    raise ValueError("convolutional zoo models (--CNN) are not available yet")


def train(model, x_train, y_train, epochs=10, batch_size=128, validation_data=None, verbose="auto", seed=0):
    """Train a zoo model with Adam and cross-entropy; Keras shows its progress bar."""
    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size,
                     validation_data=validation_data, verbose=verbose)
