// Package bench holds the benchmarks behind `make bench`: the measures P1
// to P7 of docs/PERFORMANCE.md, each taken side by side with what it is
// compared to, in one run on one machine.
//
// # What
//
// The package has no code of its own: its benchmarks (in *_bench_test.go)
// run with -benchtime 1x, take their own measurements (a fixed time or count
// per side, alternating where a whole process is timed) and print one
// headline per measure, "P3 0.74", and detail lines, "P3: …", on standard
// output. internal/benchratio reads them, prints the headlines in order and
// writes the table to docs/PERFORMANCE.md.
//
// # Why
//
// A ratio is only meaningful when both sides ran on the same machine under
// the same load, so every measure times both sides itself, minutes apart at
// most, and never compares with a number written down elsewhere.
//
// # Security
//
// Keys, tokens and servers are made for the run in temporary directories
// and are gone when it ends.
package bench
