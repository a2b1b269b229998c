"""From a trained Keras ReLU model to a spiking one.

* :mod:`.graph`: the model as a graph of layers in topological order;
* :mod:`.dag`, :mod:`.dag_plan`, :mod:`.dag_convert`: both phases for graphs (residual, branching);
* :mod:`.fold`: folding, one handler per Keras layer type; :mod:`.scaling`: weight sums;
  :mod:`.build`: the preprocessed float64 Keras model; :mod:`.calibrate`: ``X_n``;
* :mod:`.preprocess`: phase 1 and :class:`~.preprocess.Preprocessed`;
* :mod:`.convert`: phase 2, the spiking twin (:func:`~.convert.to_snn`);
* :mod:`.evaluate`: what a run reports, each spiking layer checked against its ReLU twin;
* :mod:`.energy`: operation counts, one counter per spiking layer type;
* :mod:`.snapshot`: spike times and exact potential traces of a few images, for pictures.
"""
