# The service image: API and projections, always against an external PostgreSQL
# (DATABASE_URL is required here). The embedded PostgreSQL of the `embedded` extra is
# not installed, so an unset DATABASE_URL stops the container with a clear error.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
# Printable documents (docs/documents.md): WeasyPrint lays out with Pango; Noto CJK is embedded.
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY domain domain
COPY application application
COPY projections projections
COPY api api
COPY qualtrace qualtrace
RUN pip install --no-cache-dir .
# A non-root user with a writable data directory (QUALTRACE_DATA_DIR) and working directory.
RUN useradd --create-home --uid 10001 qualtrace \
    && mkdir -p /var/lib/qualtrace \
    && chown qualtrace:qualtrace /var/lib/qualtrace
ENV QUALTRACE_DATA_DIR=/var/lib/qualtrace
USER qualtrace
WORKDIR /var/lib/qualtrace
EXPOSE 8000
CMD ["qualtrace", "serve", "--host", "0.0.0.0", "--port", "8000"]
