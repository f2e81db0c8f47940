import os

from django.core.asgi import get_asgi_application

from project.observability.tracing import setup_tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
# Before the application loads its middleware: Django's instrumentation adds its own (if tracing is on).
setup_tracing("web")
application = get_asgi_application()
