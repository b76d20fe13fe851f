// The version of the oracle module this generator was built with (from the build info).
package main

import "runtime/debug"

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/klauspost/reedsolomon" {
				return d.Version
			}
		}
	}
	return "unknown"
}
