"""Pure business rules of the usage-indicator service.

Only the standard library and python-stdnum may be imported here (a test enforces it):
no web framework, no database, no rendering.
"""
