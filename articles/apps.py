from __future__ import annotations

from project.messaging import DomainAppConfig


class ArticlesConfig(DomainAppConfig):
    name = "articles"
