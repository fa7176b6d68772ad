"""The operator's web console, served by the gateway under ``/console``: server-rendered
pages (Jinja2) with htmx and uPlot shipped in ``static/``; sign-in with an API key of role
``admin``, ``auditor`` or ``viewer``; sessions kept by hash in the database.

Nothing here is imported unless the gateway mounts the console (``gateway`` extra);
``settings.py`` alone is read by the configuration tree.
"""
