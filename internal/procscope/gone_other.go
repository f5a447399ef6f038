//go:build !unix

package procscope

// Gone cannot tell on this platform: no process is judged gone.
func Gone(int) bool { return false }
