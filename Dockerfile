# tagnet-predict: the predictor (batch prediction and the HTTP service) on
# ONNX Runtime 1.29.0, in an image holding nothing of the trainer.
#
#   docker build -t tagnet-predict .                                  # CPU
#   docker build --build-arg VARIANT=cuda -t tagnet-predict:cuda .    # NVIDIA GPU
#
#   docker run --rm -p 8080:8080 -v "$PWD/models:/models:ro" tagnet-predict
#   docker run --rm --gpus all -p 8080:8080 -v "$PWD/models:/models:ro" tagnet-predict:cuda
#   docker run --rm -v "$PWD/models:/models:ro" -v "$PWD/photos:/in:ro" -v "$PWD/out:/out" \
#     tagnet-predict predict --predict.output /out/results.csv /in
#
# The model is read from /models/model.onnx ($TAGNET_MODEL_PATH); every
# other setting is a TAGNET_* variable, a flag, or --config FILE (see
# config/examples/deploy.yaml). The image listens on 0.0.0.0:8080 (the
# binary alone defaults to 127.0.0.1:8080) and runs as an unprivileged user.
#
# The builder's fetch, build and check steps live in
# scripts/docker-steps.sh, which internal/dockercheck also runs outside
# Docker to keep this file honest.

# cpu or cuda.
ARG VARIANT=cpu
# The CUDA variant's runtime base: CUDA 13.0 and cuDNN 9 runtime libraries.
ARG CUDA_BASE=nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04

# ─── builder: ONNX Runtime from npm, tagnet-predict with cgo ───────────────
FROM golang:1.26-bookworm AS builder
ARG VARIANT
# libvips-dev: the image decoder tagnet-predict links through cgo
# (preprocess/vips); npm: ONNX Runtime comes from the npm registry.
RUN apt-get update \
 && apt-get install -y --no-install-recommends npm libvips-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY scripts/docker-steps.sh scripts/docker-steps.sh
RUN scripts/docker-steps.sh fetch-ort /out/lib
RUN scripts/docker-steps.sh fetch-providers "$VARIANT" /out/lib
COPY go.mod go.sum ./
RUN scripts/docker-steps.sh deps
# Only what the predictor is built from: no trainer/ in the build context
# of this stage, so a predictor that reached the trainer would not build.
COPY cmd/ cmd/
COPY config/ config/
COPY models/ models/
COPY predictor/ predictor/
COPY preprocess/ preprocess/
COPY internal/ internal/
RUN scripts/docker-steps.sh build /out/bin
RUN scripts/docker-steps.sh check "$VARIANT" /out/bin /out/lib

# ─── runtime bases, one per variant ────────────────────────────────────────
# Each gets the libvips runtime (libjpeg-turbo, libpng, libwebp, libheif,
# lcms2, libexif, libtiff inside) and nothing of the trainer.
FROM debian:bookworm-slim AS runtime-cpu
RUN apt-get update \
 && apt-get install -y --no-install-recommends libvips42 \
 && rm -rf /var/lib/apt/lists/*
ENV TAGNET_RUNTIME_PROVIDERS=cpu

FROM ${CUDA_BASE} AS runtime-cuda
# Ubuntu 24.04 names the same library libvips42t64.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libvips42t64 \
 && rm -rf /var/lib/apt/lists/*
ENV TAGNET_RUNTIME_PROVIDERS=cuda

# ─── the image ─────────────────────────────────────────────────────────────
FROM runtime-${VARIANT}
COPY --from=builder /out/bin/tagnet-predict /opt/tagnet/bin/tagnet-predict
# libonnxruntime.so.1 (and, for cuda, the provider libraries beside it,
# where ONNX Runtime looks for them) at the path ort.Locate checks.
COPY --from=builder /out/lib/ /opt/tagnet/lib/
ENV TAGNET_MODEL_PATH=/models/model.onnx \
    TAGNET_SERVER_LISTEN=0.0.0.0:8080 \
    TAGNET_LOG_FORMAT=json
# Any unprivileged uid works: the image's files are world-readable and the
# process writes only where a volume is mounted.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/opt/tagnet/bin/tagnet-predict"]
CMD ["serve"]
