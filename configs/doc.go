// Package configs loads and validates the TOML job configuration of fltk.
//
// A job configuration describes one federated-learning experiment: the job
// ([Job]), the MPI-like runtime over NATS ([Runtime]), the collective
// operations ([Collective]), the demo workload ([Demo]) and the benchmark
// job ([Bench]). Start from [Load], or from [DefaultConfig] when building a
// configuration in code.
//
// # Usage
//
//	cfg, err := configs.Load("configs/demo.toml")
//	if err != nil {
//		return err // every problem, one per line, as file:line: message
//	}
//	fmt.Println(cfg.Job.WorldSize, cfg.Runtime.HeartbeatInterval)
//
// In code:
//
//	cfg := configs.DefaultConfig()
//	cfg.Job.WorldSize = 8
//	if err := cfg.Validate(); err != nil { … }
//
// # File format
//
// configs/reference.toml lists every key with its default value, unit and
// allowed values. A file only needs the keys it changes: [Parse] starts from
// [DefaultConfig] and overwrites what the file sets. Durations are TOML
// strings in [time.ParseDuration] syntax ("250ms", "5s", "10m").
//
// # Strictness
//
// The loader is strict, because a misspelt key that is silently ignored
// leaves a default in force that nobody asked for. Parse rejects:
//
//   - syntax errors ([ErrSyntax]): "name:line: message";
//   - unknown keys and tables anywhere, including keys that differ from a
//     known key only in case ([ErrUnknownKey]): `name:line: unknown key
//     "runtime.livenes_timeout" (did you mean "runtime.liveness_timeout"?)`;
//   - values of the wrong TOML type, including malformed durations
//     ([ErrType]): `name:line: key "collective.window": expected integer,
//     got string "four"`;
//   - values out of range ([ErrInvalid]), as reported by [Config.Validate].
//
// All problems are reported together, joined with [errors.Join]; each one is
// an [*Error] carrying the file, line and dotted key, and wraps exactly one of
// the sentinel errors above, so callers can test them with [errors.Is].
//
// # Invariants
//
// Parse and Load never return a configuration for which [Config.Validate]
// fails, and never panic, whatever the input.
package configs
