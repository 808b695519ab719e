"""How the experiment page writes a readout's numbers: an en dash where a
figure is not defined (too few users), lifts as signed percents."""

from django import template

register = template.Library()

UNDEFINED = "\N{EN DASH}"


@register.filter
def number(value, digits: int = 3) -> str:
    return UNDEFINED if value is None else f"{value:.{digits}f}"


@register.filter
def percent(value, digits: int = 1) -> str:
    """A relative change, 0.034 -> "+3.4 %"."""
    return UNDEFINED if value is None else f"{value * 100:+.{digits}f} %"


@register.filter
def p_value(value) -> str:
    if value is None:
        return UNDEFINED
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


@register.filter
def total(values) -> float:
    return sum(values)
