"""Test-time (source-free) adaptation: a finished run adapted to an unlabelled target domain
without the source data (``osan adapt``, :func:`osan.testtime.adapt.adapt`).

One module per concept: ``stats.py`` (the source feature statistics every ``osan train`` writes
into its run folder), ``norms.py`` (which parameters count as normalisation affines), one
module per method with its formula (``adabn.py``, ``ssa.py``, ``tent.py``, ``shot_im.py``),
``registry.py`` (each method's task, needs and declared defaults) and ``adapt.py`` (the
adaptation run: load, adapt, write a run folder). docs/method.md "Test-time adaptation" maps
the formulas to the code.
"""
