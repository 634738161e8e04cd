from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from sellers.selectors import catalog_overview


@login_required
def home(request):
    return render(request, "backoffice/home.html", {"overview": catalog_overview()})
