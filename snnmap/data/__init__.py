"""The data sets of snnmap's experiments: a registry of data sets and one module per source.

Supported data sets (canonical names, see :func:`canonical_name`):

``"MNIST"``, ``"FashionMNIST"``
    Images are ``float32`` values in ``[0, 1]`` (pixel / 255), shape ``(N, 28, 28, 1)``.
``"CIFAR10"``, ``"CIFAR100"``
    Images are standardised per colour channel with the mean and standard deviation of the
    training split and clipped to ``[-3, 3]`` (the preprocessing of the paper's CIFAR
    experiments), shape ``(N, 32, 32, 3)``.
``"PLACES365"``, ``"PASS"``
    ImageNet-size (224 x 224 x 3) arrays that the user has preprocessed elsewhere (caffe-style,
    as for Keras' VGG16); they are memory-mapped, not read into memory.

Labels are ``int64`` class indices (``-1`` for unlabelled PASS images) no matter where the data
came from.  The sources, one module each:

``"tfds"`` (:mod:`.tfds`)
    TensorFlow Datasets (``mnist``, ``fashion_mnist``, ``cifar10``, ``cifar100``).  A prepared
    copy on disk is used directly; otherwise a download is attempted, but only after a quick
    connectivity check so that offline runs fail fast instead of hanging.
``"idx"`` (:mod:`.idx`)
    MNIST / Fashion-MNIST only: the original IDX files (``train-images-idx3-ubyte`` etc., plain
    or gzip-compressed) in ``data_dir`` or, for Fashion-MNIST, the Debian package location
    ``/usr/share/datasets/fashion-mnist`` (``apt-get install dataset-fashion-mnist``).
``"sample"`` (:mod:`.sample`)
    MNIST only: a real 5,000-image MNIST sample bundled with snnmap (``mnist_5k.npz``, see
    ``PROVENANCE.md``), split into 4,000 training and 1,000 test images.  It is NOT the full
    MNIST data set; results on it are not comparable with published MNIST test accuracies.
``"npz"`` (:mod:`.arrays`)
    CIFAR only: a user's own copy in ``data_dir``, ``cifar10.npz`` / ``cifar100.npz`` or the
    four files ``x_train.npy``, ``y_train.npy``, ``x_test.npy``, ``y_test.npy``.
``"arrays"`` (:mod:`.arrays`)
    PLACES365 / PASS only: preprocessed ``.npy`` arrays in ``data_dir``, see :func:`load`.

:mod:`.registry` says which sources serve which data set (and the order of ``source="auto"``),
:mod:`.prepare` how stored images become inputs, :mod:`.dataset` holds :class:`DataSet` and the
selection of examples (``max_train``, ``max_test``, ``part`` / ``num_parts``), and
:mod:`.loader` puts them together in :func:`load`.

Importing this package imports only standard modules and NumPy; ``tensorflow_datasets`` (and
with it TensorFlow) is imported only when a TFDS source is actually queried.
"""

from ..errors import DataSourceError, SampleDataWarning
from .dataset import DataSet, part_bounds
from .idx import read_idx
from .loader import Loader, available_sources, load
from .registry import DATASETS, SOURCES, SUPPORTED_NAMES, DataSetSpec, canonical_name

__all__ = [
    "DATASETS",
    "DataSet",
    "DataSetSpec",
    "DataSourceError",
    "Loader",
    "SampleDataWarning",
    "SOURCES",
    "SUPPORTED_NAMES",
    "available_sources",
    "canonical_name",
    "load",
    "part_bounds",
    "read_idx",
]
