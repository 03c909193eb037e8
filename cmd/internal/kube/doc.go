// Package kube writes the Kubernetes manifests of an fltk job: what
// `fltk-launch k8s` does. Start from [Generate], then [Write] the files
// into a directory for `kubectl apply -f DIR`. The objects are built as
// plain maps in the API's JSON form and encoded with gopkg.in/yaml.v3, so
// that fltk's binaries do not link k8s.io/api (about 10 MB); the tests
// decode every manifest into the API's types with the API server's strict
// field validation (unknown, duplicate or miscased fields fail). Only this
// package and its tests may import k8s.io (e2e/layers_test.go).
//
// # Usage
//
//	files, err := kube.Generate(kube.Options{Config: cfg, NP: 5})
//	err = kube.Write("k8s-demo", files)
//
// # Objects
//
// For a job whose Kubernetes name is NAME ([Name]: job.name as a DNS
// label), one file each, in the order kubectl applies them:
//
//   - 10-configmap.yaml: ConfigMap NAME-config, key config.toml: the
//     effective config, with job.world_size = NP and output.dir made
//     absolute against the image's working directory [WorkDir] (it is
//     where the results volume is mounted: "results" → /fltk/results).
//   - 20-secret.yaml: Secret NAME-token, key token: a fresh random NATS
//     token (mode 0600).
//   - 30-pvc.yaml: PersistentVolumeClaim NAME-results (ReadWriteOnce),
//     mounted at output.dir in rank 0's pod, the only rank that writes
//     results.
//   - 40-service.yaml: headless Service NAME (clusterIP None,
//     publishNotReadyAddresses) selecting every pod of the job; with the
//     pods' subdomain NAME, rank 0 is NAME-0.NAME.
//   - 50-job-*.yaml: Indexed Jobs. Job NAME runs rank 0 (completion index
//     0), "fltk run /etc/fltk/config.toml --serve $(POD_IP)": it embeds
//     the job's NATS server on its pod IP. The clients run as one Indexed
//     Job per run of consecutive ranks that share a resource profile
//     (configs.Deploy.ProfileOf): NAME-PROFILE-rFIRST, completions =
//     parallelism = the run's length, and the rank is FIRST + the
//     completion index (FLTK_RANK_OFFSET + JOB_COMPLETION_INDEX, which
//     runtime.ConfigFromEnv adds up).
//
// # Why several Jobs
//
// The pods of one Job share a template, so one Job cannot give rank 1 the
// "slow" profile's 0.5 CPU and rank 3 the "default" 1.25. One Job per
// profile run keeps each rank's requests and limits exactly its profile
// (requests = limits: Guaranteed QoS) at the cost of an index offset for
// the clients; rank 0's Job has offset 0, so there the completion index is
// the rank. The alternatives: one Job per rank (NP Jobs, and no use for
// the index), or one Job with the largest profile for every rank (slow
// clients would not be slow).
//
// # Environment
//
// Every pod gets FLTK_WORLD_SIZE, FLTK_NATS_URL (nats://NAME-0.NAME:PORT),
// FLTK_JOB_ID, FLTK_TOKEN (from the Secret), FLTK_HOST (the pod's name:
// pods do not share /dev/shm), FLTK_RANK_OFFSET and JOB_COMPLETION_INDEX
// (downward API: the batch.kubernetes.io/job-completion-index
// annotation), and POD_IP (status.podIP).
//
// # Security
//
// Pods run as UID/GID 65532 (runAsNonRoot, fsGroup 65532 so the results
// volume is writable), with a read-only root filesystem, no privilege
// escalation, every capability dropped, the RuntimeDefault seccomp profile
// and no service account token. /tmp is an emptyDir and /dev/shm an
// emptyDir in memory.
package kube
