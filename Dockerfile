# Multi-stage build of the single ordersys binary: static (no cgo: SQLite is pure Go), run as a
# non-root user on an empty base image.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ordersys ./cmd/ordersys \
 && mkdir -p /out/data && chown 65532:65532 /out/data

FROM scratch
COPY --from=build /out/ordersys /ordersys
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
EXPOSE 3001
ENTRYPOINT ["/ordersys"]
# Without arguments the image runs everything in one container; compose runs `serve SERVICE`.
CMD ["dev", "--addr", "0.0.0.0:3001", "--data-dir", "/data", "--kafka-addr", "0.0.0.0:9092"]
