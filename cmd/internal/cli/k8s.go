package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/fltk-go/fltk/cmd/internal/kube"
)

const k8sUsage = `Usage: fltk-launch k8s [-np N] [-o DIR] CONFIG.toml

Writes the Kubernetes manifests of one fltk job into DIR (default
./k8s-<job.name>/), one object per file, for "kubectl apply -f DIR":
a ConfigMap with the config, a Secret with a fresh NATS token, a
PersistentVolumeClaim for rank 0's results (mounted at output.dir), a
headless Service through which the ranks reach rank 0's NATS server, and
Indexed Jobs: one for rank 0, one per run of client ranks sharing a
resource profile ([deploy] profiles), with requests = limits per profile,
backoffLimit and activeDeadlineSeconds from [deploy], and the image
deploy.image. Nothing is sent to a cluster. Manifests of an earlier run
in DIR are replaced; any other file in DIR is an error.
See docs/kubernetes.md.

Exit codes: 0 written, 2 usage or config error (also -np < 2, an unknown
profile, a DIR that cannot be written).

Flags:
`

// K8s runs "fltk-launch k8s": it writes the Kubernetes manifests of a job.
func K8s(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fltk-launch k8s", flag.ContinueOnError)
	fs.SetOutput(stderr)
	np := fs.Int("np", 0, "number of ranks, ≥ 2 (default job.world_size)")
	out := fs.String("o", "", "output directory (default ./k8s-<job.name>)")
	jobID := fs.String("job", "", "FLTK_JOB_ID (default job.name plus a random suffix)")
	port := fs.Int("port", kube.NATSPort, "port of rank 0's NATS server")
	size := fs.String("results-size", "1Gi", "storage request of the results volume")
	fs.Usage = func() {
		fmt.Fprint(stderr, k8sUsage)
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["np"] && *np < 2 {
		return usagef("-np must be ≥ 2 (the federator and a client), got %d", *np)
	}
	cfg, err := loadConfig(pos, "fltk-launch k8s")
	if err != nil {
		return err
	}
	if !set["np"] {
		*np = cfg.Job.WorldSize
	}
	if *out == "" {
		*out = "k8s-" + cfg.Job.Name
	}
	files, err := kube.Generate(kube.Options{
		Config: cfg, NP: *np, JobID: *jobID, Port: *port, ResultsSize: *size, Source: filepath.Base(pos[0]),
	})
	if errors.Is(err, kube.ErrWorldSize) || errors.Is(err, kube.ErrOptions) {
		return usagef("%v", err)
	}
	if err != nil {
		return err
	}
	if err := kube.Write(*out, files); err != nil {
		return usagef("-o: %v", err)
	}
	for _, f := range files {
		fmt.Fprintln(stdout, filepath.Join(*out, f.Name))
	}
	fmt.Fprintf(stdout, "%d ranks as %d Jobs; run with: kubectl apply -f %s\n", *np, len(files)-4, *out)
	return nil
}
