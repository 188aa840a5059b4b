"""Printable documents (PDF): renderers from plain dicts (the JSON the GET endpoints
return) plus the provenance they were built from. See docs/documents.md."""
