"""The default numbers the commands show in ``--help`` before anything heavy is imported.

Each one is the default of a library function or class; tests/experiments/test_settings.py
checks that they equal the constants of the modules that use them (:mod:`snnmap.core.mapping`,
:mod:`snnmap.pipeline.scaling`, :mod:`snnmap.pipeline.energy`, :mod:`snnmap.solver`).  They are
here, in a module that imports nothing, so that :mod:`snnmap.experiments.settings` (and with it
every command's flags) loads without TensorFlow.
"""

#: Window margin, ``B_n = (1 + zeta) X_n`` (docs/method.md §1).
ZETA = 0.5
#: Bounds on the weight sums ``S_i`` of hidden neurons (docs/method.md §4).
UPPER_B = 0.99
LOWER_B = -10.0
#: Energy of one multiply-accumulate (ReLU network) and of one synaptic event (SNN), pJ (docs/method.md §8).
MAC_PJ = 4.6
ADD_PJ = 0.9
#: The spike-time solvers, the default first (docs/solver.md).
SOLVERS = ("auto", "exact", "scan")
