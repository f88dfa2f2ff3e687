"""A faithful fake of the eTermin API and its Web Push, for tests, the demo and benchmarks.

``server.create_app()`` serves the signed REST API under ``/api/...`` and control endpoints
under ``/_sandbox/...``; ``terminflow sandbox`` runs it with uvicorn.
"""
