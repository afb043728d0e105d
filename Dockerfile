# The operator image: `hedgeops operator` with the bundled market data (Paper books replay it).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY hedgeops ./hedgeops
COPY crds ./crds
COPY data ./data
RUN pip install --no-cache-dir . && useradd --uid 10001 --no-create-home hedgeops
ENV HEDGEOPS_DATA_DIR=/app/data PYTHONUNBUFFERED=1
USER 10001
# 8080: kopf liveness probe; 9108: Prometheus metrics.
EXPOSE 8080 9108
ENTRYPOINT ["hedgeops"]
CMD ["operator"]
