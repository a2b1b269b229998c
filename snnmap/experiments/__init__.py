"""Experiments: typed run settings, file names, and phase 1 / phase 2 / merge / sweep as library
functions that the commands (:mod:`snnmap.phase1`, :mod:`snnmap.phase2`, :mod:`snnmap.sweep`) call.

Modules: :mod:`.settings` (RunSettings, Experiment, Phase1Settings, Phase2Options),
:mod:`.naming` (every file name), :mod:`.inputs` (data and phase 1's outputs),
:mod:`.manifest` (phase 1's files as one checked set),
:mod:`.phase1`, :mod:`.phase2`, :mod:`.merge`, :mod:`.grid` and :mod:`.sweep`,
:mod:`.provenance` (versions and time of a results file).
"""
