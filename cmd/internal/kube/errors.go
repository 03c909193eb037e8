package kube

import "errors"

var (
	// ErrWorldSize is returned by [Generate] for fewer than two ranks: a
	// federator and at least one client.
	ErrWorldSize = errors.New("kube: -np must be at least 2 (the federator and a client)")
	// ErrOptions is returned by [Generate] for other unusable options: a
	// port, a results size, a job id, or an output.dir that would mount
	// over the pods' other directories.
	ErrOptions = errors.New("kube: invalid options")
	// ErrOutputDir is returned by [Write] when the directory cannot hold
	// the manifests: it cannot be created or written, or it holds files
	// that fltk-launch k8s did not write.
	ErrOutputDir = errors.New("kube: output directory")
)
