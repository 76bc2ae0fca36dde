# fhirplugin service image: slim Python, non-editable install, non-root user.
#   docker build -t fhirplugin .
#   docker run --rm -p 8080:8080 -v $PWD/deploy:/config:ro -e FHIRPLUGIN_CONFIG=/config/fhirplugin.toml fhirplugin
# Inside a container the service binds 0.0.0.0, so it refuses to start unless trusted issuers are
# configured ([[service.issuers]] in the TOML file) — or you pass --insecure for a local trial.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY fhirplugin ./fhirplugin
COPY profiles ./profiles
COPY terminology ./terminology
RUN pip install --no-cache-dir build && python -m build --wheel --outdir /dist

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    FHIRPLUGIN_SERVICE__FEEDBACK_DB=/data/feedback.sqlite3 \
    FHIRPLUGIN_CACHE_DIR=/opt/fhirplugin-cache
COPY --from=build /dist/*.whl /tmp/
# the ICD-10-CM index and the compiled FHIR tables are built into the image, so a container starts
# without parsing the XML or building fhir.resources models
RUN pip install --no-cache-dir /tmp/*.whl && rm /tmp/*.whl \
    && python -c "from fhirplugin.tx import icd; print(icd.code_set_version())" \
    && python -c "from fhirplugin.fhir import compiled; print(*compiled.prepare())" \
    && useradd --system --uid 10001 --home-dir /data --create-home fhirplugin
USER fhirplugin
WORKDIR /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["fhirplugin", "serve", "--host", "0.0.0.0", "--port", "8080"]
CMD []
