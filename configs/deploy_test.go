package configs

import (
	"errors"
	"testing"
)

func TestProfileOf(t *testing.T) {
	for _, tt := range []struct {
		name      string
		profiles  []string
		federator string
		want      []string // ranks 0..len-1; "" = no limits
	}{
		{"FLTK's default", []string{"slow", "medium", "default"}, "", []string{"", "slow", "medium", "default", "default", "default"}},
		{"counts", []string{"slow*2", "medium*3", "default"}, "", []string{"", "slow", "slow", "medium", "medium", "medium", "default", "default"}},
		{"last repeats", []string{"medium"}, "", []string{"", "medium", "medium", "medium"}},
		{"last count repeats", []string{"slow", "medium*2"}, "default", []string{"default", "slow", "medium", "medium", "medium"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := Deploy{Image: "x", Profiles: tt.profiles, FederatorProfile: tt.federator}
			var v validator
			d.validate(&v)
			if err := errors.Join(v.errs...); err != nil {
				t.Fatal(err)
			}
			for rank, want := range tt.want {
				p, ok := d.ProfileOf(rank)
				got := ""
				if ok {
					got = p.Name
				}
				if got != want {
					t.Errorf("rank %d: profile %q, want %q", rank, got, want)
				}
				if ok && p != Profiles[want] {
					t.Errorf("rank %d: %+v, want %+v", rank, p, Profiles[want])
				}
			}
		})
	}
}

// TestProfilesAreFLTKs pins the limits to FLTK's compose stubs.
func TestProfilesAreFLTKs(t *testing.T) {
	for name, cpus := range map[string]float64{"slow": 0.5, "medium": 0.75, "default": 1.25} {
		if p := Profiles[name]; p.CPUs != cpus || p.MemoryMiB != 1024 || p.Name != name {
			t.Errorf("%s = %+v, want %v CPUs, 1024 MiB", name, p, cpus)
		}
	}
}
