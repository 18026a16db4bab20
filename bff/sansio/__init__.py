"""The BFF's decisions, without I/O (Flask's ``sansio`` is the model).

Everything here is plain functions and dataclasses over plain data: which route serves a path
and in which canonical form, which headers cross, whether a return URL or a request is safe,
how a Redis URL reads, which client authentication a provider gets. They are unit- and
property-tested on their own; Flask, Werkzeug, redis-py, requests, urllib3 and Authlib live at
the edges (``bff.proxy``, ``bff.oidc``, ``bff.store``, ``bff.endpoints``), and
``tests/unit/test_sansio_purity.py`` fails if any of them is imported from here, directly or not.
"""
