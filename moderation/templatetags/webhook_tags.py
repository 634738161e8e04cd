"""The Operations page's lines about the marketplaces' webhooks, without a change to its view.

``{% webhook_problems as problems %}`` in ``moderation/webhooks/_operations*.html``: one query per
request, however many times the page asks (its red line at the top, its section at the end).
"""

from django import template

from moderation.selectors.webhooks import WebhookProblems
from moderation.selectors.webhooks import webhook_problems as read_problems

register = template.Library()


@register.simple_tag(takes_context=True)
def webhook_problems(context) -> WebhookProblems:
    request = context.get("request")
    problems = getattr(request, "_webhook_problems", None)
    if problems is None:
        problems = read_problems()
        if request is not None:
            request._webhook_problems = problems
    return problems
