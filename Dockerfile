# The inference API. Not built or tested on the development machines (no Docker engine
# there); kept deliberately simple. Build: docker build -t petalflow .
#
# The image holds the code, not a model: artifacts/ is never copied in. Serve either
#   - a local training, mounted read-only (run `make train` first, on the host):
#       docker run -v "$PWD/artifacts:/app/artifacts:ro" -p 8000:8000 petalflow
#   - or a model from an MLflow tracking server (see compose.yaml):
#       docker run -e MLFLOW_TRACKING_URI=http://mlflow:5000 \
#         -e MODEL_URI=models:/iris-classifier@champion -p 8000:8000 petalflow
# The API runs as the unprivileged user petalflow (uid 10001); mounted files only need to
# be world-readable (training writes them so).
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY petalflow/ petalflow/
COPY serve.py train.py MLproject conda.yaml ./
RUN useradd --create-home --uid 10001 petalflow \
    && mkdir -p /data && chown petalflow /data
ENV ARTIFACTS_DIR=/app/artifacts PREDICTION_LOG=/data/predictions.db
VOLUME /data
EXPOSE 8000
USER 10001
# The client limits of `make serve` (UVICORN_LIMITS in the Makefile; a test checks they match).
CMD ["uvicorn", "serve:app", "--host", "0.0.0.0", "--port", "8000", "--http", "serve:HttpProtocol", \
     "--limit-concurrency", "1000", "--timeout-keep-alive", "5", "--timeout-graceful-shutdown", "5"]
