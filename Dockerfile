# The drove image: nothing but the static binary (no base image is pulled).
# Build it with `make image`, which compiles bin/drove with CGO_ENABLED=0 and
# stamps the version with -ldflags first.
FROM scratch
ARG VERSION=dev
LABEL org.opencontainers.image.title="drove" \
      org.opencontainers.image.description="Container orchestrator with built-in Raft consensus" \
      org.opencontainers.image.version="${VERSION}"
COPY bin/drove /drove
# A scratch image has no /tmp; create it and the default data dir.
WORKDIR /tmp
WORKDIR /data
EXPOSE 4000 4001 4002 4002/udp
ENTRYPOINT ["/drove"]
CMD ["controller", "--help"]
