// The workloads of bench/bench_workloads.c with goroutines and channels.
//
//	go build -o bench_go . && ./bench_go WORKLOAD N RUNS
//
// A "process" is a goroutine; its mailbox is a channel it owns. Default
// GOMAXPROCS (one per hardware thread). Prints one RESULT line per run.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

const ringSize = 1000
const faninSenders = 4

func skynet(out chan<- uint64, num, size uint64) {
	if size == 1 {
		out <- num
		return
	}
	in := make(chan uint64, 10)
	child := size / 10
	for i := uint64(0); i < 10; i++ {
		go skynet(in, num+i*child, child)
	}
	var sum uint64
	for i := 0; i < 10; i++ {
		sum += <-in
	}
	out <- sum
}

func runSkynet(n uint64) (float64, string) {
	out := make(chan uint64, 1)
	t0 := time.Now()
	go skynet(out, 0, n)
	sum := <-out
	ns := float64(time.Since(t0).Nanoseconds()) / float64(n)
	if want := n * (n - 1) / 2; sum != want {
		return ns, fmt.Sprintf("fail:sum=%d,want=%d", sum, want)
	}
	return ns, "ok"
}

func runSpawn(n uint64) (float64, string) {
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := uint64(0); i < n; i++ {
		wg.Add(1)
		go func() { wg.Done() }()
	}
	wg.Wait()
	return float64(time.Since(t0).Nanoseconds()) / float64(n), "ok"
}

func runPingpong(n uint64) (float64, string) {
	ping, pong := make(chan uint64, 1), make(chan uint64, 1)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	ok := uint64(0)
	t0 := time.Now()
	for i := uint64(0); i < n; i++ {
		ping <- i
		if <-pong == i {
			ok++
		}
	}
	ns := float64(time.Since(t0).Nanoseconds()) / float64(2*n)
	close(ping)
	if ok != n {
		return ns, "fail:wrong replies"
	}
	return ns, "ok"
}

func runRing(n uint64) (float64, string) {
	chans := make([]chan uint64, ringSize)
	for i := range chans {
		chans[i] = make(chan uint64, 1)
	}
	done := make(chan uint64)
	for i := 0; i < ringSize; i++ {
		go func(index uint64, in, next chan uint64) {
			for v := range in {
				if v == 0 {
					done <- index
				} else {
					next <- v - 1
				}
			}
		}(uint64(i), chans[i], chans[(i+1)%ringSize])
	}
	t0 := time.Now()
	chans[0] <- n
	last := <-done
	ns := float64(time.Since(t0).Nanoseconds()) / float64(n)
	for _, c := range chans {
		close(c)
	}
	if last != n%ringSize {
		return ns, "fail:token ended at the wrong node"
	}
	return ns, "ok"
}

func runFanin(n uint64) (float64, string) {
	per := n / faninSenders
	in := make(chan uint64, 1024)
	t0 := time.Now()
	for s := uint64(0); s < faninSenders; s++ {
		go func(s uint64) {
			for i := uint64(0); i < per; i++ {
				in <- s<<40 | i
			}
		}(s)
	}
	var next [faninSenders]uint64
	bad := 0
	for i := uint64(0); i < per*faninSenders; i++ {
		v := <-in
		s, seq := v>>40, v&(1<<40-1)
		if s >= faninSenders || seq != next[s] {
			bad++
		} else {
			next[s] = seq + 1
		}
	}
	ns := float64(time.Since(t0).Nanoseconds()) / float64(per*faninSenders)
	if bad != 0 {
		return ns, "fail:lost or reordered"
	}
	return ns, "ok"
}

func vmRSSKiB() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return -1
}

func runParked(n uint64) (float64, string) {
	var parked, ended sync.WaitGroup
	boxes := make([]chan uint64, n)
	before := vmRSSKiB()
	for i := range boxes {
		boxes[i] = make(chan uint64, 1)
		parked.Add(1)
		ended.Add(1)
		go func(box chan uint64) {
			parked.Done()
			<-box
			ended.Done()
		}(boxes[i])
	}
	parked.Wait()
	runtime.Gosched()
	after := vmRSSKiB()
	for i, b := range boxes {
		b <- uint64(i)
	}
	ended.Wait()
	return float64(after-before) * 1024 / float64(n), "ok"
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: bench_go WORKLOAD N [RUNS]")
		os.Exit(2)
	}
	name := os.Args[1]
	n, _ := strconv.ParseUint(os.Args[2], 10, 64)
	runs := 1
	if len(os.Args) > 3 {
		runs, _ = strconv.Atoi(os.Args[3])
	}
	table := map[string]struct {
		f    func(uint64) (float64, string)
		unit string
	}{
		"skynet": {runSkynet, "ns/leaf"}, "spawn": {runSpawn, "ns/process"},
		"pingpong": {runPingpong, "ns/message"}, "ring": {runRing, "ns/hop"},
		"fanin": {runFanin, "ns/message"}, "parked": {runParked, "B/process"},
	}
	w, found := table[name]
	if !found || n == 0 {
		fmt.Fprintln(os.Stderr, "unknown workload", name)
		os.Exit(2)
	}
	failed := false
	for r := 0; r < runs; r++ {
		v, check := w.f(n)
		failed = failed || check != "ok"
		fmt.Printf("RESULT workload=%s n=%d value=%.1f unit=%s check=%s\n", name, n, v, w.unit, check)
	}
	if failed {
		os.Exit(1)
	}
}
