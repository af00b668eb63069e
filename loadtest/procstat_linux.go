package loadtest

import (
	"bufio"
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
