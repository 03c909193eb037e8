// Package docker holds the Docker tests: the image `make image` builds runs
// Compose projects that "fltk-launch compose" generates, under
// docker-compose (1.29 here; FLTK_COMPOSE="docker compose" selects Compose
// v2). It has no code of its own; the tests carry the build tag docker and
// need the Docker daemon (root or the docker group) and the image:
//
//	make test-docker   # make image, then go test -tags docker ./e2e/docker/
//
// Each test brings up its own project, named fltktestXXXXXX, and removes it
// in t.Cleanup with "docker-compose -p NAME down -v": its containers, its
// network and its volume, nothing else.
package docker
