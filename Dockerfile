FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain domain
COPY application application
COPY projections projections
COPY api api
COPY qualtrace qualtrace
RUN pip install --no-cache-dir .
RUN useradd --create-home qualtrace
USER qualtrace
EXPOSE 8000
CMD ["qualtrace", "serve", "--host", "0.0.0.0", "--port", "8000"]
