# syntax=docker/dockerfile:1
# The background-jobs app (host.json, function_app.py, functions/, shared/) run by funchost,
# the pure-Python Functions host: the container path for AKS-style hosting (infra/k8s/,
# docs/infra.md). Build from the repository root:
#   docker build -t funchost-jobs .
#   docker run --rm -p 8080:80 -e AzureWebJobsStorage=... funchost-jobs
# Like the Azure Functions base images, the host listens on the port of ASPNETCORE_URLS
# (http://+:80 here; infra/k8s/ sets 8080) and the app lives in /home/site/wwwroot.

ARG PYTHON_VERSION=3.11

# --- build: a virtual environment with the app's requirements and the host ---------------------
FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# python-qpid-proton (a dependency of the host, for its Service Bus emulator) ships no Linux
# wheels: it compiles, against OpenSSL.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# What Azure installs on deploy: the app's runtime dependencies (changes least often).
COPY requirements.txt ./
RUN pip install -r requirements.txt
# The host, from the project metadata (README.md is part of it).
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install .

# --- runtime: slim Python, the environment, the app; no compiler, not root ---------------------
FROM python:${PYTHON_VERSION}-slim
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /home/site --no-create-home app
COPY --from=build /opt/venv /opt/venv
WORKDIR /home/site/wwwroot
COPY host.json function_app.py ./
COPY functions ./functions
COPY shared ./shared
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AzureWebJobsScriptRoot=/home/site/wwwroot \
    AZURE_FUNCTIONS_ENVIRONMENT=Production \
    ASPNETCORE_URLS=http://+:80
USER 10001:10001
EXPOSE 80
# Liveness of the host itself (anonymous, no dependency touched), on the port ASPNETCORE_URLS
# names, as funchost reads it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, re, urllib.request; m = re.search(r':(\\d+)', os.environ.get('ASPNETCORE_URLS', '').split(';')[0].split('//')[-1]); urllib.request.urlopen('http://127.0.0.1:%s/admin/host/ping' % (m.group(1) if m else '80'), timeout=4)"]
CMD ["funchost", "start", "--app-dir", "/home/site/wwwroot"]
