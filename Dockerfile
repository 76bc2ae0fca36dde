# fhirplugin service image: Python 3.11, the wheel installed (not editable) into a venv from pinned
# constraints, non-root user, feedback in the /data volume.
#
#   docker build -t fhirplugin .                                     # base python:3.11-slim
#   deploy/build-base.sh && docker build --network host \
#       --build-arg BASE=fhirplugin-base:bookworm -t fhirplugin .    # no registry: a local Debian base
#   docker run --rm -p 8080:8080 -v "$PWD/deploy:/config:ro" -e FHIRPLUGIN_CONFIG=/config/fhirplugin.toml fhirplugin
#
# Inside a container the service binds 0.0.0.0, so it refuses to start unless trusted issuers are
# configured ([[service.issuers]] in the TOML file), or you pass --insecure for a local trial.
# The HEALTHCHECK asks the port in FHIRPLUGIN_PORT, which `--port` (or -e FHIRPLUGIN_PORT=…) sets.
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
WORKDIR /src
RUN python3 -m venv /opt/build && /opt/build/bin/pip install --no-cache-dir "build>=1.2" "hatchling>=1.27"
COPY pyproject.toml README.md ./
COPY fhirplugin ./fhirplugin
COPY profiles ./profiles
COPY terminology ./terminology
RUN /opt/build/bin/python -m build --no-isolation --wheel --outdir /dist

FROM ${BASE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PATH=/opt/fhirplugin/bin:$PATH \
    FHIRPLUGIN_SERVICE__FEEDBACK_DB=/data/feedback.sqlite3 \
    FHIRPLUGIN_CACHE_DIR=/opt/fhirplugin-cache \
    FHIRPLUGIN_PORT=8080
COPY deploy/constraints.txt /tmp/constraints.txt
COPY --from=build /dist/*.whl /tmp/
# the ICD-10-CM index and the compiled FHIR tables are built into the image, so a container starts
# without parsing the XML or building fhir.resources models
RUN python3 -m venv /opt/fhirplugin \
    && /opt/fhirplugin/bin/pip install --no-cache-dir -c /tmp/constraints.txt /tmp/*.whl \
    && rm /tmp/*.whl /tmp/constraints.txt \
    && /opt/fhirplugin/bin/python -c "from fhirplugin.tx import icd; print(icd.code_set_version())" \
    && /opt/fhirplugin/bin/python -c "from fhirplugin.fhir import compiled; print(*compiled.prepare())" \
    && useradd --system --uid 10001 --home-dir /data --create-home fhirplugin
COPY deploy/entrypoint.sh /usr/local/bin/fhirplugin-entrypoint
USER fhirplugin
WORKDIR /data
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import os,sys,urllib.request; port=open('/tmp/fhirplugin.port').read().strip() if os.path.exists('/tmp/fhirplugin.port') else os.environ.get('FHIRPLUGIN_PORT', '8080'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["fhirplugin-entrypoint"]
CMD []
