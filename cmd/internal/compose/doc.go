// Package compose writes the Docker Compose project of one fltk job:
// "fltk-launch compose". Start from [Generate], which turns an [Options]
// (the job's validated config, its world size, a job id and a token) into
// the bytes of a docker-compose.yml.
//
// # The project
//
// The project has one service per rank, all running the image of
// deploy.image (what `make image` builds) on a bridge network of the
// project's own ([Network]):
//
//   - [Federator] is rank 0: "fltk single CONFIG --rank=0 --master=:4222",
//     which embeds the job's NATS server listening on every address of its
//     container (0.0.0.0 in the container's network namespace: the project
//     network, not the host's) and authenticates the ranks with the
//     per-job token of $FLTK_TOKEN.
//   - client-R (see [ClientService]) is rank R in 1..N−1: "fltk single
//     CONFIG --rank=R --master=federator:4222"; it finds the federator by
//     service name through Docker's DNS and retries until it answers.
//
// Each service's resource limits are its rank's profile of [deploy]
// ([configs.Deploy.ProfileOf]) as cpus and mem_limit: keys of compose file
// format 2.x, which docker-compose 1.29 honours without --compatibility
// and Compose v2 reads from the Compose Specification (format 3.x would
// need deploy.resources.limits, ignored by docker-compose 1.29 without
// --compatibility).
//
// The job's config file is bind-mounted read-only at [ConfigPath] in every
// container; the federator's results go to the named volume [Volume],
// mounted at [ResultsDir] (the image's results directory, owned by its
// non-root user, so the volume inherits that ownership). output.dir must
// therefore lie in results/ (relative to the image's working directory
// [WorkDir]).
//
// # Running it
//
// The federator depends on the clients, so that
//
//	docker-compose -p NAME up --exit-code-from federator federator
//
// starts every rank, shows the federator's lines and returns its exit
// status: only the federator is attached, so a client's exit alone does
// not stop the project (--exit-code-from implies
// --abort-on-container-exit, which, without a service argument, would stop
// every rank as soon as the first client has finished). A client that dies
// is detected and named by the federator, which then exits 1.
package compose
