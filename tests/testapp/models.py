from django.db import models


class Tally(models.Model):
    """A counter a handler increments: applying an event twice would show as a wrong count."""

    key = models.CharField(max_length=100, unique=True)
    count = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.key}={self.count}"
