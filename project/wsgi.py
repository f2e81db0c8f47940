import os

from django.core.wsgi import get_wsgi_application

from project.observability.tracing import setup_tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
# Before the application loads its middleware: Django's instrumentation adds its own (if tracing is on).
setup_tracing("web")
application = get_wsgi_application()
