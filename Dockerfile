# The inference API. Not built or tested on the development machines (no Docker
# engine there); kept deliberately simple. Build: docker build -t petalflow .
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY petalflow/ petalflow/
COPY serve.py train.py MLproject conda.yaml ./
# Models come from MODEL_URI (a tracking server) or a mounted folder:
#   docker run -v "$PWD/artifacts:/app/artifacts:ro" -p 8000:8000 petalflow
ENV ARTIFACTS_DIR=/app/artifacts PREDICTION_LOG=/data/predictions.db
RUN mkdir -p /data && chown nobody /data
VOLUME /data
EXPOSE 8000
USER nobody
CMD ["uvicorn", "serve:app", "--host", "0.0.0.0", "--port", "8000"]
