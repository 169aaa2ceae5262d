//go:build race

package contract

// raceDetector reports whether the race detector is on.
const raceDetector = true
