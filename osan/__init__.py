"""osan: multimodal unsupervised domain adaptation (OSAN and baselines).

The Python API (``osan/api.py``)::

    run = osan.train("source-only", "source.pkl", "target.pkl", "runs/a", epochs=1)
    run = osan.load_run("runs/a")
    run.predict("new.pkl")  # {sample id: prediction}
    run.evaluate("target.pkl")  # what `osan eval` prints
    run.adapt("new_target.pkl", "runs/b", method="ssa")  # test-time, without the source

plus :func:`adapt`, :func:`load_domain` and :func:`generate`. Importing ``osan`` loads no torch.
"""

__version__ = "0.1.0"

# The name ``osan.train`` is the function. The subpackage of the training loop is imported
# first, as importing it for the first time later would rebind the name to it; its modules
# are imported by their full path (``from osan.train.trainer import fit``).
from osan import train as _training_loop  # noqa: E402, F401, I001
from osan.api import Run, adapt, generate, load_domain, load_run, train  # noqa: E402

del _training_loop

__all__ = ["Run", "__version__", "adapt", "generate", "load_domain", "load_run", "train"]
