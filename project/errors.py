"""The one base class of the errors a domain rule raises (HackSoft's ``ApplicationError``).

Models and services raise a ``DomainError`` (or a subclass of their own app) when a request
breaks a business rule; each edge maps it once: the API to a problem+json document
(project.api.errors), the admin to an error message (project.admin), a management command to a
non-zero exit with the message (project.commands). Nothing at an edge translates a domain error
by hand.
"""

from __future__ import annotations


class DomainError(Exception):
    """A business rule refused the request.

    ``code`` is stable and machine-readable (for logs, tests, and the API's problem type where
    its status has none of its own); ``message`` is for people; ``field`` names the input at
    fault, where one is. A subclass sets its own ``code`` (and, for the API, ``status``, and a
    default ``field``) as class attributes.
    """

    code: str = "domain-rule"
    # The HTTP status of the problem document: 400 for input a rule refuses, 409 for a state
    # that does not allow the request (an illegal transition), 404 for an unknown reference.
    status: int = 400
    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message

    def field_errors(self) -> dict[str, list[str]]:
        """Each input at fault -> its messages; empty when the error names no input."""
        return {self.field: [self.message]} if self.field else {}


class IllegalTransition(DomainError):
    """The thing is not in a state that allows this move (confirming a failed order...)."""

    code = "illegal-transition"
    status = 409
