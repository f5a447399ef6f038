package loadbench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a child process under test.
type proc struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *lineBuffer
	done  chan struct{}
	err   error
}

// lineBuffer keeps a process's output and tells waiters about new lines.
type lineBuffer struct {
	mu    sync.Mutex
	buf   strings.Builder
	lines chan string
}

func newLineBuffer() *lineBuffer { return &lineBuffer{lines: make(chan string, 1024)} }

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() < 4<<20 {
		b.buf.Write(p)
	}
	return len(p), nil
}

func (b *lineBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startProc starts prog with args and env added to this process's
// environment; stdout lines are scanned for waitLine.
func startProc(ctx context.Context, name string, env []string, prog string, args ...string) (*proc, error) {
	p := &proc{name: name, out: newLineBuffer(), done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, prog, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = p.out
	p.cmd.WaitDelay = 5 * time.Second
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			_, _ = p.out.Write([]byte(line + "\n"))
			select {
			case p.out.lines <- line:
			default:
			}
		}
	}()
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// waitLine waits for a stdout line starting with prefix and returns it.
func (p *proc) waitLine(prefix string, d time.Duration) (string, error) {
	deadline := time.After(d)
	for {
		select {
		case l := <-p.out.lines:
			if strings.HasPrefix(l, prefix) {
				return l, nil
			}
		case <-p.done:
			return "", fmt.Errorf("%s exited (%v) before printing %q:\n%s", p.name, p.err, prefix, tail(p.out.String(), 30))
		case <-deadline:
			return "", fmt.Errorf("%s printed no %q within %s:\n%s", p.name, prefix, d, tail(p.out.String(), 30))
		}
	}
}

// stop sends SIGTERM and waits up to d, then kills.
func (p *proc) stop(d time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(d):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// rss reads the process's resident set size now and at its peak, in bytes.
func (p *proc) rss() (now, peak int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			now = n << 10
		case "VmHWM":
			peak = n << 10
		}
	}
	return now, peak
}

// cpu is the CPU time (user and system) the process has used so far; 0
// when it cannot be read. /proc counts it in clock ticks (USER_HZ, 100 on
// Linux), so it is good to 10 ms.
func (p *proc) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	return statCPU(string(b))
}

// statCPU reads utime + stime from a /proc/PID/stat line: the 14th and
// 15th fields, counted after the command name (which may hold spaces and
// parentheses, so it is skipped up to its last ')').
func statCPU(stat string) time.Duration {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(ut+st) * (time.Second / 100)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freeAddr returns a loopback address with a free port.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitHTTP polls url until it answers 200 or d passes.
func waitHTTP(ctx context.Context, url string, d time.Duration) error {
	deadline := time.Now().Add(d)
	c := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = errors.New("not ready")
			}
			return fmt.Errorf("%s: %w", url, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
