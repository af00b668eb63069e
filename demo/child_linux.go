package demo

import "syscall"

// childAttr makes the kernel kill ffmpeg when the demo dies without stopping it (SIGKILL, a
// crash): otherwise the orphan goes on encoding in real time, for nobody, until rebooted.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
