"""``schemac import``: specs written from a live database or a directory of SQL files.

Engine catalog readers (:mod:`schemac.importing.catalog`) return what the database has; the rest of
this package maps it to a spec.
"""
