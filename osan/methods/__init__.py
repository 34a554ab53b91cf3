"""Method registry: ``build_method(cfg, dims, num_outputs)`` by ``cfg.method`` name."""

from __future__ import annotations

from collections.abc import Callable

from osan.config import METHOD_PRESETS, Config, ConfigError
from osan.methods.adda import ADDA
from osan.methods.base import Method, Phase
from osan.methods.coral import CORAL
from osan.methods.dan import DAN
from osan.methods.dann import DANN
from osan.methods.dare_gram import DAREGRAM
from osan.methods.mcc import MCC
from osan.methods.mdmn import MDMN
from osan.methods.mm_sada import MMSADA
from osan.methods.osan import OSAN
from osan.methods.rsd import RSD
from osan.methods.source_only import Oracle, SourceOnly

REGISTRY: dict[str, Callable[..., Method]] = {}


def register(name: str, factory: Callable[..., Method]) -> None:
    REGISTRY[name] = factory


register("osan", OSAN)
register("osan-mixup", OSAN)  # config preset ddg.kind=mixup (see METHOD_PRESETS)
register("osan-plus", OSAN)  # OSAN+: config preset loss.self_train=1 (an extension, not the paper)
register("source-only", SourceOnly)
register("oracle", Oracle)
register("dan", DAN)
register("dann", DANN)
register("adda", ADDA)
register("mm-sada", MMSADA)
register("mdmn", MDMN)
register("coral", CORAL)
register("rsd", RSD)
register("dare-gram", DAREGRAM)
register("mcc", MCC)  # classification only (osan.config.METHOD_TASKS)


def build_method(cfg: Config, dims: dict[str, dict[str, int]], num_outputs: int) -> Method:
    if cfg.method not in REGISTRY:
        raise ConfigError(f"unknown method {cfg.method!r}; choose from {sorted(REGISTRY)}")
    method = REGISTRY[cfg.method](cfg, dims, num_outputs)
    method.name = cfg.method
    return method


__all__ = ["METHOD_PRESETS", "REGISTRY", "Method", "Phase", "build_method", "register"]
