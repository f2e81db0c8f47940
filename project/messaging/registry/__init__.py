"""The registry: who subscribes to what (routing), the projections apps can rebuild, the start-up
checks, which database each app's rows go to, and the AppConfig that registers a domain app."""
