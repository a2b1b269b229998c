"""Pure spike-time math on tensors and arrays: no Keras layer, no file, no flag.

The modules here implement docs/method.md:

* :mod:`.mapping`: the mapping's parameters and windows, encoding, weight quantisation;
* :mod:`.spiketime`: the closed form and the exact event solver, and how it is fed in chunks;
* :mod:`.bounds`: the certificate and the grid bounds that decide which neurons need the solver;
* :mod:`.grid`: the grids' inner points (quantiles of each image's arrivals) and cascades;
* :mod:`.products`: the synapse products the bounds use, rounded outward, and channel subsets.

They read the tuning constants of :mod:`snnmap.solver` where a function needs one.
"""
