"""TAL's running statistics and update schedule: Eq. (2)'s alternating projection over time.

``update`` runs one closed-form step on a paired batch (no gradient): it centres the batch with
the new running means, mixes its factored mode statistics (Eq. (3), ``osan.alignment.tal.cca``)
into the running covariances, and solves the regularised CCA of each mode in turn, warm-started
from the previous U, V.

Initialisation. The first ``update`` starts from a per-mode CCA of (x^(n), y^(n)) (Eq. (2) with
the other modes ignored, z_b ≡ w_b ≡ 1) before its sweeps. Alternating projection from an
arbitrary start can settle where one mode has canonical pairs of both signs of per-mode
correlation, so the products over modes cancel in half of the output dims; the per-mode start
makes every per-mode correlation positive, and in our tests the sweeps keep it so.

Running statistics. The running means μ and (with ``momentum``) the covariances of Eq. (3) follow

    stat ← m_t · stat + (1 − m_t) · batch_stat,    m_t = min(momentum, t / (t + 1)),

t = the number of earlier updates: a plain average over the first 1/(1 − momentum) batches, then
an EMA (the first update takes the batch values). The ramp matters because early statistics are
formed with poorly fitted projections of the other modes; with a fixed 0.9 from the start they
linger for ~20 updates. With ``momentum=None`` every update uses the batch alone. Per-batch
covariances have rank ≤ B, so they determine at most B of the D_n directions of a mode: use the
running covariances when D_n ≥ B (e.g. text 384 with B = 64). A completed (undetermined)
direction has norm ~ρ^{-1/2}, so it amplifies whatever the batch did not span. Within one
``update`` every sweep mixes the *same* batch into the statistics of the previous update (no
compounding).

Tie. With ``tie``, a modality whose source and target dims agree has one projection (V^(n) =
U^(n)). The sweeps keep V^(n) = U^(n) after each solve, so every other mode's statistics use the
projection the model applies, and the source-side solution U^(n) is written into the shared
projection.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from osan.alignment.tal.cca import Side, cca_solve, expand, mode_stats, thin_coords
from osan.alignment.tal.fusion import outer_flatten


class Statistics:
    """Running means and covariances, and the closed-form ``update``; a part of
    :class:`TensorAlignment`.

    Reads from the layer: ``modalities``, ``source_dims``, ``target_dims``, ``eps``, ``sweeps``,
    ``momentum``, ``orient``, ``projection(m, domain)``, ``running_mean(m, domain)``,
    ``tied_modes``; writes ``num_updates`` and the buffers ``mean_<domain>_<m>``,
    ``cov_{xx,yy,xy}_<m>`` and the projections.
    """

    # -- Eq. (2): alternating projection --------------------------------------------------------
    def step_momentum(self) -> float:
        """m_t = min(momentum, t / (t + 1)) for the next update (0: per-batch statistics)."""
        if self.momentum is None:
            return 0.0
        t = int(self.num_updates)
        return min(float(self.momentum), t / (t + 1))

    def _centred(self, h: Mapping[str, Tensor], domain: str, mom: float) -> tuple:
        """New running means and the centred float64 embeddings {m: (B, I_m)}."""
        dims = self.source_dims if domain == "source" else self.target_dims
        means, xs = {}, {}
        for m in self.modalities:
            x = h[m].detach().to(torch.float64)
            if x.dim() != 2 or x.shape[1] != dims[m]:
                raise ValueError(f"{domain} {m!r}: expected (B, {dims[m]}), got {tuple(x.shape)}")
            mu = x.mean(0)  # (I,)
            if mom > 0:
                mu = mom * self.running_mean(m, domain) + (1 - mom) * mu
            means[m] = mu
            xs[m] = x - mu  # (B, I)
        return means, xs

    def _batch_size(self, h_s: Mapping[str, Tensor], h_t: Mapping[str, Tensor]) -> int:
        sizes = {int(x.shape[0]) for x in list(h_s.values()) + list(h_t.values())}
        if len(sizes) != 1:
            raise ValueError(f"TAL needs paired rows: batch sizes {sorted(sizes)}")
        (b,) = sizes
        if b < 2:
            raise ValueError("TAL statistics need a batch of at least 2 pairs")
        return b

    def _stats(
        self,
        n: str,
        xs: dict[str, Tensor],
        ys: dict[str, Tensor],
        ps: dict[str, Tensor],
        pt: dict[str, Tensor],
        thin: bool,
        coupled: bool = True,
    ) -> tuple[Side, Side, Tensor]:
        """Batch statistics of Eq. (3) for mode n, in a thin basis where cheaper; with
        ``coupled=False`` the other modes are ignored (z ≡ w ≡ 1: plain CCA statistics)."""
        b = xs[n].shape[0]
        others = [k for k in self.modalities if k != n] if coupled else []
        z = outer_flatten([ps[k] for k in others], b)  # (B, P_n), or (B, 1) of ones
        w = outer_flatten([pt[k] for k in others], b)  # (B, P_n), or (B, 1) of ones
        qx, a = thin_coords(xs[n], thin and b < self.source_dims[n])  # (I, r_x)?, (B, r_x)
        qy, c = thin_coords(ys[n], thin and b < self.target_dims[n])  # (J, r_y)?, (B, r_y)
        cxx, cyy, cxy = mode_stats(a, c, z.to(a), w.to(c))
        return (
            Side(qx, cxx, self.source_dims[n]),
            Side(qy, cyy, self.target_dims[n]),
            cxy,
        )

    def mode_covariances(
        self, h_s: Mapping[str, Tensor], h_t: Mapping[str, Tensor], *, thin: bool = False
    ) -> dict[str, tuple[Tensor, Tensor, Tensor]]:
        """Batch C_xx^(n), C_yy^(n), C_xy^(n) of Eq. (3) with the current U, V and running
        means (nothing is updated); for inspection and tests. ``thin`` computes them in the thin
        basis where B < I_n and expands them.

        Shape:
            output[n]: (I_n, I_n), (J_n, J_n), (I_n, J_n), float64
        """
        with torch.no_grad():
            self._batch_size(h_s, h_t)
            xs = {
                m: h_s[m].detach().double() - self.running_mean(m, "source")
                for m in self.modalities
            }
            ys = {
                m: h_t[m].detach().double() - self.running_mean(m, "target")
                for m in self.modalities
            }
            ps = {m: xs[m] @ self.projection(m, "source") for m in self.modalities}  # (B, D_m)
            pt = {m: ys[m] @ self.projection(m, "target") for m in self.modalities}  # (B, D_m)
            out = {}
            for n in self.modalities:
                sx, sy, cxy = self._stats(n, xs, ys, ps, pt, thin)
                out[n] = (
                    expand(sx.basis, sx.cov, sx.basis),
                    expand(sy.basis, sy.cov, sy.basis),
                    expand(sx.basis, cxy, sy.basis),
                )
            return out

    @torch.no_grad()
    def update(self, h_s: Mapping[str, Tensor], h_t: Mapping[str, Tensor]) -> dict[str, float]:
        """One closed-form TAL step, Eq. (2)-(3): ``sweeps`` alternating-projection sweeps.

        The first update starts from a per-mode CCA (module docstring). Then, for each mode n
        in turn: project the other modes with the current U/V (already updated ones included),
        form the factored statistics of Eq. (3), mix them into the running
        statistics, solve the regularised CCA for the top D_n directions (float64), warm-started
        from the previous U^(n), V^(n). Rows of h_s and h_t are pairs.

        Shape:
            h_s[m]: (B, I_m), h_t[m]: (B, J_m), B ≥ 2
        Returns:
            logs: ``tal/corr_<m>`` mean and ``tal/corr1_<m>`` top canonical correlation of mode m
        """
        self._batch_size(h_s, h_t)
        mom = self.step_momentum()
        per_batch = mom == 0.0
        mean_s, xs = self._centred(h_s, "source", mom)
        mean_t, ys = self._centred(h_t, "target", mom)
        f64 = torch.float64
        u = {m: self.projection(m, "source").detach().to(f64).clone() for m in self.modalities}
        v = {m: self.projection(m, "target").detach().to(f64).clone() for m in self.modalities}
        ps = {m: xs[m] @ u[m] for m in self.modalities}  # (B, D_m)
        pt = {m: ys[m] @ v[m] for m in self.modalities}  # (B, D_m)
        # Tied modes (one projection for both domains) keep V^(n) = U^(n) through the sweeps,
        # so every other mode's statistics see the projection the model actually applies.
        tied = self.tied_modes

        def tie_mode(n: str) -> None:
            if n in tied:
                v[n] = u[n]
                pt[n] = ys[n] @ v[n]  # (B, D_n)

        new_cov: dict[str, tuple[Tensor, Tensor, Tensor]] = {}
        corrs: dict[str, Tensor] = {}
        if int(self.num_updates) == 0:  # initialisation: per-mode CCA, see the module docstring
            for n in self.modalities:
                sx, sy, cxy = self._stats(n, xs, ys, ps, pt, thin=True, coupled=False)
                u[n], v[n], _ = cca_solve(sx, sy, cxy, u[n], v[n], self.eps)
                ps[n] = xs[n] @ u[n]  # (B, D_n)
                pt[n] = ys[n] @ v[n]  # (B, D_n)
                tie_mode(n)
        for _ in range(self.sweeps):
            for n in self.modalities:
                sx, sy, cxy = self._stats(n, xs, ys, ps, pt, thin=per_batch)
                if not per_batch:  # full space: blend with the previous update's statistics
                    sx.cov = mom * getattr(self, f"cov_xx_{n}") + (1 - mom) * sx.cov
                    sy.cov = mom * getattr(self, f"cov_yy_{n}") + (1 - mom) * sy.cov
                    cxy = mom * getattr(self, f"cov_xy_{n}") + (1 - mom) * cxy
                u[n], v[n], corrs[n] = cca_solve(sx, sy, cxy, u[n], v[n], self.eps, self.orient)
                ps[n] = xs[n] @ u[n]  # (B, D_n)
                pt[n] = ys[n] @ v[n]  # (B, D_n)
                tie_mode(n)
                if self.momentum is not None:
                    new_cov[n] = (sx.basis, sx.cov, sy.basis, sy.cov, cxy)
        for m in self.modalities:
            # A tied mode's one projection holds the source-side solution U^(n).
            self.projection(m, "source").copy_(u[m])
            if m not in tied:
                self.projection(m, "target").copy_(v[m])
            self.running_mean(m, "source").copy_(mean_s[m])
            self.running_mean(m, "target").copy_(mean_t[m])
            if m in new_cov:
                qx, cxx, qy, cyy, cxy = new_cov[m]
                getattr(self, f"cov_xx_{m}").copy_(expand(qx, cxx, qx))
                getattr(self, f"cov_yy_{m}").copy_(expand(qy, cyy, qy))
                getattr(self, f"cov_xy_{m}").copy_(expand(qx, cxy, qy))
        self.num_updates += 1
        logs = {}
        for m in self.modalities:
            logs[f"tal/corr_{m}"] = float(corrs[m].mean())
            logs[f"tal/corr1_{m}"] = float(corrs[m][0])
        return logs
