// The klauspost/reedsolomon anchor of `npm run bench -- cluster`: single-thread encode and decode MB/s (per second
// of CPU time) of one stripe shape, printed as one JSON line. Built from the Go module proxy into the cache by bench/cluster.ts.
// Usage: rsbench K M STRIPE_BYTES MIN_MS ROUNDS cpu|wall
package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/klauspost/reedsolomon"
)

var (
	useWall bool
	start   = time.Now()
)

func main() {
	if len(os.Args) != 7 || (os.Args[6] != "cpu" && os.Args[6] != "wall") {
		fmt.Fprintln(os.Stderr, "usage: rsbench K M STRIPE_BYTES MIN_MS ROUNDS cpu|wall")
		os.Exit(2)
	}
	useWall = os.Args[6] == "wall"
	arg := func(i int) int {
		v, err := strconv.Atoi(os.Args[i])
		if err != nil || v < 0 {
			fmt.Fprintf(os.Stderr, "rsbench: bad argument %q\n", os.Args[i])
			os.Exit(2)
		}
		return v
	}
	k, m, size, minMs, rounds := arg(1), arg(2), arg(3), arg(4), arg(5)
	runtime.GOMAXPROCS(1)
	enc, err := reedsolomon.New(k, m, reedsolomon.WithMaxGoroutines(1))
	if err != nil {
		fail(err)
	}
	shardLen := (size + k - 1) / k
	shards := make([][]byte, k+m)
	for i := range shards {
		shards[i] = make([]byte, shardLen)
		if i < k {
			if _, err := rand.Read(shards[i]); err != nil {
				fail(err)
			}
		}
	}
	encode := func() {
		if err := enc.Encode(shards); err != nil {
			fail(err)
		}
	}
	// Decode: the first m data shards are lost and rebuilt (their buffers reused, as Reconstruct allows).
	decode := func() {
		for i := 0; i < m && i < k; i++ {
			shards[i] = shards[i][:0]
		}
		if err := enc.ReconstructData(shards); err != nil {
			fail(err)
		}
	}
	encodeMBps := best(encode, size, minMs, rounds)
	decodeMBps := best(decode, size, minMs, rounds)
	if ok, err := enc.Verify(shards); err != nil || !ok {
		fail(fmt.Errorf("verify after decode failed: %v", err))
	}
	out, _ := json.Marshal(map[string]any{"encode_mbps": encodeMBps, "decode_mbps": decodeMBps, "shard_len": shardLen, "go": runtime.Version()})
	fmt.Println(string(out))
}

// cpuTime is the CPU time this process has used (user + system, all threads), as the Node side measures it:
// on a shared machine it does not count the time other processes hold the core. With "wall", wall-clock time.
func cpuTime() time.Duration {
	if useWall {
		return time.Since(start)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fail(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// best is the best MB/s over `rounds` batches of calls lasting at least minMs (of cpuTime) each.
func best(fn func(), bytes, minMs, rounds int) float64 {
	fn()
	top := 0.0
	for r := 0; r < rounds; r++ {
		n := 0
		t0 := cpuTime()
		var el time.Duration
		for {
			fn()
			n++
			el = cpuTime() - t0
			if el >= time.Duration(minMs)*time.Millisecond {
				break
			}
		}
		if v := float64(n) * float64(bytes) / 1e6 / el.Seconds(); v > top {
			top = v
		}
	}
	return top
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "rsbench:", err)
	os.Exit(1)
}
