package compose

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/fltk-go/fltk/configs"
	"github.com/fltk-go/fltk/runtime"
)

// Names and paths of the generated project, shared with the image that
// `make image` builds (scripts/image.sh).
const (
	// Federator is rank 0's service: the federator, embedding the job's
	// NATS server.
	Federator = "federator"
	// Network is the project's own bridge network (Compose names it
	// PROJECT_fltk).
	Network = "fltk"
	// Volume is the named volume holding the federator's results
	// (PROJECT_results).
	Volume = "results"
	// NATSPort is the port of the federator's NATS server on the project
	// network. It is not published on the host.
	NATSPort = 4222
	// ConfigPath is where the job's config file is mounted, read-only.
	ConfigPath = "/etc/fltk/job.toml"
	// WorkDir is the image's working directory: relative data.path and
	// output.dir are relative to it.
	WorkDir = "/fltk"
	// ResultsDir is the image's writable results directory, owned by its
	// user, where Volume is mounted.
	ResultsDir = "/fltk/results"
	// DataDir holds the image's data sets (ImageDatasets).
	DataDir = "/fltk/data"
	// FileVersion is the compose file format: 2.4 has cpus and mem_limit,
	// which docker-compose 1.29 applies without --compatibility; Compose
	// v2 accepts the file as the Compose Specification.
	FileVersion = "2.4"
)

// ImageDatasets are the data sets `make image` puts into the image.
var ImageDatasets = []string{"mnist", "fashion-mnist"}

// Sentinel errors of Generate.
var (
	// ErrOptions reports options Generate cannot turn into a project.
	ErrOptions = errors.New("compose: invalid options")
)

// Options describe the project of one job.
type Options struct {
	// NP is the number of ranks, at least 1: the federator and NP−1
	// clients.
	NP int
	// Config is the job's configuration, valid for NP ranks (its
	// deploy table gives the image and the profiles).
	Config *configs.Config
	// ConfigFile is the config file's path on the Docker host as the
	// compose file names it: absolute, or relative to the compose file's
	// directory (then it must start with "./" or "../").
	ConfigFile string
	// JobID namespaces the job's NATS subjects; Token authenticates the
	// ranks to the federator's NATS server. Both must be non-empty.
	JobID, Token string
	// Header is a comment written at the top of the file, one "# " line
	// per line of it ("" for none).
	Header string
}

// ClientService returns the service name of client rank r ≥ 1.
func ClientService(r int) string { return "client-" + strconv.Itoa(r) }

// ServiceOf returns the service name of rank r.
func ServiceOf(r int) string {
	if r == 0 {
		return Federator
	}
	return ClientService(r)
}

// Generate returns the docker-compose.yml of the job o describes.
func Generate(o Options) ([]byte, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	master := Federator + ":" + strconv.Itoa(NATSPort)
	mount := o.ConfigFile + ":" + ConfigPath + ":ro"
	f := file{
		Version:  FileVersion,
		Networks: map[string]network{Network: {Driver: "bridge"}},
		Volumes:  map[string]struct{}{Volume: {}},
	}
	for r := range o.NP {
		name := ServiceOf(r)
		s := service{
			Image:    o.Config.Deploy.Image,
			Hostname: name,
			Command: []string{"single", ConfigPath, "--rank=" + strconv.Itoa(r), "--np=" + strconv.Itoa(o.NP),
				"--job=" + o.JobID, "--master=" + master},
			// A list of NAME=VALUE: no value can be read as a number.
			Environment: []string{runtime.EnvToken + "=" + o.Token},
			Volumes:     []string{mount},
			Networks:    []string{Network},
		}
		if r == 0 {
			// Every address of the container: the project network.
			s.Command[len(s.Command)-1] = "--master=:" + strconv.Itoa(NATSPort)
			s.Volumes = append(s.Volumes, Volume+":"+ResultsDir)
			for c := 1; c < o.NP; c++ {
				s.DependsOn = append(s.DependsOn, ClientService(c))
			}
		}
		if p, ok := o.Config.Deploy.ProfileOf(r); ok {
			s.CPUs = p.CPUs
			s.MemLimit = strconv.Itoa(p.MemoryMiB) + "m"
		}
		f.Services = append(f.Services, namedService{name, s})
	}
	var b bytes.Buffer
	if o.Header != "" {
		for line := range strings.SplitSeq(o.Header, "\n") {
			fmt.Fprintln(&b, strings.TrimRight("# "+line, " "))
		}
	}
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return nil, fmt.Errorf("compose: encode: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("compose: encode: %w", err)
	}
	return b.Bytes(), nil
}

// jobIDRe is what a job id may hold: it becomes part of NATS subjects and
// of a command line.
var jobIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

func (o Options) check() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrOptions}, args...)...))
	}
	if o.NP < 1 {
		bad("np must be ≥ 1, got %d", o.NP)
	}
	if o.Config == nil {
		bad("no config")
	} else if err := Placement(o.Config); err != nil {
		errs = append(errs, err)
	}
	if !path.IsAbs(o.ConfigFile) && !strings.HasPrefix(o.ConfigFile, "./") && !strings.HasPrefix(o.ConfigFile, "../") {
		bad("config file %q must be absolute or start with ./ or ../ (else Compose takes it for a named volume)", o.ConfigFile)
	}
	if strings.Contains(o.ConfigFile, ":") {
		bad("config file %q: a path with a colon cannot be bind-mounted", o.ConfigFile)
	}
	if !jobIDRe.MatchString(o.JobID) {
		bad("job id %q: 1 to 128 characters from A-Z, a-z, 0-9, _ and -", o.JobID)
	}
	if o.Token == "" {
		bad("empty token")
	}
	return errors.Join(errs...)
}

// Placement checks that c's output.dir lies in the image's results
// directory, where the project mounts its volume: elsewhere the federator
// could not write (the image's other directories belong to root) or its
// results would be lost with the container.
func Placement(c *configs.Config) error {
	out := containerPath(c.Output.Dir)
	if out != ResultsDir && !strings.HasPrefix(out, ResultsDir+"/") {
		return fmt.Errorf("%w: output.dir %q is %s in the container; it must be results (or below it), where the results volume is mounted", ErrOptions, c.Output.Dir, out)
	}
	return nil
}

// Warnings returns what may fail in the containers of the default image
// without being an error here (a custom deploy.image may hold more data):
// a data set the image lacks, a data.path that is not the image's.
func Warnings(c *configs.Config) []string {
	if c.Job.Task != "train" {
		return nil
	}
	var w []string
	known := false
	for _, d := range ImageDatasets {
		known = known || d == c.Data.Dataset
	}
	if !known {
		w = append(w, fmt.Sprintf("data.dataset %q is not in the image `make image` builds (it has %s)", c.Data.Dataset, strings.Join(ImageDatasets, " and ")))
	}
	if p := containerPath(c.Data.Path); p != DataDir {
		w = append(w, fmt.Sprintf("data.path %q is %s in the container; the image's data sets are in %s (data.path = \"data\")", c.Data.Path, p, DataDir))
	}
	return w
}

// containerPath resolves p in a container whose working directory is
// WorkDir.
func containerPath(p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	return path.Join(WorkDir, p)
}

// file is a compose file, in the order it is written.
type file struct {
	Version  string              `yaml:"version"`
	Services services            `yaml:"services"`
	Networks map[string]network  `yaml:"networks"`
	Volumes  map[string]struct{} `yaml:"volumes"`
}

type network struct {
	Driver string `yaml:"driver"`
}

type service struct {
	Image       string   `yaml:"image"`
	Hostname    string   `yaml:"hostname"`
	Command     []string `yaml:"command"`
	Environment []string `yaml:"environment"`
	Volumes     []string `yaml:"volumes"`
	Networks    []string `yaml:"networks"`
	DependsOn   []string `yaml:"depends_on,omitempty"`
	CPUs        float64  `yaml:"cpus,omitempty"`
	MemLimit    string   `yaml:"mem_limit,omitempty"`
}

type namedService struct {
	name string
	s    service
}

// services is a mapping that keeps the ranks' order.
type services []namedService

// MarshalYAML writes the services as a mapping in rank order.
func (ss services) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, s := range ss {
		var v yaml.Node
		if err := v.Encode(s.s); err != nil {
			return nil, err
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: s.name}, &v)
	}
	return n, nil
}
