"""What every HTTP API of the project shares: RFC 9457 error documents and their OpenAPI description.

Domain-agnostic, like ``project.messaging``: it imports no domain app.
"""
