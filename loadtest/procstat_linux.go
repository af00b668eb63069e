package loadtest

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of /proc/stat times (USER_HZ, 100 on every Linux architecture Go supports).
const userHZ = 100

// machineCPU returns the CPU time all CPUs of the machine spent busy (user, nice, system,
// irq, softirq), from /proc/stat; 0 when it cannot be read. Comparing it with the server's
// and the load generator's own CPU shows what the kernel (loopback softirqs) and any other
// process took.
func machineCPU() time.Duration {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0
	}
	fields := strings.Fields(sc.Text()) // cpu user nice system idle iowait irq softirq steal ...
	if len(fields) < 8 || fields[0] != "cpu" {
		return 0
	}
	var ticks uint64
	for _, i := range []int{1, 2, 3, 6, 7} {
		v, err := strconv.ParseUint(fields[i], 10, 64)
		if err != nil {
			return 0
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / userHZ
}

// processStat reads a process's CPU time (user + system) and resident memory from
// /proc/PID/stat and /proc/PID/statm.
func processStat(pid int) (cpu time.Duration, rssBytes int64, err error) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("server pid %d: %w", pid, err)
	}
	// The command name (field 2) is in parentheses and may hold spaces: count from its end.
	end := strings.LastIndexByte(string(stat), ')')
	fields := strings.Fields(string(stat[end+1:])) // fields[0] is field 3 (state)
	if end < 0 || len(fields) < 13 {
		return 0, 0, fmt.Errorf("server pid %d: malformed /proc stat", pid)
	}
	utime, err1 := strconv.ParseUint(fields[11], 10, 64) // field 14
	stime, err2 := strconv.ParseUint(fields[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("server pid %d: malformed /proc stat", pid)
	}
	statm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0, 0, fmt.Errorf("server pid %d: %w", pid, err)
	}
	mf := strings.Fields(string(statm))
	if len(mf) < 2 {
		return 0, 0, fmt.Errorf("server pid %d: malformed /proc statm", pid)
	}
	pages, err := strconv.ParseInt(mf[1], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("server pid %d: malformed /proc statm", pid)
	}
	return time.Duration(utime+stime) * time.Second / userHZ, pages * int64(os.Getpagesize()), nil
}
