// Package multihost holds the multi-host end-to-end tests: fltk jobs
// launched over ssh across test hosts that are network namespaces on one
// machine. It has no code of its own; the tests carry the build tag
// multihost and need root:
//
//	make test-multihost   # go test -tags multihost -p 1 ./e2e/multihost/
//
// # Hosts
//
// scripts/netns.sh makes them: a bridge, one namespace per host joined to
// it by a veth pair (optionally rate-limited with tc tbf), and in each
// namespace an sshd that accepts a key generated for the test. Every ssh
// session on a host shares that host's private /dev/shm and hostname, so
// ranks on different test hosts cannot reach each other through shared
// memory: they talk over the links, as on separate machines. Each test
// brings up its own hosts and removes them in t.Cleanup (scripts/netns.sh
// down removes exactly what up made).
package multihost
