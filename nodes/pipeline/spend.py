"""What a run's fal jobs cost *this process*: the jobs it submitted itself, and the jobs it needed but reused.

``new_*``: jobs this process submitted (paid, whether or not they then succeeded: fal bills a job it ran).
``reused_*``: jobs it needed without submitting them: a stored result, a re-attached job, a job an identical
run (in this or another process) submitted, or an identical segment or row of the same run. Summed over
every process that ran the same work at the same time, the ``new`` figures are what fal was asked to do.
Amounts are the pack's estimates (``avatar/pricing.py``), not fal's invoice.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Spend:
    new_jobs: int = 0
    new_usd: float = 0.0
    reused_jobs: int = 0
    reused_usd: float = 0.0

    @classmethod
    def submitted(cls, cost_usd: float) -> Spend:
        return cls(new_jobs=1, new_usd=cost_usd)

    @classmethod
    def reused(cls, cost_usd: float, jobs: int = 1) -> Spend:
        return cls(reused_jobs=jobs, reused_usd=cost_usd)

    def __add__(self, other: Spend) -> Spend:
        return Spend(
            new_jobs=self.new_jobs + other.new_jobs,
            new_usd=round(self.new_usd + other.new_usd, 4),
            reused_jobs=self.reused_jobs + other.reused_jobs,
            reused_usd=round(self.reused_usd + other.reused_usd, 4),
        )

    def to_json(self) -> dict[str, float | int]:
        return {
            "new_jobs": self.new_jobs,
            "new_spend_usd": self.new_usd,
            "reused_jobs": self.reused_jobs,
            "reused_usd": self.reused_usd,
        }


def total(spends) -> Spend:
    return sum(spends, Spend())
