FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY deploy/targets ./deploy/targets
RUN pip install --no-cache-dir .
EXPOSE 6066
CMD ["sellerperf", "worker"]
