"""Pages for readers: the list of public articles (paginated, searchable) and each article.

Thin views: they read through publishing.selectors and render templates under
publishing/templates/publishing/. Nothing here is cached, as nothing in the public API is: a
withdrawn article disappears from the site the moment its copy is withdrawn.
"""

from __future__ import annotations

from django.core.paginator import InvalidPage, Page
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_safe

from publishing import selectors
from publishing.site.forms import ArticleSearchForm


def _list_url(*, query: str, number: int) -> str:
    """The list's address for a page, without the parameters at their defaults (the canonical form)."""
    params = {name: value for name, value in (("q", query), ("page", number)) if value and value != 1}
    path = reverse("public-site-article-list")
    return f"{path}?{urlencode(params)}" if params else path


def _not_found(request: HttpRequest, *, reason: str) -> HttpResponse:
    return render(
        request,
        "publishing/not_found.html",
        {"reason": reason, "search_form": ArticleSearchForm()},
        status=404,
    )


@require_safe
def article_list(request: HttpRequest) -> HttpResponse:
    """Newest first, ``?page=N``; with ``?q=words`` the articles matching them, best match first."""
    search_form = ArticleSearchForm(request.GET)
    query = search_form.cleaned_data["q"] if search_form.is_valid() else ""
    number = request.GET.get("page") or None
    try:
        page: Page = selectors.public_article_page(number=number, query=query)
    except InvalidPage:
        return _not_found(request, reason="There is no such page of articles.")
    return render(
        request,
        "publishing/article_list.html",
        {
            "page": page,
            "articles": page.object_list,
            "query": query,
            "search_form": search_form,
            "canonical_url": request.build_absolute_uri(_list_url(query=query, number=page.number)),
            "previous_url": _list_url(query=query, number=page.previous_page_number()) if page.has_previous() else "",
            "next_url": _list_url(query=query, number=page.next_page_number()) if page.has_next() else "",
        },
    )


@require_safe
def article_detail(request: HttpRequest, key: str) -> HttpResponse:
    """One article, at its slug. Its id (the feeds' guid) redirects there, permanently."""
    article = selectors.public_article_for_slug_or_id(key)
    if article is None:
        return _not_found(request, reason="No published article lives at this address.")
    path = reverse("public-site-article-detail", kwargs={"key": article.slug})
    if key != article.slug:
        return HttpResponsePermanentRedirect(path)
    return render(
        request,
        "publishing/article_detail.html",
        {"article": article, "search_form": ArticleSearchForm(), "canonical_url": request.build_absolute_uri(path)},
    )
