"""The ReLU networks of the paper, as Keras models (the experiments of the exact-mapping paper).

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
        Number of input values (pixels).
    hidden : sequence of int
        Hidden layer sizes (``--layers`` counts them plus the output layer).
    num_classes : int
    dropout : float
        Dropout rate of the input and of every hidden layer.
    l1 : float
        L1 activity regularisation of the hidden ReLU outputs (``--l1``), which makes the
        activations, and with them the spike windows, smaller.
    name : str
        The model's name.
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


def lenet5(input_shape=(28, 28, 1), num_classes=10, dropout=0.0, name="lenet5_relu"):
    """LeNet5 as in the paper: batch normalisation BEFORE every ReLU.

    Conv 6@5x5 (same) - BN - ReLU - MaxPool - Conv 16@5x5 - BN - ReLU - MaxPool -
    Conv 120@5x5 - BN - ReLU - Flatten - Dense 84 - BN - ReLU - Dense - softmax.

    Parameters
    ----------
    input_shape : (int, int, int)
        Height, width, channels.
    num_classes : int
    dropout : float
        Dropout rate after every convolution block.
    name : str
        The model's name.
    """
    inputs = keras.Input(shape=input_shape, name="pixels")
    x = inputs
    for filters, padding in ((6, "same"), (16, "valid"), (120, "valid")):
        x = keras.layers.Conv2D(filters, 5, padding=padding)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("relu")(x)
        x = keras.layers.Dropout(dropout)(x)
        if filters != 120:
            x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(84)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.Dense(num_classes)(x)
    outputs = keras.layers.Activation("softmax")(x)
    return keras.Model(inputs, outputs, name=name)


def resnet(input_shape=(28, 28, 1), num_classes=10, stages=((16, 1), (32, 2), (64, 2)), blocks=1,
           name="resnet_relu"):
    """A small residual network (post-activation blocks, as in ResNet v1) for 28x28 images.

    Stem: Conv 16@3x3 (same) - BN - ReLU.  Each stage ``(filters, stride)`` has ``blocks`` basic
    blocks: Conv@3x3 (stride) - BN - ReLU - Conv@3x3 - BN, added to the block's input (identity
    shortcut) or to Conv@1x1 (stride) - BN of it (projection shortcut, where the shape changes),
    then ReLU.  Global average pooling - Dense - softmax.

    Parameters
    ----------
    input_shape : (int, int, int)
        Height, width, channels.
    num_classes : int
    stages : sequence of (int, int)
        Filters and the first block's stride of every stage.
    blocks : int
        Basic blocks per stage.
    name : str
        The model's name.
    """
    inputs = keras.Input(shape=input_shape, name="pixels")
    x = keras.layers.Conv2D(stages[0][0], 3, padding="same")(inputs)
    x = keras.layers.Activation("relu")(keras.layers.BatchNormalization()(x))
    for filters, stride in stages:
        for block in range(blocks):
            s = stride if block == 0 else 1
            y = keras.layers.Conv2D(filters, 3, strides=s, padding="same")(x)
            y = keras.layers.Activation("relu")(keras.layers.BatchNormalization()(y))
            y = keras.layers.BatchNormalization()(keras.layers.Conv2D(filters, 3, padding="same")(y))
            shortcut = x
            if s != 1 or x.shape[-1] != filters:
                shortcut = keras.layers.BatchNormalization()(keras.layers.Conv2D(filters, 1, strides=s)(x))
            x = keras.layers.Activation("relu")(keras.layers.Add()([y, shortcut]))
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Activation("softmax")(keras.layers.Dense(num_classes)(x))
    return keras.Model(inputs, outputs, name=name)


#: Convolution plan of the VGG networks: filters, or "pool" for a 2x2 max pooling.
VGG16_28 = [64, 64, "pool", 128, 128, "pool", 256, 256, 256, "pool", 512, 512, 512, 512, 512, 512]
VGG15_32 = [64, 64, "pool", 128, 128, "pool", 256, 256, 256, "pool", 512, 512, 512, "pool", 512, 512, 512, "pool"]


def vgg(plan, dense=(512,), input_shape=(28, 28, 1), num_classes=10, bn=True, dropout=0.0, kernel_size=3,
        name="vgg_relu"):
    """VGG-like network as in the paper: Conv (same) - ReLU - BN AFTER the ReLU - Dropout.

    Parameters
    ----------
    plan : list
        Filters per 3x3 convolution, ``"pool"`` for a 2x2 max pooling.
    dense : sequence of int
        Hidden Dense layers after Flatten (each ReLU - BN - Dropout).
    input_shape : (int, int, int)
        Height, width, channels.
    num_classes : int
    bn : bool
        Batch normalisation after every ReLU.
    dropout : float
        Dropout rate after every block.
    kernel_size : int
        Size of the square convolution kernels.
    name : str
        The model's name.
    """
    inputs = keras.Input(shape=input_shape, name="pixels")
    x = inputs
    for item in plan:
        if item == "pool":
            x = keras.layers.MaxPooling2D(2)(x)
            continue
        x = keras.layers.Conv2D(int(item), kernel_size, padding="same")(x)
        x = keras.layers.Activation("relu")(x)
        if bn:
            # momentum 0.9: the moving statistics settle within a short CPU training run
            x = keras.layers.BatchNormalization(momentum=0.9)(x)
        x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Flatten()(x)
    for units in dense:
        x = keras.layers.Dense(units)(x)
        x = keras.layers.Activation("relu")(x)
        if bn:
            x = keras.layers.BatchNormalization(momentum=0.9)(x)
        x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Dense(num_classes)(x)
    outputs = keras.layers.Activation("softmax")(x)
    return keras.Model(inputs, outputs, name=name)


def vgg16_imagenet(input_shape=(224, 224, 3), num_classes=1000, name="vgg16"):
    """``keras.applications.VGG16`` (random weights) with its classifier: 16 weight layers.

    Parameters
    ----------
    input_shape : (int, int, int)
    num_classes : int
    name : str
        The model's name.
    """
    return keras.applications.VGG16(weights=None, include_top=True, input_shape=input_shape,
                                    classes=num_classes, name=name)


def build(cnn: bool, layers: int, input_shape, num_classes: int, l1: float = 0.0, name=None):
    """The zoo model selected by the original flags ``--CNN`` and ``--layers``.

    ``--CNN=False``: the fully connected network with ``layers - 1`` hidden layers of 600.
    ``--CNN=True``: ``--layers 5`` LeNet5; ``10`` the small ResNet (:func:`resnet`, 10 Dense/Conv2D
    layers with its projections); ``16`` the 16-layer VGG for 28x28 inputs, or
    ``keras.applications.VGG16`` for 224x224 inputs; ``15`` the 15-layer VGG for 32x32.

    Parameters
    ----------
    cnn : bool
        Convolutional network (True) or fully connected (False).
    layers : int
        Number of Dense/Conv2D layers (see above).
    input_shape : tuple of int
        Shape of one input image.
    num_classes : int
    l1 : float
        L1 activity regularisation of the hidden layers (fully connected network only).
    name : str, optional
        The model's name (default: the architecture's).
    """
    input_shape = tuple(int(d) for d in input_shape)
    if not cnn:
        if layers < 2:
            raise ValueError(f"--layers must be >= 2 for a fully connected network, got {layers}")
        input_dim = 1
        for d in input_shape:
            input_dim *= d
        return fc(input_dim, hidden=(600,) * (layers - 1), num_classes=num_classes, l1=l1,
                  name=name or "fc_relu")
    if len(input_shape) != 3:
        raise ValueError(f"convolutional networks need (height, width, channels) inputs, got {input_shape}")
    if layers == 5:
        return lenet5(input_shape, num_classes, name=name or "lenet5_relu")
    if layers == 10:
        return resnet(input_shape, num_classes, name=name or "resnet_relu")
    if layers == 16 and input_shape[0] >= 224:
        return vgg16_imagenet(input_shape, num_classes, name=name or "vgg16")
    if layers == 16:
        return vgg(VGG16_28, (512, 512), input_shape, num_classes, name=name or "vgg16_relu")
    if layers == 15:
        return vgg(VGG15_32, (512,), input_shape, num_classes, name=name or "vgg15_relu")
    raise ValueError(f"no convolutional zoo model with --layers={layers}; use 5 (LeNet5), 10 (small ResNet), "
                     "16 or 15 (VGG)")


def train(model, x_train, y_train, epochs=10, batch_size=128, validation_data=None, verbose="auto", seed=0):
    """Train a zoo model with Adam (learning rate 1e-3) and cross-entropy; Keras shows its progress bar.

    Parameters
    ----------
    model : keras.Model
        A zoo network (softmax output); compiled here.
    x_train, y_train : array_like
        Images and class ids.
    epochs, batch_size : int
    validation_data : tuple, optional
        ``(x, y)`` evaluated after every epoch.
    verbose : "auto", 0, 1 or 2
        Keras' progress display.
    seed : int
        Seeds weights initialisation, dropout and shuffling (``keras.utils.set_random_seed``).

    Returns
    -------
    keras.callbacks.History
    """
    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size,
                     validation_data=validation_data, verbose=verbose)
