package configs

import (
	"fmt"
	"strconv"
	"strings"
)

// Deploy configures container deployments: `fltk-launch compose` and
// `fltk-launch k8s`. It has no effect on fltk-launch's own launches.
type Deploy struct {
	// Image is the container image every rank runs. Default "fltk:latest"
	// (what `make image` builds).
	Image string `toml:"image"`

	// Profiles assigns a resource profile to the client ranks 1, 2, … in
	// order: an entry is a profile name ("slow", "medium", "default"; see
	// [Profiles]) or "NAME*K" for K ranks; the last entry repeats for the
	// ranks left. Default ["slow", "medium", "default"]: FLTK's
	// generate_docker_compose.py (client 1 slow, client 2 medium, the
	// others default).
	Profiles []string `toml:"profiles"`

	// FederatorProfile is rank 0's profile; "" (the default) sets no
	// limits, as FLTK's federator container.
	FederatorProfile string `toml:"federator_profile"`

	// BackoffLimit is the Kubernetes Job's backoffLimit: retries of a
	// failed pod. Default 0 (a collective job cannot lose a rank and go
	// on). At least 0.
	BackoffLimit int `toml:"backoff_limit"`

	// ActiveDeadline is the Kubernetes Job's activeDeadlineSeconds: the
	// longest the job may run, whole seconds. Default "0s": none.
	ActiveDeadline Duration `toml:"active_deadline"`
}

// Profile is a container's resource limits, as FLTK's compose stubs set
// them (deploy.resources.limits).
type Profile struct {
	Name      string
	CPUs      float64 // cores
	MemoryMiB int
}

// Profiles are the known profiles, by name: FLTK's client stubs.
var Profiles = map[string]Profile{
	"slow":    {Name: "slow", CPUs: 0.5, MemoryMiB: 1024},
	"medium":  {Name: "medium", CPUs: 0.75, MemoryMiB: 1024},
	"default": {Name: "default", CPUs: 1.25, MemoryMiB: 1024},
}

// ProfileNames lists [Profiles]' names, for messages.
const ProfileNames = `"slow", "medium", "default"`

func defaultDeploy() Deploy {
	return Deploy{Image: "fltk:latest", Profiles: []string{"slow", "medium", "default"}}
}

// profileEntry parses an entry of Deploy.Profiles: NAME or NAME*K.
func profileEntry(e string) (Profile, int, error) {
	name, count, rep := strings.Cut(e, "*")
	p, ok := Profiles[name]
	if !ok {
		return Profile{}, 0, fmt.Errorf("unknown profile %s (known: %s)", quote(name), ProfileNames)
	}
	k := 1
	if rep {
		var err error
		if k, err = strconv.Atoi(count); err != nil || k < 1 {
			return Profile{}, 0, fmt.Errorf("%s: the count after * must be a whole number ≥ 1", quote(e))
		}
	}
	return p, k, nil
}

// ProfileOf returns rank's profile and whether it has one (rank 0 has one
// only with FederatorProfile). The configuration must be valid.
func (d Deploy) ProfileOf(rank int) (Profile, bool) {
	if rank == 0 {
		p, ok := Profiles[d.FederatorProfile]
		return p, ok
	}
	var last Profile
	left := rank
	for _, e := range d.Profiles {
		p, k, err := profileEntry(e)
		if err != nil {
			return Profile{}, false
		}
		if left <= k {
			return p, true
		}
		left -= k
		last = p
	}
	return last, len(d.Profiles) > 0
}

func (d *Deploy) validate(v *validator) {
	if d.Image == "" {
		v.errorf("deploy.image", "must not be empty")
	}
	if len(d.Profiles) == 0 {
		v.errorf("deploy.profiles", "must name at least one profile (%s)", ProfileNames)
	}
	for i, e := range d.Profiles {
		if _, _, err := profileEntry(e); err != nil {
			v.errorf("deploy.profiles", "entry %d: %v", i+1, err)
		}
	}
	if _, ok := Profiles[d.FederatorProfile]; d.FederatorProfile != "" && !ok {
		v.errorf("deploy.federator_profile", "unknown profile %s (known: %s, or \"\" for none)", quote(d.FederatorProfile), ProfileNames)
	}
	v.atLeast("deploy.backoff_limit", int64(d.BackoffLimit), 0)
	if d.ActiveDeadline.Duration < 0 || d.ActiveDeadline.Duration%1e9 != 0 {
		v.errorf("deploy.active_deadline", "%v must be whole seconds, at least 0s", d.ActiveDeadline.Duration)
	}
}
