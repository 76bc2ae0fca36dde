# fhirplugin service image: Python 3.11, the fhirplugin wheel and its pinned dependencies installed
# into a venv from a local wheelhouse (no index), non-root user, feedback in the /data volume.
#
#   deploy/build-image.sh [TAG]     # wheelhouse, then docker build (a local Debian base when no
#                                   # registry answers: deploy/build-base.sh)
#   docker run --rm -p 8080:8080 -v "$PWD/deploy:/config:ro" -e FHIRPLUGIN_CONFIG=/config/fhirplugin.toml fhirplugin
#
# BASE (build argument) is any image with python3 >= 3.11 and its venv module: python:3.11-slim by
# default, fhirplugin-base:bookworm from deploy/build-base.sh offline.
# Inside a container the service binds 0.0.0.0, so it refuses to start unless trusted issuers are
# configured ([[service.issuers]] in the TOML file), or you pass --insecure for a local trial.
# The HEALTHCHECK asks the port the service listens on (--port, or FHIRPLUGIN_PORT; 8080).
ARG BASE=python:3.11-slim
FROM ${BASE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PATH=/opt/fhirplugin/bin:$PATH \
    FHIRPLUGIN_SERVICE__FEEDBACK_DB=/data/feedback.sqlite3 \
    FHIRPLUGIN_CACHE_DIR=/opt/fhirplugin-cache \
    FHIRPLUGIN_PORT=8080
# deploy/build-image.sh fills build/wheelhouse: the fhirplugin wheel and every dependency at the
# versions pinned in deploy/constraints.txt; the image installs from it without any index
COPY build/wheelhouse /tmp/wheelhouse
COPY deploy/constraints.txt /tmp/constraints.txt
# the ICD-10-CM index and the compiled FHIR tables are built into the image, so a container starts
# without parsing the XML or building fhir.resources models
RUN python3 -m venv /opt/fhirplugin \
    && /opt/fhirplugin/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheelhouse \
        -c /tmp/constraints.txt fhirplugin \
    && rm -rf /tmp/wheelhouse /tmp/constraints.txt \
    && /opt/fhirplugin/bin/python -c "from fhirplugin.tx import icd; print(icd.code_set_version())" \
    && /opt/fhirplugin/bin/python -c "from fhirplugin.fhir import compiled; print(*compiled.prepare())" \
    && useradd --system --uid 10001 --home-dir /data --create-home fhirplugin
COPY deploy/entrypoint.sh /usr/local/bin/fhirplugin-entrypoint
USER fhirplugin
WORKDIR /data
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import os,sys,urllib.request; p='/tmp/fhirplugin.port'; port=open(p).read().strip() if os.path.exists(p) else os.environ.get('FHIRPLUGIN_PORT', '8080'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["fhirplugin-entrypoint"]
CMD []
