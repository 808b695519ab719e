"""Which variant won an experiment, read off its readout, and shipping it."""

from ranking.experiments.lifecycle import ExperimentError, experiment_ship
from ranking.experiments.readout import experiment_readout
from ranking.models import Experiment, ModelVersion, Variant

# The readout's intervals are at 95 %: a lift is significant when its
# two-sided p-value is below 5 % (its interval then excludes no change).
SIGNIFICANCE = 0.05
# Guardrails a winner may not significantly worsen: by the sign of the lift
# that would be worse.
GUARDRAILS_WORSE = {"negative_actions": +1, "hides": +1, "reports": +1, "long_dwells": -1}


def _significant(lift: dict, sign: int) -> bool:
    """A lift in the direction `sign` with p below SIGNIFICANCE."""
    return (
        lift["p_value"] is not None
        and lift["p_value"] < SIGNIFICANCE
        and lift["lift"] is not None
        and lift["lift"] * sign > 0
    )


def _guardrails_hold(comparison: dict) -> bool:
    guardrails = comparison.get("guardrails") or {}
    return not any(
        _significant(guardrails[name], sign) for name, sign in GUARDRAILS_WORSE.items() if name in guardrails
    )


def winning_variant(readout: dict) -> str | None:
    """The variant to ship, from a readout's `as_dict()`: of the variants
    other than the baseline (the first), the one with the highest positive,
    significant lift that worsens no guardrail significantly (more negative
    actions, hides or reports, fewer long dwells); in an interleaving experiment, the challenger (the
    second team) when the share of engagement it won is significantly above
    one half. None when nothing won."""
    if readout.get("interleaving"):
        preference = readout["interleaving"]
        won = (
            preference["p_value"] is not None
            and preference["p_value"] < SIGNIFICANCE
            and preference["ci_low"] is not None
            and preference["ci_low"] > 0.5
        )
        return preference["teams"][1] if won else None
    winners = [c for c in readout["comparisons"] if _significant(c, +1) and _guardrails_hold(c)]
    if not winners:
        return None
    return max(winners, key=lambda comparison: comparison["lift"])["variant"]


def experiment_ship_winner(*, experiment: Experiment) -> tuple[Variant, ModelVersion]:
    """Ship the variant the readout over the experiment's whole life says
    won; refused with a message when none did."""
    name = winning_variant(experiment_readout(experiment=experiment).as_dict())
    if name is None:
        raise ExperimentError(
            f"No variant of {experiment.name} beat the baseline significantly: there is nothing to ship."
        )
    variant = experiment.variants.get(name=name)
    return variant, experiment_ship(experiment=experiment, variant=variant)
