"""What operators use: services and selectors (replays, purges, timelines), the admin and API, health,
the scraped gauges and the event catalog. The top layer: nothing below imports it."""
