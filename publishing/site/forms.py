from __future__ import annotations

from django import forms


class ArticleSearchForm(forms.Form):
    """The reader's search box. Blank means no search: the whole list is shown."""

    # The API's limit for the same query (publishing.api.serializers.PublicSearchSerializer).
    q = forms.CharField(max_length=200, required=False, strip=True, label="Search articles")
