package runtime

// Log keys used by this package's slog records.
const (
	LogKeyRank = "rank"
	LogKeyPeer = "peer"
	LogKeyJob  = "job"
	LogKeySize = "world_size"
)
