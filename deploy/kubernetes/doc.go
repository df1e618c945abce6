// Package kubernetes holds tagnet's Kubernetes manifests (a kustomize base,
// the overlays cpu and cuda, the merge Job and a ServiceMonitor) and the
// tests that keep them true to the program, with no cluster:
//
//   - every manifest decodes strictly with the Kubernetes API types
//     (k8s.io/api; unknown fields are errors) and every kustomization
//     builds with the kustomize library;
//   - the invariants between the manifests, the Dockerfile and tagnet's
//     configuration hold: probe and metrics ports are the port the server
//     listens on, the grace period outlasts the preStop pause and
//     server.shutdown_timeout, the ConfigMap's deploy.yaml passes tagnet's
//     strict validation and is what runs once the image's environment is
//     applied, the pods run as the Dockerfile's uid, the Job's
//     --shard auto/N is its completions and the merge Job reads its N files;
//   - the service started as the Deployment starts it answers the probes'
//     paths;
//   - the Indexed Job runs on this machine as the Job controller would run
//     it: one real tagnet-predict process per index, with the manifest's
//     arguments and environment and its volumes mapped to folders, one
//     killed with SIGKILL and started again, then merged as the merge Job
//     does, giving the file of one unsharded run.
//
// The package has no code of its own; only its tests build the Kubernetes
// libraries.
package kubernetes
