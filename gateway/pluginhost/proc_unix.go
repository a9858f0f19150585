//go:build unix

package pluginhost

import (
	"errors"
	"os/exec"
	"syscall"
)

// setProcessGroup makes the plugin the leader of its own process group,
// so that killGroup reaches whatever it started, and so that a signal
// meant for the gateway's terminal group does not reach it.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killGroup sends SIGKILL to the process group led by pid.
func killGroup(pid int) error {
	if pid <= 0 {
		return nil
	}
	err := syscall.Kill(-pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}
