package launcher

// Keys of the attributes this package logs.
const (
	logKeyRank     = "rank"
	logKeyPID      = "pid"
	logKeyNP       = "np"
	logKeyCommand  = "command"
	logKeyExitCode = "exit_code"
	logKeySignal   = "signal"
	logKeyReason   = "reason"
	logKeyLive     = "live"
	logKeyGrace    = "grace"
	logKeyElapsed  = "elapsed"
	logKeyError    = "error"
	logKeyHost     = "host"
)
