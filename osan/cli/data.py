"""``osan data generate | inspect | encode-text | convert``."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from osan.cli.common import UsageError, check_out_folder, jsonable, load_data, write_text

SIZE_NAMES = ("tiny", "small", "large")
#: Largest ``--size`` multiplier (large is 5; 100 is ~150k source samples).
SIZE_MAX = 100.0


def cmd_data(args: argparse.Namespace) -> int:
    if args.data_command == "generate":
        generate_files(
            args.name, args.out, seed=args.seed, size=args.size, dims=args.dims, shift=args.shift
        )
        print(f"wrote {args.out}/source.pkl, {args.out}/target.pkl, {args.out}/meta.json")
        return 0
    if args.data_command == "inspect":
        from osan.data.io import describe

        print(describe(load_data(args.file, args, task=args.task)))
        return 0
    if args.data_command == "encode-text":
        from osan.data.label_csv import encode_label_csv
        from osan.data.mmsa import save_mmsa

        if args.out.is_dir():
            raise UsageError(f"--out {args.out}: is a folder; give a file name (e.g. mosi.pkl)")

        domain = encode_label_csv(args.label_csv, cache_dir=args.cache_dir)
        save_mmsa(domain, args.out)
        print(f"wrote {args.out} ({sum(len(s) for s in domain.splits.values())} samples)")
        return 0
    if args.data_command == "convert":
        from osan.data.convert import convert

        domain = convert(
            args.input, args.out, format=args.format, task=args.task,
            nan_policy=args.nan_policy, compress=args.compress, split=args.split,
        )  # fmt: skip
        n = sum(len(s) for s in domain.splits.values())
        print(f"wrote {args.out} ({domain.task}, {n} samples, splits {', '.join(domain.splits)})")
        return 0
    raise AssertionError(args.data_command)


def generate_files(
    name: str,
    out: Path,
    *,
    seed: int = 0,
    size: str | float = "small",
    dims: str | None = None,
    shift: str = "builtin",
) -> tuple[Path, Path]:
    """Write the built-in benchmark ``name`` (``msa`` | ``vtc``; msa with the shift ``shift``,
    one of :data:`osan.data.generators.msa_zoo.SHIFT_KINDS` or ``builtin``) as
    ``out/source.pkl``, ``out/target.pkl`` and ``out/meta.json`` (``osan data generate``);
    returns the two domains' paths."""
    from osan.data.generators import generate
    from osan.data.mmsa import save_mmsa

    if dims is not None and name != "msa":
        raise UsageError(f"--dims applies to msa only, not {name}")
    if shift != "builtin" and name != "msa":
        raise UsageError(f"--shift {shift} applies to msa only, not {name}")
    if shift != "builtin" and dims is not None:
        raise UsageError(f"--dims goes with the built-in shift, not --shift {shift}")
    kw: dict[str, object] = {} if dims is None else {"dims": dims}
    if shift != "builtin":
        kw["kind"] = shift
    size_ = _generate_size(str(size))
    if not 0 <= seed < 2**63:
        raise UsageError(f"--seed must lie in [0, 2^63), got {seed}")
    check_out_folder(out)
    source, target = generate(name, seed=seed, size=size_, **kw)
    out.mkdir(parents=True, exist_ok=True)
    save_mmsa(source, out / "source.pkl")
    save_mmsa(target, out / "target.pkl")
    meta = {
        "benchmark": name,
        "seed": seed,
        "size": size,
        "task": source.task,
        "classes": source.classes,
        "source": {
            "name": source.name,
            "dims": source.dims(),
            "n": {s: len(sp) for s, sp in source.splits.items()},
        },
        "target": {
            "name": target.name,
            "dims": target.dims(),
            "n": {s: len(sp) for s, sp in target.splits.items()},
        },
        **{k: v for k, v in source.meta.items() if jsonable(v)},
    }
    write_text(out / "meta.json", json.dumps(meta, indent=2) + "\n")
    return out / "source.pkl", out / "target.pkl"


def _generate_size(value: str) -> str | float:
    if value in SIZE_NAMES:
        return value
    try:
        x = float(value)
    except ValueError:
        raise UsageError(
            f"--size must be one of {', '.join(SIZE_NAMES)} or a multiplier, got {value!r}"
        ) from None
    if not (math.isfinite(x) and 0 < x <= SIZE_MAX):
        raise UsageError(f"--size multiplier must lie in (0, {SIZE_MAX:g}], got {value}")
    return x
