"""Pure spike-time math on tensors and arrays: no Keras layer, no file, no flag.

The modules here implement docs/method.md: the mapping's parameters and windows
(:mod:`.mapping`) and the spike-time solvers (:mod:`.spiketime`).
"""
