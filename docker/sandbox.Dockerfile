# The code sandbox service. It runs as root inside the container because it creates namespaces
# and switches each program to a user id of its own; programs never run as root (sandbox/isolation.py).
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends libseccomp2 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Only what the sandbox library and its service import (the project's torch and agent stack are not needed here).
RUN pip install --no-cache-dir "fastapi>=0.110" "uvicorn>=0.29" "prometheus-client>=0.20" "pydantic>=2.6" \
    "httpx>=0.27" "pyseccomp>=0.1.2"
COPY sandbox sandbox
COPY servers servers
ENV PYTHONUNBUFFERED=1
