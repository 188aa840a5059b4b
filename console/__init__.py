"""The quality console: a static single-page app served by the API process itself.

It is a client of the public API and nothing more: the browser calls the same endpoints,
with the same bearer token, as any other client. See docs/console.md.
"""

from console.routes import mount

__all__ = ["mount"]
