"""stub"""

from dataclasses import dataclass


@dataclass(frozen=True)
class VTCShift:
    shift: float = 1.0


def generate_vtc(**kw):
    raise NotImplementedError
