package testkit

// Pid is the child's process id (the leader of its process group), e.g. for a tool that
// measures the process.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Name is the process's label in messages (ProcOptions.Name).
func (p *Proc) Name() string { return p.name }

// ExitErr is the process's exit error once it has exited (nil for status 0), and nil while
// it runs.
func (p *Proc) ExitErr() error {
	if !p.Exited() {
		return nil
	}
	return p.waitErr
}
