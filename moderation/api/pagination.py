"""Pagination of the sellers' API lists that are not querysets."""

from __future__ import annotations

import math
from collections.abc import Callable

from django.core.paginator import Page
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination

# PostgreSQL's OFFSET is a bigint: a page further than that cannot exist.
_MAX_OFFSET = 2**63 - 1

# (limit, offset) → (the rows, how many there are in all)
PageFetcher = Callable[[int, int], tuple[list, int]]


class CountedPagePagination(PageNumberPagination):
    """DRF's page numbers (same parameters, links, answers and schema) over a read that
    returns its total with its rows, so a page costs one query instead of a count and a slice.

    A number past the last page answers 404 "Invalid page.", as DRF does; ``?page=last``
    needs the total before it knows which rows to read, so that one costs two queries.
    """

    def paginate_fetched(self, fetch: PageFetcher, request) -> list:
        self.request = request
        page_size = self.get_page_size(request)
        asked = request.query_params.get(self.page_query_param) or 1
        if asked in self.last_page_strings:
            _rows, total = fetch(1, 0)
            number = max(1, math.ceil(total / page_size))
        else:
            number = self._page_number(asked)
        rows, total = fetch(page_size, (number - 1) * page_size)
        if not rows and number > 1:
            raise self._invalid(asked, "That page contains no results")
        paginator = self.django_paginator_class([], page_size)
        paginator.count = total  # a cached_property: the page's read counted them already
        self.page = Page(rows, number, paginator)
        if paginator.num_pages > 1 and self.template is not None:
            self.display_page_controls = True  # the browsable API's page links
        return rows

    def _page_number(self, asked) -> int:
        # As Django's Paginator.validate_number reads it.
        try:
            number = int(asked)
        except (TypeError, ValueError):
            raise self._invalid(asked, "That page number is not an integer") from None
        if number < 1:
            raise self._invalid(asked, "That page number is less than 1")
        if (number - 1) * self.get_page_size(self.request) > _MAX_OFFSET:
            raise self._invalid(asked, "That page contains no results")
        return number

    def _invalid(self, asked, message: str) -> NotFound:
        return NotFound(self.invalid_page_message.format(page_number=asked, message=message))
