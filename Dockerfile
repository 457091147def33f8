# Labhub's container image: a static labhub binary on an empty base.
#
#   docker build -t labhub/labhub .
#
# The build stage needs Go and a C compiler (SQLite is linked in through
# cgo). GO_IMAGE picks the image that provides them; without a registry,
# scripts/build-go-image.sh makes one from Debian packages and the local Go.
ARG GO_IMAGE=golang:1.26-bookworm

FROM ${GO_IMAGE} AS build
WORKDIR /src
ENV CGO_ENABLED=1 GOFLAGS=-trimpath
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN go build -tags 'netgo osusergo sqlite_omit_load_extension' \
      -ldflags "-s -w -X main.version=${VERSION} -linkmode external -extldflags '-static'" \
      -o /out/labhub ./cmd/labhub \
 && /out/labhub --version \
 && mkdir -p /out/data /out/tmp && chmod 1777 /out/tmp

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/labhub /labhub
COPY --from=build /out/data /data
COPY --from=build /out/tmp /tmp
ENV LABHUB_DATA_DIR=/data LABHUB_LISTEN=0.0.0.0:8000
VOLUME /data
EXPOSE 8000
ENTRYPOINT ["/labhub"]
CMD ["serve"]
