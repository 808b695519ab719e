"""How the Ranking page writes a model's per-head metrics: a head with too
few positives in its validation set says so instead of showing an AUC."""

from django import template

register = template.Library()

# Below this many positives a head's ROC-AUC says nothing: near 0.5 its
# standard error is about 1 / sqrt(12 n) for n positives among many
# negatives (Hanley and McNeil, 1982), a 95 % interval of +-0.25 at n = 5,
# where 0.4 and 0.6 are both chance, and +-0.10 at n = 30.
AUC_MIN_POSITIVES = 30
UNDEFINED = "\N{EN DASH}"


@register.filter
def too_few_positives(head: dict | None) -> bool:
    """Whether a head's metrics (a model's `metrics["heads"][name]`) rest on
    too few positives to judge. Unknown counts (older models) are judged."""
    positives = (head or {}).get("positives")
    return positives is not None and positives < AUC_MIN_POSITIVES


@register.filter
def head_auc(metrics: dict | None, head: str) -> str:
    """A head's ROC-AUC for the versions table: three decimals, "n = 5, too
    few" under AUC_MIN_POSITIVES, an en dash when not recorded."""
    found = ((metrics or {}).get("heads") or {}).get(head)
    if too_few_positives(found):
        return f"n = {found['positives']}, too few"
    auc = (found or {}).get("roc_auc")
    return UNDEFINED if auc is None else f"{auc:.3f}"


@register.filter
def signed(weight: float) -> str:
    """A weight with its sign: +0.5, -74 (a minus sign, not a hyphen)."""
    return f"{weight:+g}".replace("-", "\N{MINUS SIGN}")


@register.simple_tag
def min_positives() -> int:
    return AUC_MIN_POSITIVES
