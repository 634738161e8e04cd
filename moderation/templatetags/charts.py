"""Server-side SVG charts for the dashboard: no script, no network, readable without colour."""

from __future__ import annotations

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _

register = template.Library()

WIDTH, HEIGHT, BASELINE = 640, 160, 140


def _n(value: float) -> str:
    return f"{value:.1f}"


@register.simple_tag
def bar_chart(series, label: str = "", colour: str = "#1f4fbf"):
    """Bars for ``[(date, value), …]``: one per day, the value in each bar's tooltip, axis labels at the ends."""
    series = list(series)
    if not series:
        return format_html('<p class="muted">{}</p>', _("No data for this period."))
    top = max((value for _day, value in series), default=0) or 1
    slot = WIDTH / len(series)
    bars = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {}</title></rect>',
        (
            (
                _n(index * slot + slot * 0.1),
                _n(BASELINE - (value / top) * (BASELINE - 10)),
                _n(slot * 0.8),
                _n((value / top) * (BASELINE - 10)),
                colour,
                day.isoformat(),
                value,
            )
            for index, (day, value) in enumerate(series)
        ),
    )
    first, last = series[0][0].isoformat(), series[-1][0].isoformat()
    total = sum(value for _day, value in series)
    return format_html(
        '<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{summary}">'
        '<line x1="0" y1="{b}" x2="{w}" y2="{b}" stroke="#c8ccd4"/>{bars}'
        '<text x="0" y="{h}" font-size="11" fill="#66707f">{first}</text>'
        '<text x="{w}" y="{h}" font-size="11" fill="#66707f" text-anchor="end">{last}</text>'
        '<text x="{w}" y="10" font-size="11" fill="#66707f" text-anchor="end">{maximum}</text></svg>',
        w=WIDTH,
        h=HEIGHT,
        b=BASELINE,
        summary=_("%(label)s: %(total)s in all, at most %(top)s a day") % {"label": label, "total": total, "top": top},
        maximum=_("max %(top)s") % {"top": top},
        bars=bars,
        first=first,
        last=last,
    )


@register.simple_tag
def hbar_chart(rows, label: str = ""):
    """Horizontal bars for ``[(name, value), …]`` (sanctions by kind, decisions per moderator)."""
    rows = [(name, value) for name, value in rows]
    if not rows:
        return format_html('<p class="muted">{}</p>', _("None in this period."))
    top = max(value for _name, value in rows) or 1
    line = 22
    items = format_html_join(
        "",
        '<text x="0" y="{}" font-size="12">{}</text>'
        '<rect x="190" y="{}" width="{}" height="14" fill="#1f4fbf"><title>{}: {}</title></rect>'
        '<text x="{}" y="{}" font-size="12">{}</text>',
        (
            (
                index * line + 15,
                name,
                index * line + 4,
                _n((value / top) * 380),
                name,
                value,
                _n(196 + (value / top) * 380),
                index * line + 15,
                value,
            )
            for index, (name, value) in enumerate(rows)
        ),
    )
    return format_html(
        '<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{label}">{items}</svg>',
        w=WIDTH,
        h=len(rows) * line + 6,
        label=label,
        items=items,
    )


@register.filter
def attr_series(board, name: str):
    """``board|attr_series:"violations"``: one of the dashboard's daily series, every day of the period."""
    return board.series(name)
