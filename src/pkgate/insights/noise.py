"""Differential-privacy noise for the public stats, from OpenDP (the `public` extra).

Each number of a release is released through an OpenDP Laplace measurement over integer vectors
(the discrete Laplace for integers, L1 sensitivity = the most one privacy unit can change the
vector). The scale is found by OpenDP's own `binary_search_param`: the smallest scale whose
privacy map at the sensitivity is within that number's share of `public.epsilon`. The release
records the budget OpenDP's maps report, summed over its numbers (basic composition).
"""

from __future__ import annotations

from typing import Any, Final

from pkgate.extras import require

__all__ = ["Laplace"]

MECHANISM: Final = "discrete Laplace (OpenDP make_laplace over integer vectors)"


class Laplace:
    """Noise for `numbers` releases sharing `epsilon`: call with (values, sensitivity)."""

    def __init__(self, epsilon: float, numbers: int) -> None:
        require("public", "public.epsilon (differential-privacy noise)")
        import opendp.prelude as dp

        dp.enable_features("contrib")
        self._dp = dp
        self.epsilon = epsilon
        self.per_number = epsilon / numbers
        self.numbers = numbers
        self._made: dict[int, tuple[float, Any]] = {}
        self.spent = 0.0

    def _measurement(self, sensitivity: int) -> Any:
        if sensitivity not in self._made:
            dp = self._dp

            def make(scale: float) -> Any:
                return dp.m.make_laplace(
                    dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int), scale
                )

            scale = dp.binary_search_param(make, d_in=sensitivity, d_out=self.per_number)
            self._made[sensitivity] = (float(scale), make(scale))
        return self._made[sensitivity]

    def scale(self, sensitivity: int) -> float:
        return float(self._measurement(sensitivity)[0])

    def __call__(self, values: list[int], sensitivity: int) -> list[int]:
        m = self._measurement(sensitivity)[1]
        self.spent += float(m.map(sensitivity))
        return [int(v) for v in m(list(values))]

    def info(self, max_installs: int) -> dict[str, Any]:
        """What the release says about its noise (docs/public.md explains each field)."""
        return {
            "mechanism": MECHANISM,
            "epsilon_per_release": self.epsilon,
            "epsilon_per_number": self.per_number,
            "numbers": self.numbers,
            "scale_unique_sources": self.scale(1),
            "scale_installs": self.scale(max_installs),
            "privacy_unit": "one address for unique sources; one source-day for install counts",
        }
