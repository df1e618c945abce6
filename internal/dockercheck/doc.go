// Package dockercheck keeps the Dockerfile honest where no Docker engine
// runs. Its test reads the Dockerfile, checks that every RUN of the
// builder stage names a step that scripts/docker-steps.sh has, then
// performs the builder stage outside Docker for the cpu variant: it copies
// the files the builder's COPY lines take into a temporary source folder,
// runs the same steps there (with /out mapped into the temporary folder),
// and checks what the final stage's COPY --from=builder lines take: the
// tagnet-predict binary (present, no OpenBLAS in its ldd output, answers
// --help) and the ONNX Runtime library (the expected sha256), at the paths
// the predictor looks for them. The package has no code of its own.
package dockercheck
