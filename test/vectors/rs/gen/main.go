// Generates test/vectors/rs/klauspost.json: Reed-Solomon stripes encoded by github.com/klauspost/reedsolomon
// (default options: Vandermonde matrix made systematic, GF(2^8) polynomial 0x11D), the oracle our WASM coder must match.
// Run from this directory: go run . > ../klauspost.json
package main

import (
	"encoding/hex"
	"encoding/json"
	"math/rand"
	"os"

	"github.com/klauspost/reedsolomon"
)

type vector struct {
	Name         string   `json:"name"`
	DataShards   int      `json:"dataShards"`
	ParityShards int      `json:"parityShards"`
	ShardLen     int      `json:"shardLen"`
	Shards       []string `json:"shards"`
}

type file struct {
	Generator string   `json:"generator"`
	Vectors   []vector `json:"vectors"`
}

func main() {
	rng := rand.New(rand.NewSource(20250611))
	type kind struct{ k, m, n int }
	cases := []kind{
		{1, 1, 1}, {1, 3, 17}, {2, 1, 16}, {2, 2, 33}, {3, 1, 5}, {3, 2, 64}, {3, 3, 100},
		{4, 2, 1}, {4, 2, 15}, {4, 2, 16}, {4, 2, 31}, {4, 2, 257}, {4, 2, 1000},
		{5, 3, 48}, {6, 3, 129}, {6, 4, 7}, {8, 4, 80}, {10, 4, 96}, {12, 4, 65},
		{16, 16, 32}, {17, 3, 40}, {20, 10, 24}, {32, 8, 19}, {50, 20, 12}, {100, 28, 9}, {128, 128, 8}, {200, 56, 3},
		{1, 0, 8}, {255, 1, 2},
	}
	out := file{Generator: "github.com/klauspost/reedsolomon " + version() + " (reedsolomon.New(k, m), default options)"}
	for _, c := range cases {
		out.Vectors = append(out.Vectors, encode(c.k, c.m, c.n, "random", func(s, i int) byte { return byte(rng.Intn(256)) }))
	}
	// Unit stripes: data shard j holds 1 and the others 0, so each parity shard shows one column of the parity matrix.
	for _, km := range [][2]int{{4, 2}, {10, 4}} {
		for j := 0; j < km[0]; j++ {
			jj := j
			out.Vectors = append(out.Vectors, encode(km[0], km[1], 1, "unit", func(s, i int) byte {
				if s == jj {
					return 1
				}
				return 0
			}))
		}
	}
	// All-0xff stripe (the top of the field in every byte).
	out.Vectors = append(out.Vectors, encode(6, 3, 20, "ones", func(s, i int) byte { return 0xff }))
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		panic(err)
	}
}

func encode(k, m, n int, kind string, fill func(shard, i int) byte) vector {
	shards := make([][]byte, k+m)
	for s := range shards {
		shards[s] = make([]byte, n)
		if s < k {
			for i := range shards[s] {
				shards[s][i] = fill(s, i)
			}
		}
	}
	if m > 0 {
		r, err := reedsolomon.New(k, m)
		if err != nil {
			panic(err)
		}
		if err := r.Encode(shards); err != nil {
			panic(err)
		}
	}
	v := vector{DataShards: k, ParityShards: m, ShardLen: n}
	v.Name = kind
	for _, s := range shards {
		v.Shards = append(v.Shards, hex.EncodeToString(s))
	}
	return v
}
