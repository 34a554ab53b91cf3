"""The data of a bench suite: the benchmark specs of ``--data`` or ``--source/--target``, each
benchmark's domains (loaded once) and their description for the results lines, the real-text
label files, and the data of a recorded run rebuilt for ``osan select``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from osan.bench import spec as B
from osan.bench import suites as S
from osan.bench.options import BenchError, BenchOptions, DataFn
from osan.data.domain import Domain


def default_label_csv(name: str) -> Path:
    """``<repo>/../shared/data/cmu/<name>`` (the repository's sibling data folder)."""
    repo = Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "data" / "cmu" / name


MISSING_LABELS_HELP = """\
real-text needs the CMU-MOSI and CMU-MOSEI transcript files in MMSA's label.csv layout
  (CMU-MOSI: id,text,label,mode   CMU-MOSEI: video_id,clip_id,text,label,mode).
Not found: {missing}
Point to your copies with  --mosi PATH/TO/MOSI/label.csv --mosei PATH/TO/MOSEI/label.csv
(MMSA's dataset release ships them as MOSI/label.csv and MOSEI/label.csv; the defaults are
../shared/data/cmu/mosi_label.csv and mosei_label.csv next to the repository).
Encoding the transcripts needs the text extra:  pip install 'osan[text]'"""


def check_label_files(opts: BenchOptions) -> tuple[Path, Path]:
    """The MOSI and MOSEI label files of ``real-text``, or :class:`BenchError` saying what to do."""
    spec = _with_label_paths(S.BENCHMARKS["cmu"], opts)
    mosi, mosei = spec.domain("MOSI").path, spec.domain("MOSEI").path
    assert mosi is not None and mosei is not None
    missing = [str(p) for p in (mosi, mosei) if not Path(p).is_file()]
    if missing:
        raise BenchError(MISSING_LABELS_HELP.format(missing=", ".join(missing)))
    return Path(mosi), Path(mosei)


def _with_label_paths(spec: B.BenchmarkSpec, opts: BenchOptions) -> B.BenchmarkSpec:
    """The cmu-text spec with ``--mosi``/``--mosei`` in place of its files."""
    if spec.name == "cmu" and spec.origin == "cmu-text":
        if opts.mosi is not None:
            spec = spec.with_path("MOSI", opts.mosi)
        if opts.mosei is not None:
            spec = spec.with_path("MOSEI", opts.mosei)
    return spec


def resolve_specs(opts: BenchOptions) -> list[B.BenchmarkSpec] | None:
    """The benchmark specs of ``--data`` or ``--source/--target``; ``None``: the suite's own.

    Raises :class:`BenchError` (one line) for a bad spec.
    """
    if (opts.source is None) != (opts.target is None):
        raise BenchError("--source and --target go together")
    if opts.source is not None:
        if opts.data:
            raise BenchError("give either --data or --source/--target")
        return [
            B.from_files(
                opts.source,
                opts.target,  # type: ignore[arg-type]
                both_directions=opts.both_directions,
                task=opts.task or "regression",
            )
        ]
    if opts.both_directions or opts.task is not None:
        raise BenchError("--both-directions and --task go with --source/--target")
    if not opts.data:
        return None
    try:
        return [B.load_spec(d) for d in opts.data]
    except B.SpecError as e:
        raise BenchError(str(e)) from None


def default_data_fn(
    opts: BenchOptions, specs: dict[str, B.BenchmarkSpec] | None = None
) -> tuple[DataFn, Callable[[str], dict[str, Any]]]:
    """The data of each benchmark (loaded once, kept in memory) and its description for the
    results lines (the spec, each file's name and short SHA-256; generated data by size and
    seed). ``specs`` maps benchmark names to their specs (default: the built-in ones)."""
    size = opts.resolved_size()
    cache: dict[str, dict[str, tuple[Domain, Domain]]] = {}

    def spec_of(benchmark: str) -> B.BenchmarkSpec:
        spec = (specs or {}).get(benchmark) or S.BENCHMARKS.get(benchmark)
        if spec is None:
            raise BenchError(f"no benchmark spec named {benchmark!r}")
        spec = _with_label_paths(spec, opts)
        if spec.name == "cmu" and spec.origin == "cmu-text":
            check_label_files(opts)
        return spec

    def describe(benchmark: str) -> dict[str, Any]:
        try:
            spec = spec_of(benchmark)
            frac = B.file_fraction(spec, opts.size)
            return B.describe_data(
                spec, size=size, seed=opts.data_seed, fraction=frac, nan_policy=opts.nan_policy
            )
        except B.SpecError as e:
            raise BenchError(str(e)) from None

    def load(benchmark: str) -> dict[str, tuple[Domain, Domain]]:
        if benchmark not in cache:
            spec = spec_of(benchmark)
            for d in spec.domains:
                if d.path is not None and d.path.suffix.lower() == ".csv":
                    print(f"osan bench: encoding {d.path} (cached after the first time)",
                          file=sys.stderr)  # fmt: skip
            try:
                cache[benchmark] = B.load_domains(
                    spec,
                    size=size,
                    seed=opts.data_seed,
                    fraction=B.file_fraction(spec, opts.size),
                    nan_policy=opts.nan_policy,
                    text_cache_dir=opts.text_cache_dir,
                )
            except B.SpecError as e:
                raise BenchError(str(e)) from None
        return cache[benchmark]

    return load, describe


def rebuild_data(record: dict[str, Any], opts: BenchOptions) -> dict[str, tuple[Domain, Domain]]:
    """The domains a results line was trained on, rebuilt from its ``data`` (``osan select``):
    the same spec, and files with the same hashes, or :class:`BenchError`."""
    data = record.get("data") or {}
    bench = record.get("benchmark", data.get("benchmark", ""))
    ref = data.get("spec")
    if data.get("custom") or (ref is None and bench not in S.BENCHMARKS):
        raise BenchError(
            f"{record['run_id']}: trained on data osan cannot rebuild ({data}); "
            "osan select rebuilds data from benchmark specs"
        )
    if ref == "--source/--target":
        raise BenchError(
            f"{record['run_id']}: trained with --source/--target; write a spec for those files "
            "to select over its runs"
        )
    try:
        spec = B.load_spec(ref) if ref is not None else S.BENCHMARKS[bench]
    except B.SpecError as e:
        raise BenchError(f"{record['run_id']}: {e}") from None
    zero = any(d.get("nan_policy") == "zero" for d in (data.get("domains") or {}).values())
    bopts = replace(
        opts,
        size=data.get("size", data.get("fraction")),
        data_seed=int(data.get("seed") or 0),
        nan_policy="zero" if zero else opts.nan_policy,  # as the bench's --nan-policy was
    )
    load, describe = default_data_fn(bopts, {spec.name: spec})
    here = describe(spec.name)
    if not same_data(data, here):
        raise BenchError(
            f"{record['run_id']}: was trained on {data}, but this command would rebuild "
            f"{here} (point --mosi/--mosei at the same files, or restore the spec's files)"
        )
    return load(spec.name)


def same_data(recorded: dict[str, Any], current: dict[str, Any]) -> bool:
    """Whether a results line's data matches the current command's: equal on the keys both
    hold (results written before the specs hold fewer)."""
    return all(current[k] == v for k, v in recorded.items() if k in current)
