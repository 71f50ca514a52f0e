# The reconciler controller image: `docker run IMAGE run --repo URL ...` or any one-shot command.
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends openssh-client git mariadb-client \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml README.md ./
COPY reconciler ./reconciler
RUN pip install --no-cache-dir . && rm -rf /src

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin reconciler
USER reconciler
WORKDIR /home/reconciler

EXPOSE 8080
ENTRYPOINT ["reconciler"]
CMD ["--help"]
