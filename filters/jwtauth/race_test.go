//go:build race

package jwtauth

// raceEnabled trims the slowest tests under the race detector.
const raceEnabled = true
