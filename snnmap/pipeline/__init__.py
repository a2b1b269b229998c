"""From a trained Keras ReLU model to a spiking one: graph walk, folding, calibration,
conversion, evaluation, operation counts and snapshots."""
