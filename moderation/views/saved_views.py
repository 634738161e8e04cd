"""The queue's saved views: save the current filters under a name, list, rename, share, delete."""

from __future__ import annotations

from urllib.parse import parse_qsl

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from moderation.forms import SavedQueueViewForm
from moderation.models import SavedQueueView
from moderation.selectors.saved_views import views_owned_by, visible_view
from moderation.services import saved_views as saved_view_services
from moderation.views.access import role_required
from moderation.views.queue import MODERATORS, errors_of, queue_back, refuse_back_to_queue


def _view_or_404(request, view_id: int) -> SavedQueueView:
    """A view the user may see; another's private view does not exist for them."""
    try:
        return visible_view(request.user, view_id)
    except SavedQueueView.DoesNotExist:
        raise Http404("No such view.") from None


def _queue_with(view: SavedQueueView) -> str:
    return reverse("backoffice:queue") + (f"?{view.query}" if view.query else "")


@require_POST
@role_required(*MODERATORS)
def saved_view_save(request):
    """ "Save this view" on the queue page: the page's filters under a name; refused, back to that page."""
    form = SavedQueueViewForm(request.POST)
    data = {"name": request.POST.get("name", "")[:200], "shared": request.POST.get("shared") in ("1", "on", "true")}
    if not form.is_valid():
        return refuse_back_to_queue(request, form="view", data=data, errors=form.errors)
    try:
        view = saved_view_services.save_queue_view(
            actor=request.user,
            name=form.cleaned_data["name"],
            query=request.POST.get("query", ""),
            shared=form.cleaned_data["shared"],
        )
    except ValidationError as error:
        return refuse_back_to_queue(request, form="view", data=data, errors=errors_of(error))
    messages.success(request, _("View “%(name)s” saved.") % {"name": view.name})
    return redirect(_queue_with(view))


@require_POST
@role_required(*MODERATORS)
def saved_view_delete(request, view_id: int):
    view = _view_or_404(request, view_id)
    saved_view_services.delete_queue_view(actor=request.user, view=view)  # PermissionDenied: the styled 403
    messages.success(request, _("View “%(name)s” deleted.") % {"name": view.name})
    if request.POST.get("next") == "manage":
        return redirect("backoffice:queue-views")
    return redirect(queue_back(request))


@role_required(*MODERATORS)
def saved_view_index(request):
    """The user's own views, each with its name and sharing to change; shared ones are listed on the queue."""
    return render(request, "moderation/queue/views.html", _manage_context(request))


def _manage_context(request, *, editing: int | None = None, form: SavedQueueViewForm | None = None) -> dict:
    views = views_owned_by(request.user)
    forms = {
        view.pk: form
        if view.pk == editing
        else SavedQueueViewForm(initial={"name": view.name, "shared": view.shared}, prefix=f"view-{view.pk}")
        for view in views
    }
    rows = [
        (view, forms[view.pk], " · ".join(f"{key}: {value}" for key, value in parse_qsl(view.query))) for view in views
    ]
    return {"rows": rows, "limit": SavedQueueView.MAX_PER_OWNER}


@require_POST
@role_required(*MODERATORS)
def saved_view_edit(request, view_id: int):
    """Rename a view or change its sharing; refused, the page shows the error by the name."""
    view = _view_or_404(request, view_id)
    form = SavedQueueViewForm(request.POST, prefix=f"view-{view.pk}")
    if form.is_valid():
        try:
            view = saved_view_services.rename_queue_view(
                actor=request.user, view=view, name=form.cleaned_data["name"], shared=form.cleaned_data["shared"]
            )
        except ValidationError as error:
            for field, field_errors in errors_of(error).items():
                for message in field_errors:
                    form.add_error(None if field == "__all__" else field, message)
        else:
            messages.success(request, _("View “%(name)s” saved.") % {"name": view.name})
            return redirect("backoffice:queue-views")
    if view.owner_id != request.user.pk:
        # A superuser tidying another's shared view: this page lists only one's own views.
        messages.error(request, " ".join(str(message) for errors in form.errors.values() for message in errors))
        return redirect("backoffice:queue-views")
    context = _manage_context(request, editing=view.pk, form=form)
    return render(request, "moderation/queue/views.html", context, status=400)
