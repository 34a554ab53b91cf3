"""``osan report``: the paper's §5 analyses as figures a person can open.

One module per analysis — ``tsne`` (Fig. 4/5), ``divergence`` (JSD, Fig. 7), ``curves``
(Fig. 2), ``cases`` (Fig. 6) — plus ``runs`` (finding finished runs), ``document`` (Markdown and
self-contained HTML) and ``build`` (the command). Figures are drawn with matplotlib's Agg canvas
(headless); nothing is retrained: runs save ``features.npz`` and ``predictions.csv`` when they
finish (``osan.eval.evaluate.save_run_artifacts``).
"""
